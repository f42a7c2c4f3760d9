"""`edgegate policy test`: YAML case files and Rego test_* rules, on real regopy."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from _files import write_files

RULES = """\
package main

import rego.v1

deny contains msg if {
    some c in input.spec.containers
    endswith(c.image, ":latest")
    msg := sprintf("%s uses :latest", [c.name])
}

deny contains {"msg": "no owner", "rule_id": "EGT002"} if not input.metadata.labels.owner

warn contains "no description" if not input.metadata.annotations.description

deny contains msg if {
    some doc in data.edgegate.inventory
    doc.kind == "Quota"
    count(input.spec.containers) > doc.max
    msg := sprintf("over quota %d", [doc.max])
}
"""

CASES = """\
cases:
  - name: latest image denied
    input:
      kind: Pod
      metadata: {labels: {owner: ml}, annotations: {description: d}}
      spec: {containers: [{name: app, image: "a:latest"}]}
    deny: ["app uses :latest"]
    warn: []
  - name: clean pod passes
    input:
      kind: Pod
      metadata: {labels: {owner: ml}}
      spec: {containers: [{name: app, image: "a@sha256:0"}]}
    deny: []
    warn: ["no description"]
  - name: warnings not compared when omitted
    input: {kind: Pod, metadata: {labels: {owner: ml}}, spec: {containers: []}}
    deny: []
  - name: object message compared by msg
    input: {kind: Pod, metadata: {}, spec: {containers: []}}
    deny: ["no owner"]
  - name: documents see each other through the inventory
    documents:
      - {kind: Quota, max: 1, metadata: {labels: {owner: x}}, spec: {containers: []}}
      - kind: Pod
        metadata: {labels: {owner: ml}}
        spec: {containers: [{name: a, image: "a@sha256:0"}, {name: b, image: "b@sha256:0"}]}
    deny: ["over quota 1"]
