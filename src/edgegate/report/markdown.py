"""A Markdown summary sized for a pull-request comment or a GitHub step summary.

Verdict, a per-gate table, gate errors, the most important findings (capped at
`MAX_FINDINGS`, then "and N more") and the gates' ``stats["tables"]``. Text from findings is
escaped so it cannot break a table or inject HTML.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edgegate.findings import Finding, GateResult, Status
from edgegate.report._common import (
    SEVERITIES,
    cell,
    is_failing,
    plural,
    printable,
    repo_path,
    severity_counts,
    source_root,
    tables,
    verdict,
)

if TYPE_CHECKING:
    from edgegate.report import ReportContext

MAX_FINDINGS = 50
MAX_TABLE_ROWS = 100
MAX_CELL = 300
MAX_CHARS = 60_000
"""GitHub refuses comments over 65,536 characters; the summary is cut (at a line) below that."""

_ICON = {"passed": "✅", "failed": "❌", "error": "⚠️"}


def escape(text: str, limit: int = MAX_CELL) -> str:
    """`text` safe inside a Markdown table cell: HTML-escaped, pipes and Markdown punctuation
    escaped, newlines as ``<br>``, cut at `limit` characters."""
    text = printable(str(text))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = html.escape(text, quote=False)
    for ch in "\\`*_[]|~":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def _code(text: str) -> str:
    """`text` as inline code (backticks in it are replaced, pipes escaped for tables)."""
    return "`" + text.replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def _location(f: Finding, root: Path) -> str:
    loc = f.location
    if not loc.path:
        return "—"
    out = repo_path(loc.path, root)
    if loc.line:
        out += f":{loc.line}"
    return _code(out)


def _severity(f: Finding, failing: bool) -> str:
    text = f.severity.value
    if failing:
        return f"**{text}**"
    return f"{text} (warning)" if not f.blocking else text


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The Markdown summary."""
    v = verdict(results)
    lines: list[str] = [
        f"## {_ICON[v.name]} edgegate: {v.label}",
        "",
        f"`{ctx.command}` exited with code {v.exit_code}: {v.meaning}.",
        "",
    ]
    if not results:
        lines += ["No gate ran.", ""]
        return "\n".join(lines)

    header = ["Gate", "Status", *(s.value.capitalize() for s in SEVERITIES), "Errors"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---", "---"] + ["--:"] * (len(SEVERITIES) + 1)) + "|")
    for r in results:
        counts = severity_counts(r.findings)
        status = f"{_ICON[r.status.value]} {r.status.value}"
        row = [escape(r.gate), status, *(str(counts[s]) for s in SEVERITIES), str(len(r.errors))]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")

    errored = [(r.gate, e) for r in results for e in r.errors]
    if errored:
        lines += ["### Gate errors", ""]
        lines += [f"- **{escape(g)}**: {escape(e, 1000)}" for g, e in errored]
        lines.append("")

    ranked = sorted(
        ((r, f) for r in results for f in r.findings),
        key=lambda rf: (
            not is_failing(rf[0], rf[1]),
            -rf[1].severity.rank,
            rf[1].location.path or "\uffff",
            rf[1].location.line or 0,
            rf[1].rule_id,
        ),
    )
    if ranked:
        failing = sum(1 for r, f in ranked if is_failing(r, f))
        lines += [
            f"### Findings ({len(ranked)}, {failing} failing)",
            "",
            "| Location | Severity | Rule | Message |",
            "|---|---|---|---|",
        ]
        root = source_root(ctx.root)
        for r, f in ranked[:MAX_FINDINGS]:
            rule = _code(f.rule_id)
            if f.title:
                rule += f" {escape(f.title, 80)}"
            lines.append(
                f"| {_location(f, root)} | {_severity(f, is_failing(r, f))} | {rule} | {escape(f.message)} |"
            )
        if len(ranked) > MAX_FINDINGS:
            rest = len(ranked) - MAX_FINDINGS
            lines += ["", f"_…and {plural(rest, 'more finding')} (see the full report)._"]
        lines.append("")

    for r in results:
        for t in tables(r):
            title = f"{r.gate}: {t.title}" if t.title else r.gate
            lines += [f"### {escape(title, 200)}", ""]
            if not t.columns:
                lines += ["_(empty table)_", ""]
                continue
            lines.append("| " + " | ".join(escape(c, 100) for c in t.columns) + " |")
            lines.append("|" + "|".join("---" for _ in t.columns) + "|")
            for row in t.rows[:MAX_TABLE_ROWS]:
                cells = [escape(cell(x)) for x in row[: len(t.columns)]]
                cells += [""] * (len(t.columns) - len(cells))
                lines.append("| " + " | ".join(cells) + " |")
            if len(t.rows) > MAX_TABLE_ROWS:
                lines += ["", f"_…and {plural(len(t.rows) - MAX_TABLE_ROWS, 'more row')}._"]
            lines.append("")

    passed = sum(1 for r in results if r.status is Status.PASSED)
    footer = f"<sub>{plural(len(results), 'gate')}, {passed} passed.</sub>"
    text = "\n".join(lines) + "\n"
    if len(text) + len(footer) > MAX_CHARS:
        text = text[: text.rfind("\n", 0, MAX_CHARS - 200) + 1]
        text += "\n_…summary cut to fit a pull-request comment; see the full report._\n\n"
    return text + footer + "\n"
