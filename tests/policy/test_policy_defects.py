"""regopy 1.5 defects never become a silent pass: refusal before evaluation, crashes and
evaluation errors are exit 2 naming the policy; Rego syntax errors name file:line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from _files import write_files

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
c:
  - name: app
    image: nginx:latest
  - name: side
    image: busybox@sha256:00
"""

HEADER = "package main\n\nimport rego.v1\n\n"



def _lint(cli, cwd: Path, *args: str) -> tuple[Any, dict[str, Any] | None]:
    r = cli("policy", "lint", "--engine", "regopy", *args, "-f", "json", cwd=cwd)
    return r, (json.loads(r.stdout) if r.stdout.strip() else None)


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("edgegate: error: ")
    return lines[0]


def _policy(tmp_path: Path, body: str, name: str = "policy/p.rego") -> None:
    write_files(tmp_path, {"in/pod.yaml": MANIFEST, name: HEADER + textwrap.dedent(body)})


# --- (a) an index variable first bound inside a builtin call's arguments ----------------------

DEFECT_A = """\
deny contains msg if {
    some i; endswith(input.c[i].image, ":latest")
    msg := "latest image"
}
"""


def test_a_refused_before_evaluation_with_file_line_and_rewrite(cli, tmp_path: Path) -> None:
    # the second rule would crash the engine (SIGFPE): refusal must come before any evaluation
    _policy(tmp_path, DEFECT_A + '\ncrash contains x if { x := rand.intn("k", 0) }\n')
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is None
    line = _one_error_line(r.stderr)
    assert "policy/p.rego:6:" in line
    assert "unsupported Rego" in line and "'i'" in line
    assert "some c in" in line and "Bind it first" in line
    assert 'endswith(input.c[i].image, ":latest")' in line  # the offending source is quoted
    assert "crashed" not in line


def test_a_with_underscore_is_refused(cli, tmp_path: Path) -> None:
    _policy(tmp_path, """\
        deny contains msg if {
            endswith(input.c[_].image, ":latest")
            msg := "latest image"
        }
    """)
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "policy/p.rego:6:" in line and "'_'" in line


def test_a_implicit_variable_old_style_is_refused(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"in/pod.yaml": MANIFEST, "policy/p.rego": """\
package main

deny[msg] {
    startswith(input.c[i].image, "nginx")
    msg := "nginx"
}
"""})
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert "policy/p.rego:4:" in _one_error_line(r.stderr)


@pytest.mark.parametrize(
    "body",
    [
        # the rewrites the refusal message suggests
        """\
        deny contains msg if {
            some c in input.c
            endswith(c.image, ":latest")
            msg := sprintf("latest image %s", [c.name])
        }
        """,
        """\
        deny contains msg if {
            some i
            c := input.c[i]
            endswith(c.image, ":latest")
            msg := sprintf("latest image %s", [c.name])
        }
        """,
        """\
        deny contains msg if {
            c := input.c[_]
            endswith(c.image, ":latest")
            msg := sprintf("latest image %s", [c.name])
        }
        """,
        # bound outside the call first, then used inside one: fine
        """\
        deny contains msg if {
            some i
            input.c[i].name == "app"
            endswith(input.c[i].image, ":latest")
            msg := sprintf("latest image %s", [input.c[i].name])
        }
        """,
    ],
)
def test_a_rewritten_forms_work_and_deny(cli, tmp_path: Path, body: str) -> None:
    _policy(tmp_path, body)
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    assert report is not None
    assert [f["message"] for f in report["gates"][0]["findings"]] == ["latest image app"]


def test_a_in_comments_and_strings_is_not_refused(cli, tmp_path: Path) -> None:
    _policy(tmp_path, """\
        # don't write: some i; endswith(input.c[i].image, ":latest") nor count()
        deny contains msg if {
            some c in input.c
            endswith(c.image, ":latest")
            msg := "not endswith(input.c[i].image) nor count() here"
        }
    """)
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    assert report is not None
    assert [f["message"] for f in report["gates"][0]["findings"]] == ["not endswith(input.c[i].image) nor count() here"]