"""



def _test(cli, cwd: Path, *args: str) -> tuple[Any, dict[str, Any] | None]:
    r = cli("policy", "test", *args, "-f", "json", cwd=cwd)
    return r, (json.loads(r.stdout) if r.stdout.strip() else None)


def _rows(report: dict[str, Any] | None) -> dict[str, str]:
    assert report is not None
    return {row[0]: row[2] for row in report["gates"][0]["stats"]["tables"][0]["rows"]}


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_yaml_cases_pass(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": RULES, "policy/tests/cases.yaml": CASES})
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert report is not None
    assert report["gates"][0]["gate"] == "policy-test"
    assert report["gates"][0]["stats"]["passed"] == 5
    assert report["gates"][0]["stats"]["failed"] == 0
    assert set(_rows(report).values()) == {"pass"}


def test_default_folder_is_policy(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": RULES, "policy/tests/cases.yaml": CASES})
    r, report = _test(cli, tmp_path)
    assert r.exit_code == 0
    assert len(_rows(report)) == 5


def test_failing_expectation_is_exit_1_naming_the_case(cli, tmp_path: Path) -> None:
    wrong = CASES.replace('deny: ["app uses :latest"]', 'deny: ["app uses :oldest"]').replace(
        'warn: ["no description"]', "warn: []")
    write_files(tmp_path, {"policy/p.rego": RULES, "policy/tests/cases.yaml": wrong})
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 1
    rows = _rows(report)
    assert rows["latest image denied"] == "FAIL"
    assert rows["clean pod passes"] == "FAIL"
    assert rows["object message compared by msg"] == "pass"
    assert report is not None
    findings = {f["rule_id"]: f for f in report["gates"][0]["findings"]}
    f = findings["test/latest image denied"]
    assert f["location"] == {"path": "policy/tests/cases.yaml", "line": 2}
    assert "app uses :oldest" in f["message"] and "app uses :latest" in f["message"]
    assert findings["test/clean pod passes"]["location"]["line"] == 9
    assert "no description" in findings["test/clean pod passes"]["message"]


def test_missing_expected_deny_fails(cli, tmp_path: Path) -> None:
    """A deny the rules produce but the case does not expect is a failure (exact comparison)."""
    write_files(tmp_path, {"policy/p.rego": RULES, "policy/tests/c.yaml": """\
        cases:
          - name: forgets a denial
            input: {kind: Pod, metadata: {}, spec: {containers: [{name: app, image: "a:latest"}]}}
            deny: ["app uses :latest"]
    """})
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 1
    assert _rows(report) == {"forgets a denial": "FAIL"}


def test_duplicate_expectations_counted(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": RULES, "policy/tests/c.yaml": """\
        cases:
          - name: one denial expected twice
            input: {kind: Pod, metadata: {labels: {owner: x}}, spec: {containers: [{name: app, image: "a:latest"}]}}
            deny: ["app uses :latest", "app uses :latest"]
    """})
    r, _ = _test(cli, tmp_path, "policy")
    assert r.exit_code == 1


def test_rules_filter_and_file_data(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "policy/p.rego": RULES + textwrap.dedent("""\

            deny contains {"msg": sprintf("team %s", [data.team]), "rule_id": "EGT009"} if data.team
        """),
        "policy/tests/c.yaml": """\
            rules: [EGT002, EGT009]
            data: {team: base}
            cases:
              - name: only listed rule ids are compared
                input: {kind: Pod, metadata: {}, spec: {containers: [{name: app, image: "a:latest"}]}}
                deny: ["no owner", "team base"]
              - name: case data overrides file data
                input: {kind: Pod, metadata: {labels: {owner: x}}, spec: {containers: []}}
                data: {team: ml}
                deny: ["team ml"]
        """,
    })
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 0, r.stdout
    assert set(_rows(report).values()) == {"pass"}


def test_rego_test_rules(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "policy/p.rego": RULES,
        "policy/p_test.rego": """\
            package main_test

            import rego.v1

            test_true if {
                1 + 1 == 2
            }

            test_false if {
                1 + 1 == 3
            }

            test_uses_rules if {
                count(data.main.deny) >= 0
            }
        """,
    })
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 1
    rows = _rows(report)
    assert rows == {"main_test.test_true": "pass", "main_test.test_false": "FAIL", "main_test.test_uses_rules": "pass"}
    assert report is not None
    (f,) = report["gates"][0]["findings"]
    assert f["location"] == {"path": "policy/p_test.rego", "line": 9}
    assert "main_test.test_false" in f["message"]


def test_rego_test_rules_all_true_pass(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "policy/p.rego": RULES,
        "policy/p_test.rego": "package main_test\n\nimport rego.v1\n\ntest_a if { true }\n\ntest_b if { 2 > 1 }\n",
        "policy/tests/cases.yaml": CASES,
    })
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 0, r.stdout
    rows = _rows(report)
    assert rows["main_test.test_a"] == "pass" and rows["main_test.test_b"] == "pass"
    assert len(rows) == 7


def test_no_tests_is_exit_2(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": RULES})
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 2
    assert report is None
    assert "no tests found" in _one_error_line(r.stderr)


def test_missing_folder_is_exit_2(cli, tmp_path: Path) -> None:
    r, _ = _test(cli, tmp_path, "nope")
    assert r.exit_code == 2
    assert "nope" in _one_error_line(r.stderr)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("  - name: no input\n    deny: []\n", "needs 'input' or 'documents'"),
        ("  - name: no expectation\n    input: {kind: Pod}\n", "expected 'deny'"),
        ("  - name: empty documents\n    documents: []\n    deny: []\n", "non-empty list"),
    ],
)
def test_bad_case_is_exit_2_with_file_and_line(cli, tmp_path: Path, case: str, message: str) -> None:
    write_files(tmp_path, {"policy/p.rego": RULES})
    (tmp_path / "policy" / "c.yaml").write_text("cases:\n  - name: fine\n    input: {kind: Pod}\n    deny: ['no owner']\n" + case)
    r, _ = _test(cli, tmp_path, "policy")
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "policy/c.yaml:5" in line and message in line


def test_malformed_case_file_is_exit_2(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"policy/p.rego": RULES, "policy/c.yaml": "cases:\n  - name: x\n    input: [1, 2\n"})
    r, _ = _test(cli, tmp_path, "policy")
    assert r.exit_code == 2
    assert "policy/c.yaml" in _one_error_line(r.stderr)


def test_evaluation_error_in_one_case_is_that_case_s_error(cli, tmp_path: Path) -> None:
    """A runtime error stops OPA's one query: the cases are split until the error is one
    case's, which is an ERROR (exit 2), while the other cases still report."""
    write_files(tmp_path, {
        "policy/p.rego": 'package main\n\nimport rego.v1\n\nx := 1 if input.a\nx := 2 if input.a\n\n'
                         'deny contains "x" if x\n\ndeny contains "b" if input.b\n',
        "policy/c.yaml": "cases:\n  - name: fine\n    input: {b: true}\n    deny: [b]\n"
                         "  - name: conflict\n    input: {a: true}\n    deny: []\n"
                         "  - name: wrong\n    input: {b: true}\n    deny: []\n"
                         "  - name: fine too\n    input: {c: true}\n    deny: []\n",
    })
    for engine in ("opa", "regopy"):
        r, report = _test(cli, tmp_path, "--engine", engine, "policy")
        assert r.exit_code == 2, (engine, r.stderr)
        assert _rows(report) == {"fine": "pass", "conflict": "ERROR", "wrong": "FAIL", "fine too": "pass"}, engine
        assert report is not None
        gate = report["gates"][0]
        assert gate["status"] == "error" and len(gate["errors"]) == 1 and "conflict" in gate["errors"][0]
        assert (gate["stats"]["passed"], gate["stats"]["failed"], gate["stats"]["errored"]) == (2, 1, 1)


