"""The human report (rich): a summary table per gate, findings grouped by file, gate errors,
the gates' tables, and a verdict line with the exit code's meaning.

`print_report` writes to the terminal (colour when stdout is a terminal or ``ctx.color`` is
True); `render` returns plain text with no colour codes, for files. Text from findings is never
read as rich markup. Plain text is made without rich where rich would print a line unchanged
(printable text within the width), which is most lines: the same bytes at a fraction of the time.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from rich.cells import cell_len

from edgegate.findings import Finding, GateResult, Severity, Status
from edgegate.report._common import SEVERITIES, Writer, cell, plural, tables, write_stream
from edgegate.report._layout import layout, render_rows, shorten, wrap
from edgegate.report._lines import Line, defused, make_console, printed, unchanged_by_rich
from edgegate.report._prepare import ALSO_KEY, Prepared, Shown, prepare
from edgegate.report._sanitize import defuse_lines, visible

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from edgegate.report import ReportContext

FILE_WIDTH = 120
"""Line width of the report when written to a file."""

_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
_COUNT_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "blue",
}
_STATUS_STYLE = {Status.PASSED: "bold green", Status.FAILED: "bold red", Status.ERROR: "bold magenta"}
_VERDICT_STYLE = {"passed": "bold green", "failed": "bold red", "error": "bold magenta"}
NO_FILE = "(no file)"


_SHORT = {"Critical": "Crit", "Medium": "Med", "Errors": "Err"}


def _summary(view: Prepared, width: int) -> list[Line]:
    headers = ["Gate", "Status", *(sev.value.capitalize() for sev in SEVERITIES), "Errors"]
    rows: list[list[str]] = []
    for g in view.gates:
        counts = dict.fromkeys(SEVERITIES, 0)
        for sev in g.severities():
            counts[sev] += 1
        rows.append([visible(g.gate), g.status.value.upper(), *(str(counts[s]) for s in SEVERITIES), str(len(g.errors))])
    laid = layout(headers, rows, width)
    if laid.dropped:
        headers = [_SHORT.get(h, h) for h in headers]
        laid = layout(headers, rows, width)
    out: list[Line] = []
    head = "".join(
        ("" if k == 0 else " " * 2) + (headers[i].rjust(w) if i >= 2 else headers[i].ljust(w))
        for k, (i, w) in enumerate(zip(laid.columns, laid.widths, strict=True))
    )
    out.append(Line(head.rstrip(), style="bold"))
    total = sum(laid.widths) + 2 * (len(laid.widths) - 1)
    out.append(Line("─" * total, style="dim"))
    for g, row in zip(view.gates, rows, strict=True):
        line = Line()
        for k, (i, w) in enumerate(zip(laid.columns, laid.widths, strict=True)):
            if k:
                line.append("  ")
            value = row[i]
            if i == 0:
                line.append(shorten(value, w).ljust(w))
            elif i == 1:
                line.append(value.ljust(w), style=_STATUS_STYLE[g.status])
            else:
                style = "dim"
                if value != "0":
                    style = _COUNT_STYLE[SEVERITIES[i - 2]] if i - 2 < len(SEVERITIES) else "bold magenta"
                line.append(value.rjust(w), style=style)
        line.rstrip()
        out.append(line)
    merged = sum(g.merged_away for g in view.gates)
    if merged:
        out.append(Line(f"{plural(merged, 'finding')} also seen by another gate shown once (see 'also:').", style="dim"))
    if laid.dropped:
        out.append(Line(f"(not shown at this width: {', '.join(laid.dropped)})", style="dim"))
    return out


def _severity_text(s: Shown) -> tuple[str, str]:
    label = s.finding.severity.value
    if not s.failing:
        return f"{label} (warn)", "dim"
    return label, _SEVERITY_STYLE[s.finding.severity]


MIN_MESSAGE_WIDTH = 40
"""Below this many columns for the message, each finding's message goes on its own line."""


def _message(f: Finding) -> tuple[str, str]:
    also = f.details.get(ALSO_KEY) if f.details else None
    extra = ""
    if isinstance(also, list) and also:
        rules = dict.fromkeys(visible(a.get("rule_id")) for a in also if isinstance(a, dict))
        extra = "also: " + ", ".join(rules)
    pointer = visible(f.location.pointer) if f.location.pointer else ""
    return visible(f.message), "  ".join(x for x in (pointer, extra) if x)


def _where(gate: str, f: Finding) -> str:
    loc = f.location
    if not loc.path:
        return gate
    if loc.line:
        return f"{loc.line}:{loc.column}" if loc.column else str(loc.line)
    return "-"