_FAIL_OPEN_A = [
    pytest.param(
        """\
        deny contains msg if {
            some i
            endswith(input.c[i].image, ":latest")
            msg := "latest image"
        }
        """,
        id="some-i-on-its-own-line",
    ),
    pytest.param(
        """\
        deny contains msg if {
            some i, j
            regex.match(".*:latest$", input.c[i].image)
            msg := "latest image"
        }
        """,
        id="some-i-j",
    ),
    pytest.param(
        """\
deny contains msg if {
some i
endswith(input.c[i].image, ":latest")
msg := "latest image"
}
""",
        id="unindented-body",
    ),
]


@pytest.mark.parametrize("body", _FAIL_OPEN_A)
def test_a_other_spellings_are_refused(cli, tmp_path: Path, body: str) -> None:
    _policy(tmp_path, body)
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2, (r.exit_code, r.stdout[:300])
    assert "unsupported Rego" in _one_error_line(r.stderr)


def test_a_comprehension_inside_a_call_is_not_refused(cli, tmp_path: Path) -> None:
    _policy(tmp_path, """\
        deny contains msg if {
            count([c | c := input.c[i]; endswith(c.image, ":latest")]) > 0
            msg := "latest image"
        }
    """)
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    assert report is not None
    assert [f["message"] for f in report["gates"][0]["findings"]] == ["latest image"]


def test_a_refused_in_policy_test_and_check(cli, tmp_path: Path) -> None:
    _policy(tmp_path, DEFECT_A)
    write_files(tmp_path, {
        "policy/tests/cases.yaml": """\
            cases:
              - name: latest denied
                input: {c: [{name: app, image: "a:latest"}]}
                deny: ["latest image"]
        """,
        "edgegate.toml": '[policy]\nengine = "regopy"\npaths = ["in"]\nrules = ["policy"]\n',
    })
    r = cli("policy", "test", "--engine", "regopy", "policy", cwd=tmp_path)
    assert r.exit_code == 2
    assert "policy/p.rego:6:" in _one_error_line(r.stderr)
    r = cli("check", tmp_path, "-f", "json", cwd=tmp_path)
    assert r.exit_code == 2
    gate = json.loads(r.stdout)["gates"][0]
    assert gate["status"] == "error"
    assert any("p.rego:6" in e and "unsupported Rego" in e for e in gate["errors"])


# --- (b) `with input as` in a *_test.rego ------------------------------------------------------

LATEST_RULE = """\
deny contains msg if {
    some c in input.c
    endswith(c.image, ":latest")
    msg := sprintf("latest image %s", [c.name])
}
"""


def test_b_with_input_as_tests_are_never_passed(cli, tmp_path: Path) -> None:
    _policy(tmp_path, LATEST_RULE)
    write_files(tmp_path, {"policy/p_test.rego": HEADER + textwrap.dedent("""\
        test_denies_latest if {
            count(deny) == 1 with input as {"c": [{"name": "a", "image": "a:latest"}]}
        }

        test_allows_digest if {
            count(deny) == 0 with input as {"c": [{"name": "a", "image": "a@sha256:00"}]}
        }

        test_not_denied if {
            not deny["latest image a"] with input as {"c": [{"name": "a", "image": "a@sha256:00"}]}
        }
    """)})
    r = cli("policy", "test", "--engine", "regopy", "policy", "-f", "json", cwd=tmp_path)
    assert r.exit_code == 2, r.stdout + r.stderr  # tests regopy cannot evaluate are ERRORs
    gate = json.loads(r.stdout)["gates"][0]
    rows = {row[0]: row[2] for row in gate["stats"]["tables"][0]["rows"]}
    for name in ("main.test_denies_latest", "main.test_allows_digest", "main.test_not_denied"):
        assert rows[name] == "ERROR", rows
    assert gate["stats"]["passed"] == 0
    failed = {f["message"].split(":")[0] for f in gate["findings"]}
    assert {"main.test_denies_latest", "main.test_allows_digest", "main.test_not_denied"} <= failed


