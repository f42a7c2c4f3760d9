"""`edgegate policy test`: YAML case files and Rego test_* rules, on real regopy."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

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


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


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
    _write(tmp_path, {"policy/p.rego": RULES, "policy/tests/cases.yaml": CASES})
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert report is not None
    assert report["gates"][0]["gate"] == "policy-test"
    assert report["gates"][0]["stats"]["passed"] == 5
    assert report["gates"][0]["stats"]["failed"] == 0
    assert set(_rows(report).values()) == {"pass"}


def test_default_folder_is_policy(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"policy/p.rego": RULES, "policy/tests/cases.yaml": CASES})
    r, report = _test(cli, tmp_path)
    assert r.exit_code == 0
    assert len(_rows(report)) == 5


def test_failing_expectation_is_exit_1_naming_the_case(cli, tmp_path: Path) -> None:
    wrong = CASES.replace('deny: ["app uses :latest"]', 'deny: ["app uses :oldest"]').replace(
        'warn: ["no description"]', "warn: []")
    _write(tmp_path, {"policy/p.rego": RULES, "policy/tests/cases.yaml": wrong})
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
    _write(tmp_path, {"policy/p.rego": RULES, "policy/tests/c.yaml": """\
        cases:
          - name: forgets a denial
            input: {kind: Pod, metadata: {}, spec: {containers: [{name: app, image: "a:latest"}]}}
            deny: ["app uses :latest"]
    """})
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 1
    assert _rows(report) == {"forgets a denial": "FAIL"}


def test_duplicate_expectations_counted(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"policy/p.rego": RULES, "policy/tests/c.yaml": """\
        cases:
          - name: one denial expected twice
            input: {kind: Pod, metadata: {labels: {owner: x}}, spec: {containers: [{name: app, image: "a:latest"}]}}
            deny: ["app uses :latest", "app uses :latest"]
    """})
    r, _ = _test(cli, tmp_path, "policy")
    assert r.exit_code == 1


def test_rules_filter_and_file_data(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
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
    _write(tmp_path, {
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
    _write(tmp_path, {
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
    _write(tmp_path, {"policy/p.rego": RULES})
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
    _write(tmp_path, {"policy/p.rego": RULES})
    (tmp_path / "policy" / "c.yaml").write_text("cases:\n  - name: fine\n    input: {kind: Pod}\n    deny: ['no owner']\n" + case)
    r, _ = _test(cli, tmp_path, "policy")
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "policy/c.yaml:5" in line and message in line


def test_malformed_case_file_is_exit_2(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"policy/p.rego": RULES, "policy/c.yaml": "cases:\n  - name: x\n    input: [1, 2\n"})
    r, _ = _test(cli, tmp_path, "policy")
    assert r.exit_code == 2
    assert "policy/c.yaml" in _one_error_line(r.stderr)


def test_evaluation_error_in_case_fails(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "policy/p.rego": 'package main\n\nimport rego.v1\n\nx := 1 if input.a\nx := 2 if input.a\n\ndeny contains "x" if x\n',
        "policy/c.yaml": "cases:\n  - name: conflict\n    input: {a: true}\n    deny: []\n",
    })
    # OPA: a conflict is a runtime error of the whole evaluation (exit 2, naming the rule's file)
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "policy/p.rego:" in line and "conflicting" in line
    # regopy: an undefined result for that case, which fails it
    r, report = _test(cli, tmp_path, "--engine", "regopy", "policy")
    assert r.exit_code != 0
    assert _rows(report) == {"conflict": "FAIL"}


def test_cases_honour_exceptions_like_lint(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
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
    _write(tmp_path, {
        "policy/p.rego": 'package main\n\nimport rego.v1\n\ndeny if input.kind == "Bad"\n',
        "policy/c.yaml": "cases:\n  - name: bad kind\n    input: {kind: Bad}\n    deny: ['main.deny is true']\n",
    })
    r, report = _test(cli, tmp_path, "policy")
    assert r.exit_code == 0, r.stderr
    assert _rows(report) == {"bad kind": "pass"}