def _order(view: Prepared) -> tuple[Iterator[tuple[Any, ...]], dict[str, list[int]]]:
    """The findings by file, line, column, most severe first (`sort_key` of the shown finding),
    as keys ending in (gate index, position), and per file: [count, widest location, widest
    severity, widest rule id]. Only what the order needs is made relative; many findings are
    ordered on disk (`edgegate.report._spill`)."""
    from edgegate.report import _spill

    rel = view.rel
    groups: dict[str, list[int]] = {}

    def keys() -> Iterator[tuple[Any, ...]]:
        for gi, g in enumerate(view.gates):
            for pos, f, failing in g.items.raw():
                loc = f.location
                path = rel.path(loc.path) if loc.path else None
                group = path or NO_FILE
                where = visible(_where(g.gate, f))
                sev = len(f.severity.value) + (0 if failing else len(" (warn)"))
                rule = visible(f.rule_id)
                stat = groups.get(group)
                if stat is None:
                    groups[group] = [1, len(where), sev, len(rule)]
                else:
                    stat[0] += 1
                    stat[1] = max(stat[1], len(where))
                    stat[2] = max(stat[2], sev)
                    stat[3] = max(stat[3], len(rule))
                yield (int(group == NO_FILE), group, path or "", loc.line or 0, loc.column or 0,
                       -f.severity.rank, f.rule_id, rel.text(f.message), gi, pos)

    return _spill.ordered(keys(), view.count(), 10), groups


def _findings(view: Prepared, width: int) -> Iterator[Line]:
    """Findings grouped by file: fixed columns, then the message wrapped under itself (at spaces
    and after '/', never inside a word)."""
    ordered, groups = _order(view)
    current: str | None = None
    widths: list[int] = []
    fixed = 0
    wide = False
    for key in ordered:
        group, gi, pos = key[1], key[8], key[9]
        if group != current:
            if current is not None:
                yield Line()
            current = group
            count, *widths = groups[group]
            head = Line(shorten(visible(group), max(width - 16, 10)), style="bold underline")
            head.append(f"  ({plural(count, 'finding')})", style="dim")
            yield head
            fixed = 2 + sum(w + 2 for w in widths)
            wide = width - fixed >= MIN_MESSAGE_WIDTH
        s = view.gates[gi].items.at(pos, details=False)  # only the 'also' references are shown
        where, sev, rule = visible(_where(s.gate, s.finding)), _severity_text(s), visible(s.finding.rule_id)
        head = Line("  ")
        head.append(where.ljust(widths[0]) if wide else where)
        head.append("  ")
        head.append(*sev)
        head.append(" " * (widths[1] - cell_len(sev[0]) + 2) if wide else "  ")
        head.append(rule, style="bold")
        message, note = _message(s.finding)
        if wide:
            indent = fixed
            head.append(" " * (widths[2] - len(rule) + 2))
        else:  # narrow terminal: the message goes under its location
            yield head
            indent = 4
            head = Line(" " * indent)
        room = max(width - indent, 8)
        lines = [(t, "") for t in wrap(message, room)]
        if note:
            lines += [(t, "dim") for t in wrap(note, room)]
        for n, (text, style) in enumerate(lines):
            row = head.copy() if n == 0 else Line(" " * indent)
            row.append(text, style)
            yield row
    if current is not None:
        yield Line()


def _errors(view: Prepared, width: int) -> list[Line]:
    """Each gate error whole: wrapped under itself (never cut at the width)."""
    out: list[Line] = []
    for g in view.gates:
        for err in g.errors:
            line = Line("ERROR ", style="bold magenta")
            line.append(f"{visible(g.gate)}: ", "bold")
            message = visible(err)
            if cell_len(line.plain) + cell_len(message) <= width:
                line.append(message)
                out.append(line)
                continue
            line.rstrip()
            out.append(line)
            out += [Line("    " + piece) for piece in wrap(message, max(width - 4, 8), whole=True)]
    if out:
        out.insert(0, Line("Gate errors (these gates could not decide):", style="bold magenta"))
        out.append(Line())
    return out


def _tables(view: Prepared, width: int) -> list[Line]:
    out: list[Line] = []
    for g in view.gates:
        for t in tables(GateResult(g.gate, g.status, stats=g.stats)):
            if not t.columns:
                continue
            title = f"{g.gate}: {t.title}" if t.title else g.gate
            headers = [visible(c) for c in t.columns]
            rows = [[visible(cell(x)) for x in r[: len(headers)]] + [""] * (len(headers) - len(r)) for r in t.rows]
            raw = g.stats.get("tables")
            optional: list[str] = []
            for item in raw if isinstance(raw, list) else []:
                if isinstance(item, dict) and item.get("title") == t.title and isinstance(item.get("optional"), list):
                    optional = [visible(c) for c in item["optional"]]
            laid = layout(headers, rows, width, optional)
            out += [Line(line, style="bold") for line in wrap(visible(title), width)]
            if laid.dropped:
                out.append(Line(f"(not shown at this width: {', '.join(laid.dropped)})", style="dim"))
            out += [Line(line, style="bold") for line in render_rows(headers, laid)]
            out.append(Line("─" * (sum(laid.widths) + 2 * (len(laid.widths) - 1)), style="dim"))
            for r in rows:
                out += [Line(line) for line in render_rows(r, laid)]
            out.append(Line())
    return out


