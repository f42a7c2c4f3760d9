"""Differential suite, part 2: conftest's input and debugging switches against the real conftest
v0.71.1 on the same files: standard input (``-``, ``--parser``, ``--stdin-filename``),
``data.conftest.file``, ``print()`` output, ``--trace``, ``--strict`` and ``--capabilities``.
Verdicts must agree (exit status, failure/warning messages, exception counts); for print and
trace the comparable part is compared (the printed lines; the trace's notes). The regopy
fallback must give the same verdict or refuse before evaluation (exit 2)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _conftest_oracle import (
    Verdict,
    conftest_lines,
    edgegate_lines,
    run_conftest,
    run_edgegate,
    run_edgegate_process,
)
from _files import write_files


def _agree(cli: Any, conftest_bin: str, args: list[str], cwd: Path) -> Verdict:
    want = run_conftest(conftest_bin, args, cwd)
    got, stderr = run_edgegate(cli, args, cwd)
    assert got == want, f"edgegate (OPA) {got} != conftest {want} for {args}: {stderr}"
    fallback, stderr = run_edgegate(cli, args, cwd, engine="regopy")
    assert fallback in (want, Verdict("error")), f"regopy silently disagrees: {fallback} != {want}: {stderr}"
    return want


DOCS = "kind: Deployment\nmetadata: {name: app}\n---\nkind: Service\nmetadata: {name: svc}\n"

# (the folder's last part only: edgegate's reports show paths under the working folder relative)
FILE_POLICY = """\
    package main
    import rego.v1
    folder := regex.replace(data.conftest.file.dir, "^.*/", "")
    deny contains sprintf("%s: %s in %s", [input.metadata.name, data.conftest.file.name, folder]) if {
        input.kind == "Deployment"
        startswith(data.conftest.file.dir, "/")
    }
    warn contains sprintf("yaml %s", [data.conftest.file.name]) if endswith(data.conftest.file.name, ".yaml")
