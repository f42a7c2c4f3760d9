"""A Markdown summary sized for a pull-request comment or a GitHub step summary.

First the verdict and the top findings (failing and most severe first, `TOP_FINDINGS` of them),
then everything else inside ``<details>``: the per-gate table, gate errors, the remaining
findings (capped at `MAX_FINDINGS`) and the gates' ``stats["tables"]``. Locations link to the
file at the commit when ``GITHUB_SERVER_URL``, ``GITHUB_REPOSITORY`` and ``GITHUB_SHA`` are set.
The first line is a hidden marker (`MARKER`) so a workflow step can find and update one sticky
comment instead of adding a new one. Text from findings is escaped so it cannot break a table,
inject HTML or act as a workflow command when printed to a log.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote

from edgegate.findings import Finding, GateResult, Status
from edgegate.report._common import SEVERITIES, cell, plural, severity_counts, tables
from edgegate.report._prepare import ALSO_KEY, Prepared, Shown, prepare
from edgegate.report._sanitize import defuse_lines, visible

if TYPE_CHECKING:
    from edgegate.report import ReportContext

MARKER = "<!-- edgegate-report -->"
"""The hidden first line of every Markdown report (find it to update a sticky comment)."""
TOP_FINDINGS = 10
MAX_FINDINGS = 50
MAX_TABLE_ROWS = 100
MAX_CELL = 300
MAX_CHARS = 60_000
"""GitHub refuses comments over 65,536 characters; the summary is cut (at a line) below that."""

_ICON = {"passed": "✅", "failed": "❌", "error": "⚠️"}


def escape(text: str, limit: int = MAX_CELL) -> str:
    """`text` safe inside a Markdown table cell: HTML-escaped, pipes and Markdown punctuation
    escaped, newlines as ``<br>``, cut at `limit` characters."""
    text = visible(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = html.escape(text, quote=False)
    for ch in "\\`*_[]|~":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def _code(text: str) -> str:
    """`text` as inline code (backticks in it are replaced, pipes escaped for tables)."""
    return "`" + visible(text).replace("`", "'").replace("|", "\\|") + "`"


def _blob_base() -> str | None:
    server = os.environ.get("GITHUB_SERVER_URL", "").rstrip("/")
    repo = os.environ.get("GITHUB_REPOSITORY", "").strip("/")
    sha = os.environ.get("GITHUB_SHA", "")
    if not (server.startswith(("https://", "http://")) and repo and sha):
        return None
    return f"{server}/{quote(repo)}/blob/{quote(sha)}/"


def _location(f: Finding, base: str | None) -> str:
    loc = f.location
    if not loc.path:
        return "—"
    out = loc.path + (f":{loc.line}" if loc.line else "")
    if base and not loc.path.startswith("/"):
        anchor = f"#L{loc.line}" if loc.line else ""
        return f"[{_code(out)}]({base}{quote(loc.path)}{anchor})"
    return _code(out)


def _severity(s: Shown) -> str:
    text = s.finding.severity.value
    return f"**{text}**" if s.failing else f"{text} (warning)"


def _ranked(view: Prepared) -> list[Shown]:
    return sorted(
        view.shown(),
        key=lambda s: (
            not s.failing,
            -s.finding.severity.rank,
            s.finding.location.path or "\uffff",
            s.finding.location.line or 0,
            s.finding.rule_id,
        ),
    )


def _finding_rows(items: Sequence[Shown], base: str | None) -> list[str]:
    lines = ["| Location | Severity | Rule | Message |", "|---|---|---|---|"]
    for s in items:
        f = s.finding
        rule = _code(f.rule_id)
        if f.title and len(f.title) <= 80:
            rule += f" {escape(f.title, 80)}"
        message = escape(f.message)
        also = f.details.get(ALSO_KEY) if f.details else None
        if isinstance(also, list) and also:
            rules = dict.fromkeys(str(a.get("rule_id")) for a in also if isinstance(a, dict))
            message += " (also: " + ", ".join(_code(r) for r in rules) + ")"
        lines.append(f"| {_location(f, base)} | {_severity(s)} | {rule} | {message} |")
    return lines


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The Markdown summary."""
    view = prepare(results, ctx)
    v = view.verdict
    base = _blob_base()
    lines: list[str] = [
        MARKER,
        f"## {_ICON[v.name]} edgegate: {v.label}",
        "",
        f"{_code(ctx.command)} exited with code {v.exit_code}: {v.meaning}.",
        "",
    ]
    if not view.gates:
        lines += ["No gate ran.", ""]
        return "\n".join(lines) + "\n"
    gates = view.gates
    failed = [g.gate for g in gates if g.status is not Status.PASSED]
    ranked = _ranked(view)
    failing = sum(1 for s in ranked if s.failing)
    summary = f"{plural(len(gates), 'gate')}, {len(gates) - len(failed)} passed"
    if failed:
        summary += "; not passed: " + ", ".join(f"**{escape(g)}**" for g in failed)
    lines += [f"{summary}. {plural(len(ranked), 'finding')}, {failing} failing.", ""]

    errored = [(g.gate, e) for g in gates for e in g.errors]
    if errored:
        lines += ["### Gate errors", ""]
        lines += [f"- **{escape(g)}**: {escape(e, 1000)}" for g, e in errored]
        lines.append("")
    top = ranked[:TOP_FINDINGS]
    if top:
        lines += [f"### Top findings ({len(top)} of {len(ranked)})", ""]
        lines += _finding_rows(top, base)
        lines.append("")

    lines += ["<details>", "<summary>Gates, all findings and tables</summary>", ""]
    header = ["Gate", "Status", *(s.value.capitalize() for s in SEVERITIES), "Errors"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---", "---"] + ["--:"] * (len(SEVERITIES) + 1)) + "|")
    for g in gates:
        counts = severity_counts(g.findings)
        status = f"{_ICON[g.status.value]} {g.status.value}"
        row = [escape(g.gate), status, *(str(counts[s]) for s in SEVERITIES), str(len(g.errors))]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    rest = ranked[TOP_FINDINGS:]
    if rest:
        lines += [f"#### More findings ({len(rest)})", ""]
        lines += _finding_rows(rest[:MAX_FINDINGS], base)
        if len(rest) > MAX_FINDINGS:
            lines += ["", f"_…and {plural(len(rest) - MAX_FINDINGS, 'more finding')} (see the full report)._"]
        lines.append("")
    for g in gates:
        for t in tables(GateResult(g.gate, g.status, stats=g.stats)):
            title = f"{g.gate}: {t.title}" if t.title else g.gate
            lines += [f"#### {escape(title, 200)}", ""]
            if not t.columns:
                lines += ["_(empty table)_", ""]
                continue
            lines.append("| " + " | ".join(escape(c, 100) for c in t.columns) + " |")
            lines.append("|" + "|".join("---" for _ in t.columns) + "|")
            for r in t.rows[:MAX_TABLE_ROWS]:
                cells = [escape(cell(x)) for x in r[: len(t.columns)]]
                cells += [""] * (len(t.columns) - len(cells))
                lines.append("| " + " | ".join(cells) + " |")
            if len(t.rows) > MAX_TABLE_ROWS:
                lines += ["", f"_…and {plural(len(t.rows) - MAX_TABLE_ROWS, 'more row')}._"]
            lines.append("")
    lines += ["</details>", ""]

    footer = f"<sub>edgegate {plural(len(gates), 'gate')}, {len(gates) - len(failed)} passed.</sub>"
    text = defuse_lines("\n".join(lines) + "\n", markdown=True)
    if len(text) + len(footer) > MAX_CHARS:
        text = text[: text.rfind("\n", 0, MAX_CHARS - 300) + 1]
        text += "\n</details>\n\n_…summary cut to fit a pull-request comment; see the full report._\n\n"
    return text + footer + "\n"
