"""The human report (rich): a summary table per gate, findings grouped by file, gate errors,
the gates' tables, and a verdict line with the exit code's meaning.

`print_report` writes to the terminal (colour when stdout is a terminal or ``ctx.color`` is
True); `render` returns plain text with no colour codes, for files. Text from findings is never
read as rich markup.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console, Group
from rich.text import Text

from edgegate.findings import Finding, GateResult, Severity, Status
from edgegate.report._common import SEVERITIES, Writer, cell, plural, tables, write_stream
from edgegate.report._layout import layout, render_rows, shorten, wrap
from edgegate.report._prepare import ALSO_KEY, Prepared, Shown, prepare
from edgegate.report._sanitize import visible

if TYPE_CHECKING:
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


def _defused(line: Text) -> Text:
    """`line` with no way for the Actions runner to read it as a workflow command."""
    plain = line.plain
    if plain.lstrip().startswith("::"):
        at = len(plain) - len(plain.lstrip())
        line = line[: at + 1] + Text("\\") + line[at + 1 :]
        plain = line.plain
    while "##[" in plain:
        at = plain.index("##[")
        line = line[: at + 2] + Text(" ") + line[at + 2 :]
        plain = line.plain
    return line


_SHORT = {"Critical": "Crit", "Medium": "Med", "Errors": "Err"}


def _summary(view: Prepared, width: int) -> list[Text]:
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
    out: list[Text] = []
    head = Text()
    for k, (i, w) in enumerate(zip(laid.columns, laid.widths, strict=True)):
        h = headers[i]
        cell = h.rjust(w) if i >= 2 else h.ljust(w)
        head.append(("" if k == 0 else " " * 2) + cell, style="bold")
    out.append(Text(head.plain.rstrip(), style="bold"))
    total = sum(laid.widths) + 2 * (len(laid.widths) - 1)
    out.append(Text("─" * total, style="dim"))
    for g, row in zip(view.gates, rows, strict=True):
        line = Text()
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
        out.append(Text(f"{plural(merged, 'finding')} also seen by another gate shown once (see 'also:').", style="dim"))
    if laid.dropped:
        out.append(Text(f"(not shown at this width: {', '.join(laid.dropped)})", style="dim"))
    return out


def _severity_text(s: Shown) -> Text:
    label = s.finding.severity.value
    if not s.failing:
        return Text(f"{label} (warn)", style="dim")
    return Text(label, style=_SEVERITY_STYLE[s.finding.severity])


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


def _findings(view: Prepared, width: int) -> Iterator[Text]:
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
                yield Text("")
            current = group
            count, *widths = groups[group]
            head = Text(shorten(visible(group), max(width - 16, 10)), style="bold underline")
            head.append(f"  ({plural(count, 'finding')})", style="dim")
            yield head
            fixed = 2 + sum(w + 2 for w in widths)
            wide = width - fixed >= MIN_MESSAGE_WIDTH
        s = view.gates[gi].items.at(pos)
        where, sev, rule = visible(_where(s.gate, s.finding)), _severity_text(s), visible(s.finding.rule_id)
        head = Text("  ")
        head.append(where.ljust(widths[0]) if wide else where)
        head.append("  ")
        head.append_text(sev)
        head.append(" " * (widths[1] - sev.cell_len + 2) if wide else "  ")
        head.append(rule, style="bold")
        message, note = _message(s.finding)
        if wide:
            indent = fixed
            head.append(" " * (widths[2] - len(rule) + 2))
        else:  # narrow terminal: the message goes under its location
            yield head
            indent = 4
            head = Text(" " * indent)
        room = max(width - indent, 8)
        lines = [Text(t) for t in wrap(message, room)]
        if note:
            lines += [Text(t, style="dim") for t in wrap(note, room)]
        for n, line in enumerate(lines):
            row = head.copy() if n == 0 else Text(" " * indent)
            row.append_text(line)
            yield row
    if current is not None:
        yield Text("")


def _errors(view: Prepared) -> list[Text]:
    out: list[Text] = []
    for g in view.gates:
        for err in g.errors:
            line = Text("ERROR ", style="bold magenta")
            line.append(f"{visible(g.gate)}: ", style="bold")
            line.append(visible(err))
            out.append(line)
    if out:
        out.insert(0, Text("Gate errors (these gates could not decide):", style="bold magenta"))
        out.append(Text(""))
    return out


def _tables(view: Prepared, width: int) -> list[Text]:
    out: list[Text] = []
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
            out += [Text(line, style="bold") for line in wrap(visible(title), width)]
            if laid.dropped:
                out.append(Text(f"(not shown at this width: {', '.join(laid.dropped)})", style="dim"))
            out += [Text(line, style="bold") for line in render_rows(headers, laid)]
            out.append(Text("─" * (sum(laid.widths) + 2 * (len(laid.widths) - 1)), style="dim"))
            for r in rows:
                out += [Text(line) for line in render_rows(r, laid)]
            out.append(Text(""))
    return out


def _verdict(view: Prepared) -> Text:
    v = view.verdict
    gates = view.gates
    failed = sum(1 for g in gates if g.status is Status.FAILED)
    errored = sum(1 for g in gates if g.status is Status.ERROR)
    line = Text(v.label, style=_VERDICT_STYLE[v.name])
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
    line.append(f": {detail} (exit code {v.exit_code}: {v.meaning})")
    return line


def iter_lines(results: Sequence[GateResult], ctx: ReportContext, width: int) -> Iterator[Text]:
    """The whole report, line by line, each of at most `width` cells."""
    view = prepare(results, ctx)
    width = max(width, 20)
    parts: list[Text] = [Text(visible(ctx.command), style="bold")]
    if view.gates:
        parts += _summary(view, width)
    parts.append(Text(""))
    parts += _errors(view)
    yield from (_defused(p) for p in parts)
    yield from (_defused(p) for p in _findings(view, width))
    parts = _tables(view, width)
    verdict_line = _verdict(view)
    label = len(view.verdict.label)
    for n, piece in enumerate(wrap(verdict_line.plain, width)):
        parts.append(Text(piece[:label], style=_VERDICT_STYLE[view.verdict.name]) + Text(piece[label:]) if n == 0 else Text(piece))
    yield from (_defused(p) for p in parts)


def lines(results: Sequence[GateResult], ctx: ReportContext, width: int) -> list[Text]:
    """The whole report as lines of at most `width` cells."""
    return list(iter_lines(results, ctx, width))


_BATCH = 2000
"""Lines laid out by rich at a time when writing."""


def _batches(results: Sequence[GateResult], ctx: ReportContext, console: Console) -> Iterator[Group]:
    batch: list[Text] = []
    for line in iter_lines(results, ctx, console.width):
        line.no_wrap = True
        line.overflow = "ignore"
        batch.append(line)
        if len(batch) >= _BATCH:
            yield Group(*batch)
            batch = []
    if batch:
        yield Group(*batch)


def renderables(results: Sequence[GateResult], ctx: ReportContext, console: Console) -> Group:
    """The whole report as one rich renderable, laid out for `console`'s width."""
    return Group(*_batches(results, ctx, console))


def _console(file: TextIO, *, color: bool, width: int | None = None) -> Console:
    return Console(
        file=file,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        emoji=False,
        markup=False,
        width=width,
        soft_wrap=False,
    )


def write(results: Sequence[GateResult], ctx: ReportContext, out: Writer) -> None:
    """Write the report as plain text (no colour codes), `FILE_WIDTH` columns wide, to `out`
    a batch of lines at a time (the same text as `render`)."""
    buf = io.StringIO()
    console = _console(buf, color=False, width=FILE_WIDTH)
    for batch in _batches(results, ctx, console):
        console.print(batch)
        out.write("".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines()))
        buf.seek(0)
        buf.truncate()


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
    width = None if _isatty(out) or os.environ.get("COLUMNS") else FILE_WIDTH
    console = _console(out, color=color, width=width)
    for batch in _batches(results, ctx, console):
        with console.capture() as captured:
            console.print(batch)
        write_stream(out, captured.get())


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