def test_b_test_file_does_not_break_lint(cli, tmp_path: Path) -> None:
    """`policy lint` leaves *_test.rego out, so such a file cannot poison the real rules."""
    _policy(tmp_path, LATEST_RULE)
    write_files(tmp_path, {"policy/p_test.rego": HEADER + 'test_x if { count(deny) == 1 with input as {"c": []} }\n'})
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    assert report is not None
    assert [f["message"] for f in report["gates"][0]["findings"]] == ["latest image app"]
    assert report["gates"][0]["stats"]["policies"] == 1


# --- (c) zero-argument builtins and engine crashes ---------------------------------------------

def test_c_zero_arg_builtin_refused_with_file_line(cli, tmp_path: Path) -> None:
    _policy(tmp_path, """\
        deny contains msg if {
            count() == 0
            msg := "never"
        }
    """)
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is None
    line = _one_error_line(r.stderr)
    assert "policy/p.rego:6:" in line and "count()" in line


def test_c_zero_arg_builtin_split_over_lines_still_exit_2(cli, tmp_path: Path) -> None:
    _policy(tmp_path, """\
        deny contains msg if {
            count(
            ) == 0
            msg := "never"
        }
    """)
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2, r.stdout
    assert report is None
    assert "Traceback" not in r.stderr


def test_c_engine_crash_is_exit_2(cli, tmp_path: Path) -> None:
    # not caught by the static check; regopy dies with SIGFPE
    _policy(tmp_path, """\
        deny contains msg if {
            x := rand.intn("seed", 0)
            msg := sprintf("%d", [x])
        }
    """)
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is None
    line = _one_error_line(r.stderr)
    assert "crashed" in line


def test_c_engine_crash_names_the_policy(cli, tmp_path: Path) -> None:
    _policy(tmp_path, 'deny contains msg if { x := rand.intn("seed", 0); msg := sprintf("%d", [x]) }\n')
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert "policy/p.rego" in _one_error_line(r.stderr)


def test_c_engine_crash_in_check_is_exit_2(cli, tmp_path: Path) -> None:
    _policy(tmp_path, 'deny contains msg if { x := rand.intn("seed", 0); msg := sprintf("%d", [x]) }\n')
    write_files(tmp_path, {"edgegate.toml": '[policy]\nengine = "regopy"\npaths = ["in"]\nrules = ["policy"]\n'})
    r = cli("check", tmp_path, "-f", "json", cwd=tmp_path)
    assert r.exit_code == 2
    report = json.loads(r.stdout)
    assert report["gates"][0]["status"] == "error"
    assert any("crashed" in e for e in report["gates"][0]["errors"])


def test_c_engine_crash_in_policy_test_is_exit_2(cli, tmp_path: Path) -> None:
    _policy(tmp_path, 'deny contains msg if { x := rand.intn("seed", 0); msg := sprintf("%d", [x]) }\n')
    write_files(tmp_path, {"policy/tests/c.yaml": "cases:\n  - name: boom\n    input: {c: []}\n    deny: []\n"})
    r = cli("policy", "test", "--engine", "regopy", "policy", cwd=tmp_path)
    assert r.exit_code == 2
    assert "crashed" in _one_error_line(r.stderr)


# --- (d) evaluation errors ---------------------------------------------------------------------

@pytest.mark.parametrize(
    "body",
    [
        # conflicting values for a complete rule
        'x := 1 if input.kind == "Pod"\nx := 2 if input.kind == "Pod"\ndeny contains "x" if x > 0\n',
        # conflicting object keys
        'o[k] := v if { k := "a"; v := input.kind }\no[k] := v if { k := "a"; v := input.apiVersion }\n'
        'deny contains "o" if o.a\n',
    ],
)
def test_d_evaluation_error_is_exit_2_naming_the_policy(cli, tmp_path: Path, body: str) -> None:
    _policy(tmp_path, body)
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is not None
    gate = report["gates"][0]
    assert gate["status"] == "error"
    assert report["verdict"] != "passed"
    (error,) = gate["errors"]
    assert "policy/p.rego" in error and "in/pod.yaml:1" in error


