"""The markdown reporter: verdict, gate table, capped findings table, escaping, tables."""

from __future__ import annotations

from pathlib import Path

from report_samples import all_results, passing_results

from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.report import ReportContext, render
from edgegate.report.markdown import MAX_FINDINGS, TOP_FINDINGS, escape


def _md(results: list[GateResult]) -> str:
    return render("markdown", results, ReportContext(command="edgegate check", root=Path.cwd()))


def test_markdown_summary_content() -> None:
    md = _md(all_results())
    lines = md.splitlines()
    assert lines[0] == "<!-- edgegate-report -->"  # the sticky-comment marker
    assert lines[1] == "## ⚠️ edgegate: ERROR"
    assert "`edgegate check` exited with code 2: a gate could not decide." in lines
    assert "| Gate | Status | Critical | High | Medium | Low | Info | Errors |" in lines
    assert "| policy | ❌ failed | 1 | 2 | 2 | 1 | 1 | 0 |" in lines
    assert "| cost | ✅ passed | 0 | 0 | 0 | 0 | 0 | 0 |" in lines
    assert "| vuln | ⚠️ error | 0 | 1 | 0 | 0 | 0 | 1 |" in lines
    assert "- **vuln**: cannot read the advisory database: db/osv.sqlite: no such file" in lines
    assert "### Top findings (10 of 10)" in lines
    assert lines.index("### Top findings (10 of 10)") < lines.index("<details>")  # top findings first
    rows = [ln for ln in lines if ln.startswith("| `") or ln.startswith("| —")]
    # failing findings first, most severe first
    assert rows[0] == (
        "| `k8s/edge-ai.yaml:7` | **critical** | `EGP001` Model on the deny list | "
        "model facial-recognition-v3 is prohibited by ai-alignment-policy-vision-sensitive |"
    )
    assert rows[1].startswith("| `k8s/deployment.yaml:21` | **high** | `EGP002` Image pinned by digest |")
    # escaping: CR/LF → <br>, HTML escaped, pipes and markup escaped
    tricky = next(r for r in rows if "EGP003" in r)
    assert tricky.endswith(
        # CR LF shown visibly (a value is one line), HTML and table syntax escaped
        "| 100% sure: a, b\\\\x0d\\\\x0anext line &lt;b&gt;&amp;&lt;/b&gt; \\| \\`tick\\` \\[red\\]markup\\[/red\\] ::error::x |"
    )
    nofile = next(r for r in rows if "EGP006" in r)
    assert nofile == "| — | **medium** | `EGP006` | no location at all |"
    warn = next(r for r in rows if "EGP004" in r)
    assert warn.startswith("| `k8s/knative service.yaml:4` | low (warning) | `EGP004` Cost annotations present |")
    assert "modèle facial-recognition-v3 interdit — 顔認識 ✓" in md
    # the gate's table
    i = lines.index("#### cost: Cost per workload")
    assert lines[i + 2 : i + 7] == [
        "| workload | USD/month | within cap |",
        "|---|---|---|",
        "| vision-analytics | 412.5 | yes |",
        "| a\\|b &lt;script&gt; |  | no |",
        "| ratio | 0.3333 | yes |",
    ]
    assert "<script>" not in md


def test_markdown_caps_findings() -> None:
    many = [
        Finding("vuln", f"CVE-2024-{i:04d}", Severity.MEDIUM, f"finding {i}", Location("req.txt", i + 1))
        for i in range(TOP_FINDINGS + MAX_FINDINGS + 7)
    ]
    md = _md([GateResult.decide("vuln", many)])
    rows = [ln for ln in md.splitlines() if ln.startswith("| `req.txt")]
    assert len(rows) == TOP_FINDINGS + MAX_FINDINGS  # the top ones, then the rest (capped) folded
    assert "_…and 7 more findings (see the full report)._" in md
    assert len(md) < 20_000  # fits a PR comment easily


def test_markdown_passed_and_empty() -> None:
    md = _md(passing_results())
    assert md.startswith("<!-- edgegate-report -->\n## ✅ edgegate: PASSED\n")
    assert "findings (" not in md.lower()
    assert "<sub>edgegate 2 gates, 2 passed.</sub>" in md
    assert "No gate ran." in _md([])


def test_escape_limits_length() -> None:
    assert escape("x" * 400, 10) == "x" * 9 + "…"
    assert escape("a_b*c~d") == "a\\_b\\*c\\~d"


def test_markdown_stays_under_the_comment_limit() -> None:
    from edgegate.report.markdown import MAX_CHARS

    wide = {
        "title": "huge",
        "columns": [f"c{i}" for i in range(12)],
        "rows": [["x" * 400] * 12 for _ in range(100)],
    }
    md = _md([GateResult.decide("cost", [], stats={"tables": [wide]})])
    assert len(md) <= MAX_CHARS
    assert "_…summary cut to fit a pull-request comment; see the full report._" in md
    assert md.endswith("<sub>edgegate 1 gate, 1 passed.</sub>\n")
    assert md.startswith("<!-- edgegate-report -->\n## ✅ edgegate: PASSED")
    assert md.count("<details>") == md.count("</details>")


def test_markdown_links_files_at_the_commit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    monkeypatch.setenv("GITHUB_SHA", "0123abc")
    md = _md(all_results())
    assert "[`k8s/edge-ai.yaml:7`](https://github.example/acme/app/blob/0123abc/k8s/edge-ai.yaml#L7)" in md
    assert "(https://github.example/acme/app/blob/0123abc/k8s/knative%20service.yaml#L4)" in md
    monkeypatch.delenv("GITHUB_SHA")
    assert "https://github.example" not in _md(all_results())