REGO_TESTS = """\
package main_test

import rego.v1

x := 1 if input.a

x := 2 if input.a

test_ok if {
    data.main.deny with input as {"spec": {"containers": [{"name": "a", "image": "a:latest"}]}}
}

test_fail if {
    1 == 2
}

test_conflict if {
    x == 1 with input as {"a": true}
}

test_builtin_error_is_undefined if {
    to_number("abc") == 1
}

test_after_the_error if {
    count([1, 2]) == 2
}

todo_test_skipped if {
    false
}
"""


def test_rego_tests_report_pass_fail_error_per_test_like_opa_test(cli, tmp_path: Path) -> None:
    """`opa test` is the oracle: the same PASS/FAIL/ERROR per test; an ERROR makes the run
    exit 2 while every other test still reports. regopy gives the same or an ERROR."""
    import subprocess

    from edgegate.policy.opa import find_opa

    write_files(tmp_path, {"policy/p.rego": RULES, "policy/p_test.rego": REGO_TESTS})
    proc = subprocess.run([find_opa().path, "test", "--format", "json", "policy"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    want = {}
    for t in json.loads(proc.stdout):
        if t.get("skip"):
            continue
        name = f"{t['package'].removeprefix('data.')}.{t['name']}"
        want[name] = "ERROR" if t.get("error") else "FAIL" if t.get("fail") else "pass"
    assert sorted(want.values()) == ["ERROR", "FAIL", "FAIL", "pass", "pass"]
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 2
    assert _rows(report) == want
    r, report = _test(cli, tmp_path, "--engine", "regopy", "policy")
    assert r.exit_code == 2
    got = _rows(report)
    assert got.keys() == want.keys()
    assert all(got[k] in (want[k], "ERROR") for k in want), got


def test_cases_honour_exceptions_like_lint(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "policy/p.rego": """\
            package main

            import rego.v1

            deny_latest contains "latest" if input.image == "a:latest"

            exception contains ["latest"] if input.name == "legacy"
        """,
        "policy/c.yaml": """\
            cases:
              - name: latest denied
                input: {name: web, image: "a:latest"}
                deny: ["latest"]
              - name: legacy excepted
                input: {name: legacy, image: "a:latest"}
                deny: []
        """,
    })
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 0, report
    assert set(_rows(report).values()) == {"pass"}


def test_cases_with_boolean_deny_rule(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "policy/p.rego": 'package main\n\nimport rego.v1\n\ndeny if input.kind == "Bad"\n',
        "policy/c.yaml": "cases:\n  - name: bad kind\n    input: {kind: Bad}\n    deny: ['main.deny is true']\n",
    })
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 0, r.stderr
    assert _rows(report) == {"bad kind": "pass"}