"""


# --- standard input -------------------------------------------------------------------------------

STDIN_CASES: dict[str, tuple[str, list[str]]] = {
    "yaml-multi-document": (DOCS, ["-p", "policy", "-"]),
    "json-read-as-yaml": ('{"kind": "Deployment", "metadata": {"name": "j"}}', ["-p", "policy", "-"]),
    "parser-json": ('{"kind": "Deployment", "metadata": {"name": "j"}}', ["-p", "policy", "--parser", "json", "-"]),
    "parser-toml": ('kind = "Deployment"\n[metadata]\nname = "t"\n', ["-p", "policy", "--parser", "toml", "-"]),
    "stdin-filename": (DOCS, ["-p", "policy", "--stdin-filename", "sub/piped.yaml", "-"]),
    "stdin-beside-a-file": (DOCS, ["-p", "policy", "-", "in/other.yaml"]),
    "stdin-combined": (DOCS, ["-p", "policy", "--combine", "-", "in/other.yaml"]),
    "stdin-malformed": ("kind: [unclosed\n", ["-p", "policy", "-"]),
}


@pytest.mark.parametrize("name", sorted(STDIN_CASES))
def test_stdin_agrees_with_conftest(conftest_bin: str, tmp_path: Path, name: str) -> None:
    text, args = STDIN_CASES[name]
    write_files(tmp_path, {"policy/p.rego": FILE_POLICY, "in/other.yaml": "kind: Deployment\nmetadata: {name: o}\n"})
    if "--combine" in args:
        (tmp_path / "policy" / "p.rego").write_text(
            'package main\nimport rego.v1\ndeny contains sprintf("%d from %s", [count(input), data.conftest.file.name])\n'
        )
    want = run_conftest(conftest_bin, args, tmp_path, stdin=text)
    got, stderr = run_edgegate_process(args, tmp_path, stdin=text)
    assert got == want, f"edgegate {got} != conftest {want}: {stderr}"
    fallback, stderr = run_edgegate_process(args, tmp_path, engine="regopy", stdin=text)
    assert fallback in (want, Verdict("error")), f"regopy silently disagrees: {fallback}: {stderr}"
    if name != "stdin-malformed":
        assert want.status == "fail"


def test_stdin_findings_are_named_dash_or_the_stdin_filename(tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": FILE_POLICY})
    for extra, shown in (([], "-"), (["--stdin-filename", "sub/piped.yaml"], "sub/piped.yaml")):
        proc = subprocess.run(
            [*_edgegate(), "-p", "policy", *extra, "-"], cwd=tmp_path, input=DOCS, capture_output=True,
            text=True, timeout=300, check=False,
        )
        assert proc.returncode == 1, proc.stderr
        paths = {f["location"]["path"] for f in json.loads(proc.stdout)["gates"][0]["findings"]}
        assert paths == {shown}


def test_stdin_twice_and_stdin_from_a_terminal_are_usage_errors(tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": FILE_POLICY})
    proc = subprocess.run([*_edgegate(), "-p", "policy", "-", "-"], cwd=tmp_path, input=DOCS,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2 and "more than once" in proc.stderr
    assert "Traceback" not in proc.stderr
    import os

    leader, follower = os.openpty()  # a terminal as standard input: refused, not waited on
    try:
        proc = subprocess.run([*_edgegate(), "-p", "policy", "-"], cwd=tmp_path, stdin=follower,
                              capture_output=True, text=True, timeout=300, check=False)
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 2 and "terminal" in proc.stderr, proc.stderr


def test_stdin_is_bounded(tmp_path: Path) -> None:
    """Standard input is read through edgegate.io with the 32 MiB document limit."""
    write_files(tmp_path, {"policy/p.rego": FILE_POLICY})
    big = "a: " + "x" * (33 * 1024 * 1024) + "\n"
    proc = subprocess.run([*_edgegate(), "-p", "policy", "-"], cwd=tmp_path, input=big,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2 and "limit" in proc.stderr, proc.stderr


def _edgegate() -> list[str]:
    import sys

    return [sys.executable, "-m", "edgegate", "policy", "lint", "--no-builtin-schemas", "-f", "json"]


# --- data.conftest.file, --strict ------------------------------------------------------------------

CASES: dict[str, tuple[dict[str, str], list[str]]] = {
    "conftest-file-per-input": ({
        "policy/p.rego": FILE_POLICY,
        "in/d.yaml": DOCS,
        "in/sub/e.json": '{"kind": "Deployment", "metadata": {"name": "e"}}',
    }, ["-p", "policy", "in"]),
    "conftest-file-combined": ({
        "policy/p.rego": 'package main\nimport rego.v1\ndeny contains sprintf("%s %d", [data.conftest.file.name, count(data.conftest.file.dir)])\n',
        "in/d.yaml": DOCS,
    }, ["-p", "policy", "--combine", "in/d.yaml"]),
    "conftest-file-beside-data": ({
        "policy/p.rego": FILE_POLICY,
        "data.json": '{"conftest": {"other": 1}, "x": 2}',
        "in/d.yaml": DOCS,
    }, ["-p", "policy", "-d", "data.json", "in/d.yaml"]),
    "namespace-globs": ({
        "policy/a.rego": 'package k8s.simple\nimport rego.v1\ndeny contains "simple" if input.kind\n',
        "policy/b.rego": 'package k8s.simple.deployment\nimport rego.v1\ndeny contains "deployment" if input.kind\n',
        "policy/c.rego": 'package main\nimport rego.v1\ndeny contains "main" if input.kind\n',
        "policy/d.rego": 'package k9\nimport rego.v1\nwarn contains "k9" if input.kind\n',
        "in/d.yaml": DOCS,
    }, ["-p", "policy", "-n", "k8s.*", "-n", "k?", "in/d.yaml"]),
    "strict-unused-assignment-is-an-error": ({
        "policy/p.rego": 'package main\nimport rego.v1\ndeny contains "d" if {\n    x := 1\n    input.kind\n}\n',
        "in/d.yaml": DOCS,
    }, ["-p", "policy", "--strict", "in/d.yaml"]),
    "unused-assignment-without-strict": ({
        "policy/p.rego": 'package main\nimport rego.v1\ndeny contains "d" if {\n    x := 1\n    input.kind\n}\n',
        "in/d.yaml": DOCS,
    }, ["-p", "policy", "in/d.yaml"]),
    "strict-clean-policy": ({
        "policy/p.rego": FILE_POLICY,
        "in/d.yaml": DOCS,
    }, ["-p", "policy", "--strict", "in/d.yaml"]),
    "strict-v0-policy": ({
        "policy/p.rego": 'package main\ndeny[msg] {\n    input.kind == "Deployment"\n    msg := "v0"\n}\n',
        "in/d.yaml": DOCS,
    }, ["-p", "policy", "--strict", "--rego-version", "v0", "in/d.yaml"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_written_cases_agree_with_conftest(cli, conftest_bin: str, tmp_path: Path, name: str) -> None:
    files, args = CASES[name]
    write_files(tmp_path, files)
    want = _agree(cli, conftest_bin, args, tmp_path)
    assert want.status == ("error" if "is-an-error" in name else "fail")


def test_regopy_refuses_opa_only_switches_before_evaluation(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": FILE_POLICY, "d.yaml": DOCS, "caps.json": "{}"})
    for flag in (["--strict"], ["--trace"], ["--capabilities", "caps.json"]):
        r = cli("policy", "lint", "--engine", "regopy", "-p", "policy", *flag, "d.yaml", cwd=tmp_path)
        assert r.exit_code == 2 and "needs the OPA engine" in r.stderr, (flag, r.stderr)


# --- --capabilities --------------------------------------------------------------------------------

def _capabilities(tmp_path: Path, drop: set[str]) -> Path:
    from edgegate.policy.opa import find_opa

    proc = subprocess.run([find_opa().path, "capabilities", "--version", "v1.0.0"], capture_output=True,
                          text=True, timeout=60, check=True)
    caps = json.loads(proc.stdout)
    caps["builtins"] = [b for b in caps["builtins"] if b["name"] not in drop]
    path = tmp_path / f"caps-{len(drop)}.json"
    path.write_text(json.dumps(caps), encoding="utf-8")
    return path


def test_capabilities_agree_with_conftest(cli, conftest_bin: str, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": FILE_POLICY, "d.yaml": DOCS})
    full = _capabilities(tmp_path, set())
    no_sprintf = _capabilities(tmp_path, {"sprintf"})
    allowed = _agree(cli, conftest_bin, ["-p", "policy", "--capabilities", full.name, "d.yaml"], tmp_path)
    assert allowed.status == "fail"
    refused = _agree(cli, conftest_bin, ["-p", "policy", "--capabilities", no_sprintf.name, "d.yaml"], tmp_path)
    assert refused.status == "error"
    r = cli("policy", "lint", "-p", "policy", "--capabilities", no_sprintf.name, "d.yaml", cwd=tmp_path)
    assert "sprintf" in r.stderr and "policy/p.rego" in r.stderr


def test_capabilities_file_must_be_a_regular_file(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": FILE_POLICY, "d.yaml": DOCS})
    r = cli("policy", "lint", "-p", "policy", "--capabilities", "nope.json", "d.yaml", cwd=tmp_path)
    assert r.exit_code == 2 and "nope.json" in r.stderr


# --- print() -----------------------------------------------------------------------------------------

PRINT_POLICY = """\
    package main
    import rego.v1
    deny contains msg if {
        print("checking", input.metadata.name, 3)
        input.kind == "Deployment"
        msg := sprintf("deny %s", [input.metadata.name])
    }
    warn contains "w" if {
        print()
        input.kind == "Service"
    }
    exception contains rules if {
        print("exception rule for", input.kind)
        input.kind == "Nothing"
        rules := [""]
    }