def test_d_evaluation_error_on_one_document_of_many(cli, tmp_path: Path) -> None:
    _policy(tmp_path, 'x := 1 if input.metadata.name == "bad"\nx := 2 if input.metadata.name == "bad"\n'
                      'deny contains "x" if x > 0\n')
    write_files(tmp_path, {"in/more.yaml": "kind: Pod\nmetadata: {name: ok}\n---\nkind: Pod\nmetadata: {name: bad}\n"})
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is not None
    (error,) = report["gates"][0]["errors"]
    assert "in/more.yaml:4" in error


def test_syntax_error_names_file_and_line(cli, tmp_path: Path) -> None:
    _policy(tmp_path, """\
        deny contains msg if {
            msg :=
        }
    """)
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is None
    line = _one_error_line(r.stderr)
    assert "policy/p.rego:6:" in line or "policy/p.rego:7:" in line, line
    assert "Rego" in line


def test_syntax_error_in_second_file(cli, tmp_path: Path) -> None:
    _policy(tmp_path, LATEST_RULE)
    write_files(tmp_path, {"policy/z.rego": "package main\n\nimport rego.v1\n\ndeny contains msg if {\n    msg := \"x\"\n"})
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert "policy/z.rego" in _one_error_line(r.stderr)


def test_unknown_function_never_passes(cli, tmp_path: Path) -> None:
    _policy(tmp_path, "deny contains msg if { msg := no_such_function(input.kind) }\n")
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is None or report["gates"][0]["status"] == "error"


def test_unknown_function_is_one_clear_line_naming_the_policy(cli, tmp_path: Path) -> None:
    _policy(tmp_path, "deny contains msg if { msg := no_such_function(input.kind) }\n")
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "policy/p.rego" in line


@pytest.mark.parametrize(
    "expr",
    [
        'net.cidr_contains("10.0.0.0/8", "10.1.2.3")',
        'strings.render_template("{{.a}}", {"a": "1"}) == "1"',
        "count(json.match_schema({}, {})) == 2",
        'sprintf("%q", ["a"]) == "\\"a\\""',
    ],
    ids=["net.cidr_contains", "strings.render_template", "json.match_schema", "sprintf-q"],
)
def test_missing_builtins_never_pass(cli, tmp_path: Path, expr: str) -> None:
    _policy(tmp_path, f"deny contains msg if {{\n    {expr}\n    msg := \"fired\"\n}}\n")
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code != 0, (r.exit_code, r.stdout[:200])
    fired = report is not None and any(f["message"] == "fired" for g in report["gates"] for f in g["findings"])
    assert fired or r.exit_code == 2


@pytest.mark.parametrize(
    "body",
    [
        # a typo: `container` is never bound (OPA: rego_unsafe_var_error at compile time)
        """\
        deny contains msg if {
            some c in input.c
            endswith(c.image, ":latest")
            msg := sprintf("%s uses latest", [container.name])
        }
        """,
        # the message variable is never bound at all
        """\
        deny contains msg if {
            some c in input.c
            endswith(c.image, ":latest")
        }
        """,
    ],
    ids=["typo-in-variable", "unbound-head-variable"],
)
def test_unsafe_variables_never_pass(cli, tmp_path: Path, body: str) -> None:
    _policy(tmp_path, body)
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2, (r.exit_code, r.stdout[:200])


def test_default_on_a_set_rule_is_exit_2(cli, tmp_path: Path) -> None:
    # regopy segfaults on this (OPA: compile error); the child process keeps it to exit 2
    _policy(tmp_path, 'default deny := 5\n\ndeny contains "x" if true\n')
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert report is None
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1


def test_sort_of_a_set_is_indexable(cli, tmp_path: Path) -> None:
    _policy(tmp_path, """\
        deny contains msg if {
            names := {c.name | some c in input.c}
            first := sort(names)[0]
            msg := sprintf("first container %s", [first])
        }
    """)
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code != 0
    assert report is not None
    assert [f["message"] for f in report["gates"][0]["findings"]] == ["first container app"]
