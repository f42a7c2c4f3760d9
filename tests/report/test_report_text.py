"""The text reporter: summary table, findings by file, errors, tables, verdict; colour only on
terminals."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from report_samples import all_results, passing_results, policy_result

from edgegate.report import ReportContext, render
from edgegate.report.text import print_report

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _text(results: list, **kw: object) -> str:  # type: ignore[type-arg]
    return render("text", results, ReportContext(command="edgegate check", root=Path.cwd(), **kw))  # type: ignore[arg-type]


def _row(text: str, first: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.split()[:1] == [first])
    return line.split()


def test_text_summary_findings_errors_tables_verdict() -> None:
    out = _text(all_results())
    assert not ANSI.search(out)
    lines = out.splitlines()
    assert lines[0] == "edgegate check"
    assert lines[1].split() == ["Gate", "Status", "Critical", "High", "Medium", "Low", "Info", "Errors"]
    assert _row(out, "policy") == ["policy", "FAILED", "1", "2", "2", "1", "1", "0"]
    assert _row(out, "cost") == ["cost", "PASSED", "0", "0", "0", "0", "0", "0"]
    assert _row(out, "vuln") == ["vuln", "ERROR", "0", "1", "0", "0", "0", "1"]
    assert _row(out, "model-scan") == ["model-scan", "PASSED", "0", "0", "0", "1", "1", "0"]

    assert "ERROR vuln: cannot read the advisory database: db/osv.sqlite: no such file" in lines
    # findings grouped by file, in line order, with location, severity, rule and message
    assert "k8s/deployment.yaml  (3 findings)" in lines
    start = lines.index("k8s/deployment.yaml  (3 findings)")
    group = lines[start + 1 : start + 6]
    assert group[0].split()[:3] == ["12", "medium", "EGP003"]
    assert any(ln.split()[:4] == ["21:18", "high", "EGP002", "container"] for ln in group)
    assert any(ln.split()[:3] == ["30:18", "high", "EGP002"] for ln in group)
    # rich markup in a message is shown literally, not interpreted
    assert "[red]markup[/red]" in out
    # a non-blocking finding is marked
    warn = next(ln for ln in lines if "EGP004" in ln)
    assert warn.split()[:4] == ["4", "low", "(warn)", "EGP004"]
    assert "k8s/knative service.yaml  (1 finding)" in lines
    # findings without a file come last, under the gate name
    assert lines.index("(no file)  (1 finding)") > start
    assert any(ln.split()[:3] == ["policy", "medium", "EGP006"] for ln in lines)
    assert "modèle facial-recognition-v3 interdit — 顔認識 ✓" in out
    # the gate's table
    assert "cost: Cost per workload" in lines
    assert _row(out, "vision-analytics") == ["vision-analytics", "412.5", "yes"]
    assert _row(out, "ratio") == ["ratio", "0.3333", "yes"]
    assert lines[-1] == "ERROR: 1 errored, 1 failed of 4 gates (exit code 2: a gate could not decide)"
    assert all(ln == ln.rstrip() for ln in lines)


def test_text_verdicts() -> None:
    assert _text(passing_results()).splitlines()[-1] == "PASSED: 2 gates passed (exit code 0: every gate passed)"
    assert _text([policy_result()]).splitlines()[-1] == "FAILED: 1 failed of 1 gate (exit code 1: a gate failed)"
    assert _text([]).splitlines()[-1] == "PASSED: no gate ran (exit code 0: every gate passed)"


def test_render_never_colours_even_when_asked() -> None:
    assert not ANSI.search(_text(all_results(), color=True))


def test_print_report_colour_follows_ctx_and_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    buf = io.StringIO()
    print_report(all_results(), ReportContext(color=True), file=buf)
    coloured = buf.getvalue()
    assert ANSI.search(coloured)
    assert "FAILED" in ANSI.sub("", coloured)

    buf = io.StringIO()  # not a terminal, colour not forced: plain
    print_report(all_results(), ReportContext(), file=buf)
    assert not ANSI.search(buf.getvalue())

    class FakeTty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = FakeTty()
    print_report(all_results(), ReportContext(), file=tty)
    assert ANSI.search(tty.getvalue())

    monkeypatch.setenv("NO_COLOR", "1")
    tty = FakeTty()
    print_report(all_results(), ReportContext(), file=tty)
    assert not ANSI.search(tty.getvalue())


def test_print_report_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    print_report([policy_result()], ReportContext(command="edgegate policy lint"))
    out = capsys.readouterr().out
    assert out.startswith("edgegate policy lint\n")
    assert "FAILED: 1 failed of 1 gate" in out


def test_narrow_terminal_puts_messages_under_their_location(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    buf = io.StringIO()
    print_report([policy_result()], ReportContext(color=False), file=buf)
    lines = [ln.rstrip() for ln in buf.getvalue().splitlines()]
    assert all(len(ln) <= 50 for ln in lines)
    i = lines.index("  21:18  high  EGP002")
    assert lines[i + 1].startswith("    container 'web' image nginx:latest is not")
    assert lines[-2:] == ["FAILED: 1 failed of 1 gate (exit code 1: a gate", "failed)"]


def test_untrusted_control_characters_are_shown_not_obeyed(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgegate.findings import Finding, GateResult, Location, Severity

    evil = "pickle global \x1b]0;pwned\x07os.system\x1b[2J \u202eexe.txt\rX"
    f = Finding("model-scan", "EGM001\x1b[8m", Severity.CRITICAL, evil, Location("m\x1b[31m.pkl", 1))
    result = GateResult.decide("model-scan", [f], errors=["bad\x1b[0m file"])
    monkeypatch.setenv("COLUMNS", "200")
    buf = io.StringIO()
    print_report([result], ReportContext(color=True), file=buf)
    for out in (buf.getvalue(), _text([result])):
        plain = ANSI.sub("", out)
        assert "\x1b]0" not in out and "\x1b[2J" not in out and "\x07" not in out and "\r" not in out
        assert "\u202e" not in out
        assert "pickle global \\x1b]0;pwned\\x07os.system\\x1b[2J \\u202eexe.txt\\x0dX" in plain
        assert "m\\x1b[31m.pkl" in plain
        assert "EGM001\\x1b[8m" in plain
        assert "bad\\x1b[0m file" in plain


@pytest.mark.parametrize("width", [40, 120])
def test_a_long_gate_error_is_wrapped_not_cut(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgegate.findings import GateResult, Status

    words = [f"word{i}" for i in range(60)]
    results = [GateResult("policy", Status.ERROR, errors=[" ".join(words) + " END"])]
    monkeypatch.setenv("COLUMNS", str(width))
    buf = io.StringIO()
    print_report(results, ReportContext(command="edgegate check", color=False), buf)
    for out in (buf.getvalue(), _text(results)):
        lines = out.splitlines()
        start = next(i for i, ln in enumerate(lines) if ln.startswith("ERROR policy:"))
        block = []
        for ln in lines[start:]:
            if not ln:
                break
            block.append(ln)
        assert " ".join(" ".join(block).split()[2:]) == " ".join(words) + " END"


@pytest.mark.parametrize("width", [40, 120])
def test_a_long_word_in_a_gate_error_is_cut_into_lines_not_shortened(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by review: a digest longer than the line was shortened with '…'."""
    from edgegate.findings import GateResult, Status

    digest = "sha512:" + "0123456789abcdef" * 8
    joined_word = "\u200d" * 2 + "q" * 60  # zero-width joiners: cut by cells of the whole piece
    results = [GateResult("verify", Status.ERROR, errors=[f"expected {digest} got sha512:{'f' * 128} {joined_word}"])]
    monkeypatch.setenv("COLUMNS", str(width))
    buf = io.StringIO()
    print_report(results, ReportContext(command="edgegate check", color=False), buf)
    for out in (buf.getvalue(), _text(results)):
        assert "…" not in out
        joined = "".join(ln.strip() for ln in out.splitlines())
        assert digest in joined and "sha512:" + "f" * 128 in joined and joined_word in joined


@pytest.mark.parametrize("columns", ["0", "abc", "-5", "\u00b2", "99999999999999999"])
def test_columns_that_is_not_a_width_is_ignored(columns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """COLUMNS=0 printed only blank lines (found by review; older than the plain path)."""
    monkeypatch.setenv("COLUMNS", columns)
    buf = io.StringIO()
    print_report(all_results(), ReportContext(command="edgegate check", color=False), buf)
    assert buf.getvalue() == _text(all_results())