"""


def test_print_lines_agree_with_conftest(cli, conftest_bin: str, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": PRINT_POLICY, "in/d.yaml": DOCS})
    args = ["-p", "policy", "in/d.yaml"]
    _agree(cli, conftest_bin, args, tmp_path)
    want = set(conftest_lines(conftest_bin, args, tmp_path, "PRNT"))
    assert want >= {"policy/p.rego:4: checking app 3", "policy/p.rego:4: checking svc 3", "policy/p.rego:9:",
                    "policy/p.rego:13: exception rule for Service"}, want
    _, stderr = run_edgegate(cli, args, tmp_path)
    assert set(edgegate_lines(stderr, "PRNT")) == want
    fallback, stderr = run_edgegate(cli, args, tmp_path, engine="regopy")
    if fallback != Verdict("error"):
        assert set(edgegate_lines(stderr, "PRNT")) == want


def test_print_output_cannot_inject_lines_or_escapes(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "policy/p.rego": 'package main\nimport rego.v1\ndeny contains "d" if {\n'
                         '    print("a\\u001b[2Jb\\nPRNT   policy/p.rego:99: forged\\n::error::x")\n    input.kind\n}\n',
        "d.yaml": "kind: A\n",
    })
    r = cli("policy", "lint", "--no-builtin-schemas", "-p", "policy", "-f", "json", "d.yaml", cwd=tmp_path)
    assert r.exit_code == 1
    json.loads(r.stdout)  # the report on stdout is untouched
    lines = edgegate_lines(r.stderr, "PRNT")
    assert len(lines) == 1, r.stderr
    assert "\x1b" not in r.stderr and "\\x1b" in lines[0] and "\\x0a" in lines[0]
    assert lines[0].startswith("policy/p.rego:4: a")
    assert not any(ln.lstrip().startswith("::") for ln in r.stderr.splitlines())


def test_print_in_policy_does_not_touch_the_users_file(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": PRINT_POLICY, "d.yaml": DOCS})
    before = (tmp_path / "policy" / "p.rego").read_bytes()
    cli("policy", "lint", "-p", "policy", "d.yaml", cwd=tmp_path)
    assert (tmp_path / "policy" / "p.rego").read_bytes() == before


def test_a_string_holding_print_is_not_instrumented() -> None:
    from edgegate.policy._prints import instrument

    source = 'x := "print(1)" # print(2)\ny if { print(3) }\n'
    out = instrument(source, "p.rego", "M")
    assert out.count('"Mp.rego:') == 1 and '"print(1)" # print(2)' in out and '"Mp.rego:2:", 3' in out


# --- --trace -------------------------------------------------------------------------------------------

TRACE_POLICY = """\
    package main
    import rego.v1
    deny contains "d" if {
        trace("noted deny")
        input.kind == "Deployment"
    }
    warn contains "w" if {
        trace(sprintf("noted %s", [input.metadata.name]))
        input.kind == "Service"
    }
