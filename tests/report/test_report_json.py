"""The JSON reporter: stable schema, validated against schemas/report.schema.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
from report_samples import UNICODE, all_results, passing_results, policy_result

from edgegate import __version__
from edgegate.findings import GateResult, Status
from edgegate.report import ReportContext, render


@pytest.fixture(scope="module")
def validator(root_dir: Path) -> jsonschema.Draft202012Validator:
    schema = json.loads((root_dir / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_json_report_matches_schema_and_content(validator: jsonschema.Draft202012Validator) -> None:
    results = all_results()
    doc = json.loads(render("json", results, ReportContext()))
    validator.validate(doc)
    assert doc["version"] == 1
    assert doc["tool"] == {"name": "edgegate", "version": __version__}
    assert doc["verdict"] == "error"
    assert doc["exit_code"] == 2
    assert [g["gate"] for g in doc["gates"]] == ["policy", "cost", "vuln", "model-scan"]
    assert [g["status"] for g in doc["gates"]] == ["failed", "passed", "error", "passed"]
    policy = doc["gates"][0]
    assert len(policy["findings"]) == 7
    first = policy["findings"][0]
    assert first == {
        "gate": "policy",
        "rule_id": "EGP001",
        "severity": "critical",
        "message": "model facial-recognition-v3 is prohibited by ai-alignment-policy-vision-sensitive",
        "blocking": True,
        "location": {"path": "k8s/edge-ai.yaml", "line": 7, "column": 3, "pointer": "/spec/modelRef/name"},
        "title": "Model on the deny list",
    }
    assert policy["findings"][6]["location"] == {}
    assert doc["gates"][2]["errors"] == ["cannot read the advisory database: db/osv.sqlite: no such file"]
    assert doc["gates"][1]["stats"]["tables"][0]["rows"][0] == ["vision-analytics", 412.5, True]


def test_json_report_keeps_unicode_unescaped() -> None:
    text = render("json", [policy_result()], ReportContext())
    assert UNICODE in text
    assert json.loads(text)["gates"][0]["findings"][5]["message"] == UNICODE


def test_json_verdicts(validator: jsonschema.Draft202012Validator) -> None:
    passed = json.loads(render("json", passing_results(), ReportContext()))
    validator.validate(passed)
    assert (passed["verdict"], passed["exit_code"]) == ("passed", 0)
    failed = json.loads(render("json", [policy_result()], ReportContext()))
    validator.validate(failed)
    assert (failed["verdict"], failed["exit_code"]) == ("failed", 1)
    empty = json.loads(render("json", [], ReportContext()))
    validator.validate(empty)
    assert empty["gates"] == []


def test_json_non_finite_and_odd_stats_stay_strict_json(validator: jsonschema.Draft202012Validator) -> None:
    result = GateResult(
        "model-bias",
        Status.PASSED,
        stats={
            "fpr_gap": math.nan,
            "limit": math.inf,
            "groups": ("a", "b"),
            "source": Path("data/compas.csv"),
            "tables": [{"title": "FPR", "columns": ["group", "fpr"], "rows": [["x", math.nan]]}],
        },
    )
    text = render("json", [result], ReportContext())
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text)
    validator.validate(doc)
    stats = doc["gates"][0]["stats"]
    assert stats["fpr_gap"] is None and stats["limit"] is None
    assert stats["groups"] == ["a", "b"]
    assert stats["source"] == "data/compas.csv"
    assert stats["tables"][0]["rows"] == [["x", None]]


def test_schema_rejects_inconsistent_reports(validator: jsonschema.Draft202012Validator) -> None:
    doc = json.loads(render("json", [policy_result()], ReportContext()))
    doc["exit_code"] = 0  # failed with exit code 0 is not a valid report
    assert not validator.is_valid(doc)
    doc = json.loads(render("json", [policy_result()], ReportContext()))
    doc["gates"][0]["findings"][0]["severity"] = "severe"
    assert not validator.is_valid(doc)
    doc = json.loads(render("json", [policy_result()], ReportContext()))
    doc["gates"][0]["status"] = "error"  # error without an error message
    assert not validator.is_valid(doc)
