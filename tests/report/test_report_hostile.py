"""Hostile names through every format: no line of any report can act as a workflow command, no
control character reaches a terminal, and the machine formats still carry the exact data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from report_checks import junit_schema_errors, log_lines, parse_v1, parse_v2, runner_commands

from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.report import FORMATS, ReportContext, render
from edgegate.report._sanitize import is_workflow_command

HOSTILE = [
    "web\n::stop-commands::x",
    "a\r::error file=x::injected",
    "\x1b[2J\x1b]0;title\x07red\x1b[31m",
    "##[set-env name=X;]y and ##[error]z",
    "sep\u2028::warning::u2028 \u0085::notice::nel",
    "bidi \u202egnp.exe",
    "  ::add-mask::secret",
    "%0A::error::escaped-looking",
]
_RULES = ["EGX001", "EGX002"]


def hostile_results() -> list[GateResult]:
    findings = []
    for i, name in enumerate(HOSTILE):
        findings.append(
            Finding(
                f"gate{i % 2}",
                _RULES[i % 2],
                (Severity.CRITICAL, Severity.MEDIUM, Severity.INFO)[i % 3],
                f"Deployment/{name}: image {name} is bad",
                Location(f"k8s/{name}.yaml", i + 1, 2, f"/metadata/name{name}"),
                title=f"Title {name}",
                details={"workload": name, "document": i},
                blocking=i % 3 != 2,
            )
        )
    by_gate: dict[str, list[Finding]] = {}
    for f in findings:
        by_gate.setdefault(f.gate, []).append(f)
    results = [GateResult.decide(g, fs, stats={"tables": [{"title": HOSTILE[0], "columns": ["name", HOSTILE[2]],
                                                             "rows": [[n, n] for n in HOSTILE]}]})
               for g, fs in by_gate.items()]
    results.append(GateResult.decide(f"gate-{HOSTILE[0]}", [], errors=[f"cannot read {HOSTILE[1]}"]))
    return results


OURS = {"error", "warning", "notice"}
ANNOTATION_PROPERTIES = {"file", "line", "col", "title"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_line_of_any_format_is_a_workflow_command(fmt: str) -> None:
    text = render(fmt, hostile_results(), ReportContext(command=f"edgegate {HOSTILE[0]}"))
    lines = log_lines(text)
    assert not any(parse_v1(ln) for ln in lines), [ln for ln in lines if parse_v1(ln)]
    if fmt != "github":
        assert runner_commands(lines) == [], [ln for ln in lines if parse_v2(ln)]
        assert not any(is_workflow_command(ln) for ln in lines)
    else:
        commands = runner_commands(lines)
        # only edgegate's own annotations, each one line with known properties
        assert commands and {c.name for c in commands} <= OURS
        assert all(set(c.properties) <= ANNOTATION_PROPERTIES for c in commands)
        assert all("\n" not in c.data and "\r" not in c.data for c in commands)
        own = [ln for ln in lines if ln.startswith(("::error ", "::warning ", "::notice "))]
        assert len(own) == len(commands)
    if fmt in ("text", "markdown", "github"):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\u2028" not in text


def test_machine_formats_keep_the_exact_data() -> None:
    results = hostile_results()
    ctx = ReportContext()
    data = json.loads(render("json", results, ctx))
    messages = {f["message"] for g in data["gates"] for f in g["findings"]}
    assert {f.message for r in results for f in r.findings} == messages  # "##[" and controls intact
    sarif = json.loads(render("sarif", results, ctx))
    assert {r["message"]["text"] for r in sarif["runs"][0]["results"]} == messages
    from lxml import etree

    xml = render("junit", results, ctx)
    assert junit_schema_errors(xml) == {"ant": [], "jenkins": []}
    root = etree.fromstring(xml.encode("utf-8"))
    failures = " ".join(f.text or "" for f in root.iter("failure"))
    assert "##[set-env name=X;]y" in failures and "\n::stop-commands::x" in failures


def test_hostile_values_are_shown_visibly_in_text() -> None:
    text = render("text", hostile_results(), ReportContext())
    assert "web\\x0a:" in text or "web\\x0a" in text  # the newline is shown, not obeyed
    assert "\\x1b[2J" in text
    assert "\\u202e" in text


def _tmux_capture(args: list[str], cwd: Path, width: int, tmp: Path) -> list[str]:
    session = f"edgegate-test-{width}-{time.monotonic_ns()}"
    done = tmp / f"done-{width}"
    cmd = " ".join([sys.executable, "-m", "edgegate", *args]) + f"; touch {done}; sleep 60"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y", "400", "-c", str(cwd),
                    "-e", "NO_COLOR=1", cmd], check=True, timeout=30)
    try:
        deadline = time.monotonic() + 120
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert done.exists(), "edgegate did not finish in the terminal"
        out = subprocess.run(["tmux", "capture-pane", "-p", "-t", session, "-S", "-", "-E", "-"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=30)
    return out.rstrip("\n").splitlines()


@pytest.mark.parametrize("width", [80, 60])
def test_example_text_report_in_a_real_terminal(width: int, root_dir: Path, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (scripts/fixtures/ci-setup.sh installs it)")
    from rich.cells import cell_len

    lines = _tmux_capture(["check", "examples/edge-app"], root_dir, width, tmp_path)
    assert lines and lines[-1].startswith("FAILED: ")
    assert max(cell_len(ln) for ln in lines) <= width
    joined = "\n".join(lines)
    # words from the inputs are never broken inside
    for word in ("batch-embedder", "PYSEC-2023-192", "ai-inference-service", "lobby-face-matcher", "3,963.02"):
        assert word in joined, word
    summary = lines[1 : lines.index("") if "" in lines else 12]
    gates = [ln.split()[0] for ln in summary[2:] if ln and ln.split()[0] in
             ("policy", "sbom", "vuln", "verify", "model-scan", "model-quant", "model-bias", "cost")]
    assert sorted(gates) == sorted(set(gates)) and len(gates) == 8  # one summary row per gate
    status = {ln.split()[0]: ln.split()[1] for ln in summary[2:] if ln.split() and ln.split()[0] in gates}
    assert status["model-quant"] == "FAILED" and status["sbom"] == "PASSED"