"""
_NOTE = re.compile(r'\bNote "(.*)"$')


def test_trace_notes_and_verdicts_agree_with_conftest(cli, conftest_bin: str, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": TRACE_POLICY, "in/d.yaml": DOCS})
    args = ["-p", "policy", "--trace", "in/d.yaml"]
    want = run_conftest(conftest_bin, args, tmp_path)
    got, stderr = run_edgegate(cli, args, tmp_path)
    assert got == want and want.status == "fail", stderr
    conftest_trace = conftest_lines(conftest_bin, args, tmp_path, "TRAC")
    ours = edgegate_lines(stderr, "TRAC")
    notes = {m.group(1) for ln in conftest_trace if (m := _NOTE.search(ln))}
    assert notes == {"noted deny", "noted svc"}  # (rule indexing skips warn for the Deployment)
    our_notes = {m.group(1) for ln in ours if (m := _NOTE.search(ln))}
    assert our_notes == notes
    assert any("Enter data.main.deny" in ln for ln in ours)
    assert any("policy/p.rego:" in ln for ln in ours) and not any("edgegate-opa-" in ln for ln in ours)


def test_no_trace_without_the_flag(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": TRACE_POLICY, "d.yaml": DOCS})
    r = cli("policy", "lint", "-p", "policy", "d.yaml", cwd=tmp_path)
    assert r.exit_code == 1 and not edgegate_lines(r.stderr, "TRAC")


# --- deliberate divergences ----------------------------------------------------------------------------

def test_divergence_empty_stdin_is_nothing_to_check(conftest_bin: str, tmp_path: Path) -> None:
    """conftest passes an empty standard input (nothing checked); edgegate: exit 2, as for an
    empty file."""
    write_files(tmp_path, {"policy/p.rego": FILE_POLICY})
    assert run_conftest(conftest_bin, ["-p", "policy", "-"], tmp_path, stdin="").status == "pass"
    got, stderr = run_edgegate_process(["-p", "policy", "-"], tmp_path, stdin="")
    assert got.status == "error" and "nothing to check" in stderr
