"""The github reporter: workflow commands, escaping, and the step summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_samples import TRICKY, all_results, passing_results, policy_result, warn_only_result

from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.report import OutputSpec, ReportContext, render, write_reports
from edgegate.report.github import command, escape_data, escape_property


def _unescape(text: str, prop: bool = False) -> str:
    """What the runner does with an escaped value (reverse of the toolkit's escaping)."""
    if prop:
        text = text.replace("%3A", ":").replace("%2C", ",")
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def test_escaping_round_trips() -> None:
    assert escape_data("50% a\r\nb") == "50%25 a%0D%0Ab"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert escape_data("%0A") == "%250A"  # an already escaped-looking value is not left ambiguous
    for raw in (TRICKY, "%3A,:%25", "x" * 3):
        assert _unescape(escape_data(raw)) == raw
        assert _unescape(escape_property(raw), prop=True) == raw
    assert command("warning", "m", {"file": "a,b.yaml", "line": 3, "col": None}) == "::warning file=a%2Cb.yaml,line=3::m"
    assert command("notice", "hi") == "::notice::hi"


def test_github_commands_for_every_kind_of_finding() -> None:
    lines = render("github", all_results(), ReportContext(root=Path.cwd())).splitlines()
    # gate errors first (the run cannot pass), then the most severe finding
    assert lines[0].startswith("::error title=edgegate vuln%3A gate error::")
    assert lines[1] == (
        "::error file=k8s/edge-ai.yaml,line=7,col=3,"
        "title=edgegate policy%3A EGP001 (critical)%3A Model on the deny list"
        "::model facial-recognition-v3 is prohibited by ai-alignment-policy-vision-sensitive"
    )
    tricky = next(ln for ln in lines if "EGP003" in ln)
    assert tricky == (
        "::error file=k8s/deployment.yaml,line=12,title=edgegate policy%3A EGP003 (medium)%3A Resource limits set"
        # the CR LF is shown visibly: a value never spans lines, not even for the annotation
        "::100%25 sure: a, b\\x0d\\x0anext line <b>&</b> | `tick` [red]markup[/red] ::error::x"
    )
    # every command is a single line: CR/LF never leak
    assert all("\r" not in ln for ln in lines)
    warning = next(ln for ln in lines if "EGP004" in ln)
    assert warning.startswith("::warning file=k8s/knative service.yaml,line=4,")
    info = next(ln for ln in lines if "EGP005" in ln)
    assert info.startswith("::error file=k8s/edge-ai.yaml,line=2,")  # blocking info in a failed gate
    nofile = next(ln for ln in lines if "EGP006" in ln)
    assert nofile == "::error title=edgegate policy%3A EGP006 (medium)::no location at all"
    gate_error = next(ln for ln in lines if "advisory database" in ln)
    assert gate_error == (
        "::error title=edgegate vuln%3A gate error::cannot read the advisory database: db/osv.sqlite: no such file"
    )
    assert lines.index(gate_error) < lines.index(next(ln for ln in lines if "PYSEC-2021-66" in ln))
    pysec = next(ln for ln in lines if "PYSEC-2021-66" in ln)
    assert pysec.startswith("::warning file=requirements.txt,line=3,")  # non-blocking
    assert lines[-1].startswith("edgegate: ERROR (exit code 2")


def test_github_levels_in_a_passed_gate() -> None:
    lines = render("github", [warn_only_result()], ReportContext()).splitlines()
    assert lines[0].startswith("::warning file=models/tiny.pt,title=edgegate model-scan%3A EGM010 (low)::")
    assert lines[1].startswith("::notice file=models/tiny.safetensors,")
    assert lines[2].startswith("edgegate: PASSED (exit code 0")


def test_github_paths_are_relative_to_root(tmp_path: Path) -> None:
    f = Finding("policy", "R", Severity.HIGH, "m", Location(str(tmp_path / "sub" / "x.yaml"), 5))
    out = render("github", [GateResult.decide("policy", [f])], ReportContext(root=tmp_path))
    assert out.splitlines()[0] == "::error file=sub/x.yaml,line=5,title=edgegate policy%3A R (high)::m"


def test_step_summary_appended_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    write_reports([policy_result()], [OutputSpec("github")], ReportContext(command="edgegate check"))
    out = capsys.readouterr().out
    assert out.startswith("::error file=k8s/edge-ai.yaml,line=7,col=3,")
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# earlier step\n")  # appended, not overwritten
    assert "## ❌ edgegate: FAILED" in text
    assert "| policy | ❌ failed | 1 | 2 | 2 | 1 | 1 | 0 |" in text
    # a second run appends again
    write_reports(passing_results(), [OutputSpec("github")], ReportContext(command="edgegate check"))
    text = summary.read_text(encoding="utf-8")
    assert "## ✅ edgegate: PASSED" in text and "## ❌ edgegate: FAILED" in text


def test_no_step_summary_without_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    write_reports([policy_result()], [OutputSpec("github", tmp_path / "gh.txt")], ReportContext(root=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gh.txt"]


def test_unwritable_step_summary_warns_and_keeps_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing-dir" / "summary.md"))
    write_reports([policy_result()], [OutputSpec("github", tmp_path / "gh.txt")], ReportContext())
    assert (tmp_path / "gh.txt").read_text(encoding="utf-8").startswith("::error ")
    err = capsys.readouterr().err
    assert "cannot write the step summary" in err and "summary.md" in err


def test_fail_on_recorded_in_stats_marks_findings_below_it_as_warnings() -> None:
    findings = [
        Finding("vuln", "CVE-1", Severity.CRITICAL, "crit", Location("req.txt", 1)),
        Finding("vuln", "CVE-2", Severity.MEDIUM, "med", Location("req.txt", 2)),
    ]
    result = GateResult.decide("vuln", findings, fail_on=Severity.HIGH, stats={"fail_on": "high"})
    lines = render("github", [result], ReportContext()).splitlines()
    assert lines[0].startswith("::error file=req.txt,line=1,")
    assert lines[1].startswith("::warning file=req.txt,line=2,")
    # without the recorded threshold both fail (the gate failed)
    result = GateResult.decide("vuln", findings, fail_on=Severity.HIGH)
    lines = render("github", [result], ReportContext()).splitlines()
    assert lines[1].startswith("::error file=req.txt,line=2,")
