"""The OPA engine: finding the binary, its version, one-line errors (compile, runtime, missing or
wrong opa), the memory and time limits, bounded policies, and `policy test` with OPA's runner."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from _files import write_files

from edgegate.policy import opa

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _need_opa() -> None:
    if opa.engine_version() is None:
        pytest.skip("the OPA engine is not built (no Go at install time)")



def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and lines[0].startswith("edgegate: error: ")
    return lines[0]


def _lint(cli: Any, cwd: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return cli("policy", "lint", "-p", "policy", "in.yaml", "--no-builtin-schemas", *args, cwd=cwd, env=env)


def _fake_opa(tmp_path: Path, script: str) -> str:
    p = tmp_path / "fake-opa"
    p.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    opa._locate.cache_clear()
    return str(p)


@pytest.fixture(autouse=True)
def _clear_locate_cache():
    yield
    opa._locate.cache_clear()


def test_pinned_version_is_the_bundled_one() -> None:
    found = opa.find_opa()
    if found.source == "bundled":
        assert found.version == opa.PINNED_VERSION
    assert opa.engine_version() == found.version


def test_compile_error_names_the_users_file_and_line(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": "package main\nimport rego.v1\n\ndeny contains x if {\n  x := 1 +\n}\n",
                      "in.yaml": "a: 1\n"})
    r = _lint(cli, tmp_path)
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "policy/p.rego:" in line and "edgegate-opa-" not in line and "compile error" in line


def test_runtime_conflict_is_exit_2_naming_the_rule(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": 'package main\nimport rego.v1\nx := 1 if input\nx := 2 if input\ndeny contains "d" if x\n',
                      "in.yaml": "a: 1\n"})
    r = _lint(cli, tmp_path)
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "policy/p.rego:4" in line and "conflicting" in line


def test_strict_builtin_errors(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": 'package main\nimport rego.v1\ndeny contains "n" if to_number(input.a) > 1\n',
                      "in.yaml": "a: not-a-number\n"})
    r = _lint(cli, tmp_path)
    assert r.exit_code == 2  # never a silent pass through an undefined deny
    assert "policy/p.rego:3" in _one_error_line(r.stderr)


def test_missing_opa_is_exit_2_with_the_fix(cli, tmp_path: Path, monkeypatch) -> None:
    write_files(tmp_path, {"policy/p.rego": 'package main\nimport rego.v1\ndeny contains "d" if input\n', "in.yaml": "a: 1\n"})
    monkeypatch.setenv("EDGEGATE_OPA", str(tmp_path / "nope"))
    opa._locate.cache_clear()
    r = _lint(cli, tmp_path)
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "EDGEGATE_OPA" in line and "install Go" in line


def test_not_an_opa_and_a_too_old_opa_are_refused(cli, tmp_path: Path, monkeypatch) -> None:
    write_files(tmp_path, {"policy/p.rego": 'package main\nimport rego.v1\ndeny contains "d" if input\n', "in.yaml": "a: 1\n"})
    monkeypatch.setenv("EDGEGATE_OPA", _fake_opa(tmp_path, "echo hello"))
    r = _lint(cli, tmp_path)
    assert r.exit_code == 2 and "not an OPA binary" in _one_error_line(r.stderr)
    monkeypatch.setenv("EDGEGATE_OPA", _fake_opa(tmp_path, "echo 'Version: 0.70.0'"))
    r = _lint(cli, tmp_path)
    assert r.exit_code == 2 and "0.70.0" in _one_error_line(r.stderr)


def test_edgegate_opa_selects_another_binary(cli, tmp_path: Path, monkeypatch) -> None:
    real = opa.find_opa().path
    monkeypatch.setenv("EDGEGATE_OPA", real)
    opa._locate.cache_clear()
    found = opa.find_opa()
    assert found.source == "EDGEGATE_OPA" and found.path == real


def test_memory_limit_stops_a_huge_range(cli, tmp_path: Path) -> None:
    """`numbers.range(1, 100000000)` must not grow to 24 GB: exit 2 naming the policy."""
    write_files(tmp_path, {"policy/big.rego": 'package main\nimport rego.v1\ndeny contains sprintf("%d", [x]) if some x in numbers.range(1, 100000000)\n',
                      "in.yaml": "a: 1\n"})
    r = _lint(cli, tmp_path, env={**os.environ, "EDGEGATE_POLICY_MEMORY_MB": "512"})
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "memory" in line and "policy/big.rego" in line


def test_time_limit(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/slow.rego": 'package main\nimport rego.v1\ndeny contains "x" if { some i in numbers.range(1, 3000); some j in numbers.range(1, 3000); i * j == -1 }\n',
                      "in.yaml": "a: 1\n"})
    r = _lint(cli, tmp_path, env={**os.environ, "EDGEGATE_POLICY_TIMEOUT": "0.5"})
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "time limit" in line and "policy/slow.rego" in line


def test_bad_limit_setting_is_a_usage_error(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": 'package main\nimport rego.v1\ndeny contains "d" if input\n', "in.yaml": "a: 1\n"})
    r = _lint(cli, tmp_path, env={**os.environ, "EDGEGATE_POLICY_TIMEOUT": "soon"})
    assert r.exit_code == 2 and "EDGEGATE_POLICY_TIMEOUT" in _one_error_line(r.stderr)


def test_catastrophic_regex_gives_its_verdict(cli, tmp_path: Path) -> None:
    """OPA's regexes are RE2 (linear time): `(a+)+$` on 'aaa…ab' decides instead of running for
    minutes (the default time limit would end it with exit 2 otherwise)."""
    write_files(tmp_path, {"policy/re.rego": 'package main\nimport rego.v1\ndeny contains "matched" if regex.match(`^(a+)+$`, input.s)\ndeny contains "ran" if input.s\n',
                      "in.yaml": "s: " + "a" * 50000 + "b\n"})
    r = _lint(cli, tmp_path, "-f", "json")
    assert r.exit_code == 1
    messages = [f["message"] for f in json.loads(r.stdout)["gates"][0]["findings"]]
    assert messages == ["ran"]


@pytest.mark.parametrize("engine", ["opa", "regopy"])
def test_deep_nesting_in_a_policy_is_refused(cli, tmp_path: Path, engine: str) -> None:
    write_files(tmp_path, {"policy/deep.rego": "package main\nimport rego.v1\n\nx := " + "[" * 10000 + "]" * 10000
                      + '\ndeny contains "d" if count(x) > 5\n', "in.yaml": "a: 1\n"})
    r = _lint(cli, tmp_path, "--engine", engine)
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "policy/deep.rego:4" in line and "nested" in line


def test_control_characters_in_messages_stay_data(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": 'package main\nimport rego.v1\ndeny contains concat("", ["a\\nb\\r", "\\u001b[31m", input.s])\n',
                      "in.yaml": 's: "x\\0y"\n'})
    r = _lint(cli, tmp_path, "-f", "json")
    assert r.exit_code == 1
    [finding] = json.loads(r.stdout)["gates"][0]["findings"]
    assert finding["message"] == "a\nb\r\x1b[31mx\x00y"


def test_one_process_evaluates_every_document(tmp_path: Path) -> None:
    """The `admit` entry point: many inputs, one engine run, results in input order."""
    from edgegate.policy import engine
    from edgegate.policy.modules import Module

    module = Module("p.rego", 'package main\nimport rego.v1\ndeny contains sprintf("%d", [input.n]) if input.n % 2 == 0\n', "main")
    ev = engine.evaluate([module], [{"n": i} for i in range(500)], entrypoints=["main"], data={})
    assert len(ev.results) == 500
    assert ev.results[4]["main"]["deny"] == ["4"] and ev.results[5]["main"]["deny"] == []


def test_policy_test_runs_rego_tests_with_opa(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "policy/p.rego": """\
            package main
            import rego.v1
            deny contains msg if {
                some c in input.containers
                endswith(c.image, ":latest")
                msg := sprintf("%s is latest", [c.name])
            }
            allowed(name) if name in data.allowed
        """,
        "policy/p_test.rego": """\
            package main
            import rego.v1
            test_latest_denied if {
                deny["a is latest"] with input as {"containers": [{"name": "a", "image": "x:latest"}]}
            }
            test_pinned_passes if {
                count(deny) == 0 with input as {"containers": [{"name": "a", "image": "x@sha256:1"}]}
            }
            test_data if allowed("ok") with data.allowed as ["ok"]
            test_from_data_file if allowed("file")
            test_wrong if count(deny) == 1 with input as {"containers": []}
            clash := 1 if input.x
            clash := 2 if input.x
            test_error if clash == 1 with input as {"x": true}
            todo_test_later if false
        """,
        "d.json": '{"allowed": ["file"]}',
    })
    r = cli("policy", "test", "policy", "-d", "d.json", "-f", "json", cwd=tmp_path)
    assert r.exit_code == 2  # an ERROR: the gate could not decide; every test still reported
    gate = json.loads(r.stdout)["gates"][0]
    rows = {row[0]: row[2] for row in gate["stats"]["tables"][0]["rows"]}
    assert rows == {
        "main.test_latest_denied": "pass", "main.test_pinned_passes": "pass", "main.test_data": "pass",
        "main.test_from_data_file": "pass", "main.test_wrong": "FAIL", "main.test_error": "ERROR",
    }
    messages = " ".join(f["message"] for f in gate["findings"])
    assert "main.test_error: error:" in messages and "conflicting" in messages
    assert "main.test_wrong: fail" in messages


def test_shipped_pack_is_clean_under_opa(cli) -> None:
    r = cli("policy", "test", "builtin:edge-ai", "-f", "json")
    assert r.exit_code == 0
    stats = json.loads(r.stdout)["gates"][0]["stats"]
    assert stats["failed"] == 0 and stats["passed"] >= 55 and stats["engine"] == "opa"


def test_build_hook_without_go_warns_and_builds(tmp_path: Path, monkeypatch, capsys) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import hatch_build
    finally:
        sys.path.remove(str(ROOT))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("GO", raising=False)
    assert hatch_build.build_opa(tmp_path / "opa") is False
    err = capsys.readouterr().err
    assert "WARNING" in err and "install Go" in err and "EDGEGATE_OPA" in err
    assert not (tmp_path / "opa").exists()


def test_shipped_schemas_are_valid_json_schemas() -> None:
    """`lint` loads them unchecked (jsonschema is imported only when a document needs it)."""
    from edgegate.policy.schemas import load_schemas, shipped_schema_dirs

    assert len(load_schemas(shipped_schema_dirs(), check=True)) >= 2