def _verdict(view: Prepared) -> str:
    v = view.verdict
    gates = view.gates
    failed = sum(1 for g in gates if g.status is Status.FAILED)
    errored = sum(1 for g in gates if g.status is Status.ERROR)
    if not gates:
        detail = "no gate ran"
    elif v.name == "passed":
        detail = f"{plural(len(gates), 'gate')} passed"
    else:
        parts = []
        if errored:
            parts.append(f"{errored} errored")
        if failed:
            parts.append(f"{failed} failed")
        detail = f"{', '.join(parts)} of {plural(len(gates), 'gate')}"
    return f"{v.label}: {detail} (exit code {v.exit_code}: {v.meaning})"


def _lines(results: Sequence[GateResult], ctx: ReportContext, width: int) -> Iterator[Line]:
    """The whole report, line by line (not yet defused), each of at most `width` cells."""
    view = prepare(results, ctx)
    width = max(width, 20)
    yield Line(visible(ctx.command), style="bold")
    if view.gates:
        yield from _summary(view, width)
    yield Line()
    yield from _errors(view, width)
    yield from _findings(view, width)
    yield from _tables(view, width)
    label = len(view.verdict.label)
    for n, piece in enumerate(wrap(_verdict(view), width)):
        if n == 0:
            line = Line(piece[:label], style=_VERDICT_STYLE[view.verdict.name])
            line.append(piece[label:])
            yield line
        else:
            yield Line(piece)


def iter_lines(results: Sequence[GateResult], ctx: ReportContext, width: int) -> Iterator[Text]:
    """The whole report as rich `Text` lines, each of at most `width` cells."""
    return (defused(line.text()) for line in _lines(results, ctx, width))


def lines(results: Sequence[GateResult], ctx: ReportContext, width: int) -> list[Text]:
    """The whole report as lines of at most `width` cells."""
    return list(iter_lines(results, ctx, width))


_BATCH = 2000
"""Lines written at a time."""


def _rich_batches(results: Sequence[GateResult], ctx: ReportContext, console: Console) -> Iterator[str]:
    """The report as rich prints it on `console`, a batch of lines at a time."""
    batch: list[Text] = []
    for line in iter_lines(results, ctx, console.width):
        line.no_wrap = True
        line.overflow = "ignore"
        batch.append(line)
        if len(batch) >= _BATCH:
            yield printed(console, batch)
            batch = []
    if batch:
        yield printed(console, batch)


def _plain_batches(results: Sequence[GateResult], ctx: ReportContext, width: int) -> Iterator[str]:
    """The report without colour, `width` columns wide, a batch of lines at a time, each line
    with trailing spaces removed: the text rich prints (`_rich_batches`), made without rich for
    the lines rich would print unchanged (`unchanged_by_rich`) and through rich for the others."""
    console: Console | None = None
    batch: list[str] = []
    for line in _lines(results, ctx, width):
        plain = defuse_lines(line.plain)
        if unchanged_by_rich(plain, width):
            batch.append(plain.rstrip() + "\n")
        else:
            if console is None:
                console = make_console(io.StringIO(), color=False, width=width)
            text = defused(line.text())
            text.no_wrap = True
            text.overflow = "ignore"
            batch += [part.rstrip() + "\n" for part in printed(console, [text]).splitlines()]
        if len(batch) >= _BATCH:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def write(results: Sequence[GateResult], ctx: ReportContext, out: Writer) -> None:
    """Write the report as plain text (no colour codes), `FILE_WIDTH` columns wide, to `out`
    a batch of lines at a time (the same text as `render`)."""
    for chunk in _plain_batches(results, ctx, FILE_WIDTH):
        out.write(chunk)


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The report as plain text (no colour codes), `FILE_WIDTH` columns wide."""
    buf = io.StringIO()
    write(results, ctx, buf)
    return buf.getvalue()


def print_report(results: Sequence[GateResult], ctx: ReportContext, file: TextIO | None = None) -> None:
    """Print the report to `file` (stdout), in colour when it is a terminal or ``ctx.color``."""
    out = file if file is not None else sys.stdout
    if ctx.color is not None:
        color = ctx.color
    elif os.environ.get("NO_COLOR"):  # https://no-color.org: NO_COLOR beats FORCE_COLOR
        color = False
    elif os.environ.get("FORCE_COLOR"):
        color = True
    else:
        color = _isatty(out)
    # A pipe or CI log has no width of its own: lay out for FILE_WIDTH, not rich's 80 columns.
    # COLUMNS that is not a positive number (COLUMNS=0 printed blank lines) is not a width.
    columns = os.environ.get("COLUMNS", "")
    given = columns.isascii() and columns.isdigit() and 0 < int(columns) < 100_000
    width = int(columns) if given else (None if _isatty(out) else FILE_WIDTH)
    if not color and width is not None:  # a CI log: no console (rich.console) needed
        chunks = _plain_batches(results, ctx, width)
    else:
        console = make_console(out, color=color, width=width)
        chunks = _rich_batches(results, ctx, console) if color else _plain_batches(results, ctx, console.width)
    for chunk in chunks:
        write_stream(out, chunk)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
