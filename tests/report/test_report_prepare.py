"""The prepared view every format renders: deduplication never changes a verdict, keeps distinct
facts apart, and GitHub's annotation limit points to the full report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_checks import runner_commands

from edgegate.findings import Finding, GateResult, Location, Severity, exit_code
from edgegate.report import OutputSpec, ReportContext, render, write_reports


def _cost_annotation(doc: int, severity: Severity = Severity.MEDIUM) -> Finding:
    return Finding("cost", "EGC013", severity, "missing cost-allocation annotations",
                   Location("k8s/a.yaml", 5, pointer="/metadata/annotations"), details={"document": doc})


def _policy_annotation(doc: int, key: str) -> Finding:
    return Finding("policy", "EGP006", Severity.MEDIUM, f"no '{key}'",
                   Location("k8s/a.yaml", 5, pointer="/metadata"), details={"document": doc})


def test_one_finding_per_fact_and_the_verdict_is_unchanged() -> None:
    policy = GateResult.decide("policy", [_policy_annotation(0, "cost-center"), _policy_annotation(0, "project-id"),
                                          _policy_annotation(1, "project-id")])
    cost = GateResult.decide("cost", [_cost_annotation(0)], fail_on=Severity.HIGH, stats={"fail_on": "high"})
    results = [policy, cost]
    doc = json.loads(render("json", results, ReportContext()))
    assert doc["exit_code"] == exit_code(results) == 1
    gates = {g["gate"]: g for g in doc["gates"]}
    # document 0: the failing policy finding is kept (the cost one only warns); document 1 apart
    kept = gates["policy"]["findings"]
    assert [f["details"]["document"] for f in kept] == [0, 1]
    assert [a["rule_id"] for a in kept[0]["details"]["also_reported_by"]] == ["EGP006", "EGC013"]
    assert "also_reported_by" not in kept[1].get("details", {})
    assert gates["cost"]["findings"] == [] and gates["cost"]["status"] == "passed"


def test_different_facts_on_one_line_stay_apart() -> None:
    loc = Location("k8s/a.yaml", 33, pointer="/spec/modelRef/name")
    findings = [
        Finding("policy", "EGP008", Severity.CRITICAL, "banned", loc, details={"document": 1}),
        Finding("policy", "EGP010", Severity.MEDIUM, "not quantized", loc, details={"document": 1}),
    ]
    doc = json.loads(render("json", [GateResult.decide("policy", findings)], ReportContext()))
    assert [f["rule_id"] for f in doc["gates"][0]["findings"]] == ["EGP008", "EGP010"]


def test_overflow_annotation_names_the_full_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    many = [Finding("vuln", f"CVE-{i}", Severity.HIGH, f"m{i}", Location("req.txt", i + 1)) for i in range(25)]
    results = [GateResult.decide("vuln", many)]
    write_reports(results, [OutputSpec("github"), OutputSpec("sarif", tmp_path / "e.sarif")], ReportContext())
    lines = capsys.readouterr().out.splitlines()
    commands = runner_commands(lines)
    assert len(commands) == 10 and all(c.name == "error" for c in commands)
    last = commands[-1]
    assert "16 more errors" in last.data and "job summary" in last.data and "e.sarif" in last.data
    plain = [ln for ln in lines if ln.startswith("  error  req.txt:")]
    assert len(plain) == 16  # nothing is lost: the rest are in the log
    assert (tmp_path / "summary.md").read_text(encoding="utf-8").startswith("<!-- edgegate-report -->")
