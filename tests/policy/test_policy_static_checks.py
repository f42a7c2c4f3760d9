"""The token-based static checks (regopy defects, missing builtins, unsafe variables) refuse what
they must and accept ordinary policies; engine errors and data.edgegate.inventory_by_kind."""

from __future__ import annotations

import base64
import datetime as dt
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from edgegate.policy.engine import _to_json
from edgegate.policy.modules import Module, check_supported, engine_source

HEADER = "package main\n\nimport rego.v1\n\n"

POD = """\
kind: Pod
metadata: {name: web}
a: [{b: ["x"]}]
c:
  - {name: app, image: "a:latest", ok: true}
  - {name: side, image: "b@sha256:00", ok: true}
labels: {x: "1"}
"""

# ordinary Rego that must not be refused (false positives would make the gate unusable)
ACCEPTED = HEADER + """\
import data.lib as helpers

deny contains msg if {
    some i, j
    input.a[i].b[j] == "x"
    msg := sprintf("indexes %d %d", [i, j])
}

double(x) := y if { y := x * 2 }

deny contains msg if {
  walk(input, [path, value])
  value == "bad"
  msg := sprintf("%v", [path])
}

deny contains msg if {
  every c in input.c { c.ok }
  msg := "all ok"
}

labs := {k: v | v := input.labels[k]}

deny contains msg if { msg := concat(",", [n | n := input.c[_].name]) }

deny contains {"msg": m, "path": p} if {
  some idx, c in input.c
  m := sprintf("c %v %s", [idx, c.name])
  p := ["c", idx]
  double(1) == 2
  count(labs) > 0
  not helpers.x
}

deny contains msg if {
  names := {n | n := input.c[_].name}
  first := sort(names)[0]
  last := sort([n | n := input.c[_].name])[1]
  msg := sprintf("first %s last %s (%s)", [first, last, `raw
string with %q`])
}

warn[msg] {
  c := input.c[_]
  msg = sprintf("old %s", [c.name])
}
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def _lint(cli, cwd: Path, *args: str) -> tuple[Any, dict[str, Any] | None]:
    r = cli("policy", "lint", "--engine", "regopy", *args, "-f", "json", cwd=cwd)
    return r, (json.loads(r.stdout) if r.stdout.strip() else None)


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def _problems(body: str) -> list[str]:
    return [p.message for p in check_supported(Module("p.rego", HEADER + textwrap.dedent(body), "main"))]


def test_ordinary_policies_are_accepted_and_evaluated(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/pod.yaml": POD, "policy/p.rego": ACCEPTED})
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    assert report is not None
    got = sorted(f["message"] for f in report["gates"][0]["findings"])
    assert got == sorted([
        "indexes 0 0", "all ok", "app,side", "c 0 app", "c 1 side",
        "first app last side (raw\nstring with %q)", "old app", "old side",
    ])


@pytest.mark.parametrize(
    ("expr", "name"),
    [
        ('net.cidr_merge(["10.0.0.0/8"])', "net.cidr_merge"),
        ("rego.metadata.rule()", "rego.metadata.rule"),
        ('trace("here")', "trace"),
        ('http.send({"method": "get", "url": "http://127.0.0.1"})', "http.send"),
        ("json.verify_schema({})", "json.verify_schema"),
    ],
)
def test_missing_builtins_are_named(expr: str, name: str) -> None:
    problems = _problems(f'deny contains msg if {{\n    x := {expr}\n    msg := sprintf("%v", [x])\n}}\n')
    assert any(f"builtin '{name}' is not supported by the Rego engine" in p for p in problems), problems


def test_percent_q_only_in_the_format() -> None:
    assert _problems('deny contains msg if { msg := sprintf("%s", ["%q"]) }\n') == []
    assert _problems('deny contains msg if { msg := sprintf("%%q is fine", []) }\n') == []
    (problem,) = _problems('deny contains msg if { msg := sprintf("a %q", ["x"]) }\n')
    assert "%q" in problem


def test_unsafe_variable_checks() -> None:
    assert any("'nme'" in p for p in _problems('deny contains msg if { some c in input.c; msg := concat("", [nme]) }\n'))
    assert any("'res'" in p for p in _problems('deny[res] {\n  input.a\n}\n'))
    # bound by a function argument, an import, or a rule of another file: fine
    assert _problems("f(x) := x.name\n") == []
    assert _problems('deny contains msg if { msg := other_rule.name }\n') != []
    module = Module("p.rego", HEADER + 'deny contains msg if { msg := other_rule.name }\n', "main")
    assert check_supported(module, {"other_rule"}) == []


def test_default_on_a_set_rule_is_refused_statically() -> None:
    (problem,) = _problems('default deny := 5\n\ndeny contains "x" if true\n')
    assert "default deny" in problem


def test_engine_source_rewrites_sort_only() -> None:
    src = HEADER + 'x := sort(input.s)[0]\ny := my_sort(input.s)\nz := "sort(a)"\n'
    out = engine_source(Module("p.rego", src, "main"))
    assert "sort([__eg_s | some __eg_s in input.s])[0]" in out
    assert "my_sort(input.s)" in out and '"sort(a)"' in out
    assert out.count("\n") == src.count("\n")


def test_to_json_for_yaml_and_toml_values() -> None:
    assert _to_json(dt.date(2024, 1, 2)) == "2024-01-02"
    assert _to_json(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)) == "2024-01-02T03:04:05+00:00"
    assert _to_json(b"hello") == base64.b64encode(b"hello").decode()


@pytest.mark.parametrize(
    ("rule", "files", "expected"),
    [
        ('deny[msg] {\n  any([true])\n  msg := "x"\n}\n', {}, "Function not found: any"),
        ('deny contains "x" if input.kind == "Pod"\n', {"d.json": '{"main": {"deny": []}}'}, "package main"),
    ],
    ids=["removed-builtin", "data-collides-with-package"],
)
def test_engine_errors_are_one_line_naming_the_policy(cli, tmp_path: Path, rule: str, files: dict[str, str],
                                                      expected: str) -> None:
    _write(tmp_path, {"in/pod.yaml": POD, "policy/p.rego": "package main\n\n" + rule, **files})
    args = ["--data", "d.json"] if files else []
    r, _ = _lint(cli, tmp_path, "in", *args)
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "policy/p.rego" in line and expected in line


def test_inputs_without_documents_are_an_input_error(cli, tmp_path: Path) -> None:
    _write(tmp_path, {"in/a.yaml": "# nothing\n", "in/b.yaml": "---\n", "policy/p.rego": ACCEPTED})
    r, _ = _lint(cli, tmp_path, "in")
    assert r.exit_code == 2
    assert "in: nothing to check: no documents" in _one_error_line(r.stderr)


BY_KIND = HEADER + """\
deny contains msg if {
    pols := data.edgegate.inventory_by_kind.FinOpsPolicy
    msg := sprintf("%s sees %d FinOpsPolicy, %d documents", [input.metadata.name, count(pols), count(data.edgegate.inventory)])
}
"""


def test_inventory_by_kind_in_lint_and_test(cli, tmp_path: Path) -> None:
    _write(tmp_path, {
        "in/all.yaml": "kind: Pod\nmetadata: {name: a}\n---\nkind: FinOpsPolicy\nmetadata: {name: f}\n"
                       "---\nmetadata: {name: nokind}\n",
        "policy/p.rego": BY_KIND,
        "policy/cases.yaml": textwrap.dedent("""\
            cases:
              - name: grouped by kind
                documents:
                  - {kind: Pod, metadata: {name: a}}
                  - {kind: FinOpsPolicy, metadata: {name: f}}
                deny: ["a sees 1 FinOpsPolicy, 2 documents", "f sees 1 FinOpsPolicy, 2 documents"]
        """),
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    assert report is not None
    assert sorted(f["message"] for f in report["gates"][0]["findings"]) == [
        "a sees 1 FinOpsPolicy, 3 documents", "f sees 1 FinOpsPolicy, 3 documents",
        "nokind sees 1 FinOpsPolicy, 3 documents",
    ]
    r = cli("policy", "test", "--engine", "regopy", "policy", cwd=tmp_path)
    assert r.exit_code == 0, r.stdout + r.stderr


@pytest.mark.parametrize("data", ['{"main": 5}', '{"main": {"warn": ["x"]}}'])
def test_data_colliding_with_a_package_is_an_input_error(cli, tmp_path: Path, data: str) -> None:
    _write(tmp_path, {"in/pod.yaml": POD, "d.json": data,
                      "policy/p.rego": HEADER + 'warn contains "w" if true\n\ndeny contains "x" if input.kind == "Pod"\n'})
    r, _ = _lint(cli, tmp_path, "in", "--data", "d.json")
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "collides" in line and "policy/p.rego" in line


def test_only_result_rules_are_read(cli, tmp_path: Path) -> None:
    """Helper rules (even a huge one holding the inventory) are not part of the results; a function
    named like a result rule is not a rule."""
    _write(tmp_path, {
        "in/pod.yaml": POD,
        "policy/p.rego": HEADER + textwrap.dedent("""\
            everything := data.edgegate.inventory

            warn_fn(x) := sprintf("fn %v", [x])

            deny contains msg if {
                count(everything) == 1
                msg := warn_fn(input.metadata.name)
            }
        """),
    })
    r, report = _lint(cli, tmp_path, "in")
    assert r.exit_code == 1, r.stderr
    assert report is not None
    assert [f["message"] for f in report["gates"][0]["findings"]] == ["fn web"]


def test_defect_a_inside_the_contains_builtin_is_refused() -> None:
    # `contains` is also a keyword (`deny contains msg`); `contains(` is the builtin
    problems = _problems('deny contains msg if {\n  some i\n  contains(input.c[i].image, "latest")\n  msg := "x"\n}\n')
    assert any("index variable 'i'" in p for p in problems), problems
    assert _problems('deny contains msg if { c := input.c[_]; contains(c.image, "x"); msg := "y" }\n') == []
