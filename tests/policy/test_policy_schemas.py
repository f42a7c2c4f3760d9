"""JSON Schema validation of custom kinds in `policy lint` (user --schemas folders)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _files import write_files

WIDGET_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "x-edgegate-match": {"apiVersion": "example.com/v1", "kind": "Widget"},
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "additionalProperties": False,
            "properties": {
                "size": {"type": "integer", "maximum": 10},
                "colour": {"enum": ["red", "blue"]},
            },
        }
    },
}

WIDGETS = """\
apiVersion: example.com/v1
kind: Widget
metadata: {name: ok}
spec:
  size: 3
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: bad}
spec:
  size: 30
  colour: green
---
apiVersion: other.com/v1
kind: Widget
metadata: {name: other-api}
spec: {size: 99}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: not-a-widget}
spec: {size: 99}
"""

NOOP_RULE = "package main\n\nimport rego.v1\n\ndeny contains msg if {\n    input.kind == \"Nothing\"\n    msg := \"x\"\n}\n"



def _lint(cli, cwd: Path, *args: str) -> tuple[Any, dict[str, Any] | None]:
    r = cli("policy", "lint", *args, "-f", "json", cwd=cwd)
    return r, (json.loads(r.stdout) if r.stdout.strip() else None)


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_schema_findings_have_pointer_and_line(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "in/w.yaml": WIDGETS,
        "policy/p.rego": NOOP_RULE,
        "schemas/widget.json": json.dumps(WIDGET_SCHEMA),
    })
    r, report = _lint(cli, tmp_path, "in", "--schemas", "schemas", "--no-builtin-schemas")
    assert r.exit_code == 1, r.stderr
    assert report is not None
    gate = report["gates"][0]
    findings = gate["findings"]
    got = sorted((f["location"]["pointer"], f["location"]["line"]) for f in findings)
    assert got == [("/spec/colour", 12), ("/spec/size", 11)]
    for f in findings:
        assert f["rule_id"] == "schema/Widget"
        assert f["blocking"] is True
        assert f["location"]["path"] == "in/w.yaml"
        assert f["details"]["schema"] == "widget.json"
        assert f["details"]["document"] == 1
    by_ptr = {f["location"]["pointer"]: f["message"] for f in findings}
    assert "30" in by_ptr["/spec/size"] and "10" in by_ptr["/spec/size"]
    assert "green" in by_ptr["/spec/colour"]
    # only the two documents whose apiVersion and kind match are validated
    assert gate["stats"]["schema_validated"] == 2


def test_schema_missing_required_points_at_the_object(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "in/w.yaml": "# widget\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\nspec:\n  colour: red\n",
        "policy/p.rego": NOOP_RULE,
        "schemas/widget.json": json.dumps(WIDGET_SCHEMA),
    })
    r, report = _lint(cli, tmp_path, "in", "--schemas", "schemas", "--no-builtin-schemas")
    assert r.exit_code == 1
    assert report is not None
    (f,) = report["gates"][0]["findings"]
    assert f["location"]["pointer"] == "/spec"
    assert "'size' is a required property" in f["message"]
    assert f["location"]["line"] in (5, 6)


def test_schema_kind_from_file_name(cli, tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "required": ["size"]}}}
    write_files(tmp_path, {
        "in/w.yaml": "apiVersion: any/v1\nkind: Widget\nmetadata: {name: x}\nspec: {}\n",
        "policy/p.rego": NOOP_RULE,
        "schemas/widget.schema.json": json.dumps(schema),
    })
    r, report = _lint(cli, tmp_path, "in", "--schemas", "schemas", "--no-builtin-schemas")
    assert r.exit_code == 1
    assert report is not None
    assert [f["rule_id"] for f in report["gates"][0]["findings"]] == ["schema/widget"]


def test_valid_documents_pass_schema(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "in/w.yaml": WIDGETS.split("---")[0],
        "policy/p.rego": NOOP_RULE,
        "schemas/widget.json": json.dumps(WIDGET_SCHEMA),
    })
    r, report = _lint(cli, tmp_path, "in", "--schemas", "schemas", "--no-builtin-schemas")
    assert r.exit_code == 0, r.stdout
    assert report is not None and report["gates"][0]["stats"]["schema_validated"] == 1


def test_invalid_schema_is_exit_2(cli, tmp_path: Path) -> None:
    bad = dict(WIDGET_SCHEMA, type="objekt")
    write_files(tmp_path, {"in/w.yaml": WIDGETS, "policy/p.rego": NOOP_RULE, "schemas/widget.json": json.dumps(bad)})
    r, report = _lint(cli, tmp_path, "in", "--schemas", "schemas", "--no-builtin-schemas")
    assert r.exit_code == 2
    assert report is None
    line = _one_error_line(r.stderr)
    assert "schemas/widget.json" in line and "invalid JSON Schema" in line


def test_malformed_schema_json_is_exit_2_with_line(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"in/w.yaml": WIDGETS, "policy/p.rego": NOOP_RULE,
                      "schemas/widget.json": '{\n  "type": "object",\n  "properties": \n}\n'})
    r, _ = _lint(cli, tmp_path, "in", "--schemas", "schemas")
    assert r.exit_code == 2
    assert "schemas/widget.json:4" in _one_error_line(r.stderr)


def test_schema_not_an_object_and_missing_dir(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {"in/w.yaml": WIDGETS, "policy/p.rego": NOOP_RULE, "schemas/widget.json": "[1, 2]"})
    r, _ = _lint(cli, tmp_path, "in", "--schemas", "schemas")
    assert r.exit_code == 2
    assert "must be an object" in _one_error_line(r.stderr)
    r, _ = _lint(cli, tmp_path, "in", "--schemas", "nope")
    assert r.exit_code == 2
    assert "nope" in _one_error_line(r.stderr)


def test_schema_and_rules_findings_together(cli, tmp_path: Path) -> None:
    rule = (
        "package main\n\nimport rego.v1\n\ndeny contains msg if {\n    input.spec.size > 5\n"
        '    msg := sprintf("%s too big", [input.metadata.name])\n}\n'
    )
    write_files(tmp_path, {"in/w.yaml": WIDGETS, "policy/p.rego": rule, "schemas/widget.json": json.dumps(WIDGET_SCHEMA)})
    r, report = _lint(cli, tmp_path, "in", "--schemas", "schemas", "--no-builtin-schemas")
    assert r.exit_code == 1
    assert report is not None
    ids = sorted(f["rule_id"] for f in report["gates"][0]["findings"])
    assert ids == ["main.deny"] * 3 + ["schema/Widget"] * 2


def test_schemas_from_config(cli, tmp_path: Path) -> None:
    write_files(tmp_path, {
        "in/w.yaml": WIDGETS,
        "policy/p.rego": NOOP_RULE,
        "schemas/widget.json": json.dumps(WIDGET_SCHEMA),
        "edgegate.toml": '[policy]\npaths = ["in"]\nrules = ["policy"]\nschemas = ["schemas"]\n',
    })
    r = cli("check", tmp_path, "-f", "json", cwd=tmp_path)
    assert r.exit_code == 1, r.stdout + r.stderr
    findings = json.loads(r.stdout)["gates"][0]["findings"]
    assert sorted(f["location"]["pointer"] for f in findings if f["rule_id"] == "schema/Widget") == [
        "/spec/colour", "/spec/size"]
