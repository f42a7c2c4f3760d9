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
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from edgegate.findings import Finding, GateResult, Severity, Status
from edgegate.report._common import (
    SEVERITIES,
    cell,
    is_failing,
    plural,
    printable,
    severity_counts,
    sort_key,
    tables,
    verdict,
    write_stream,
)

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


def _summary(results: Sequence[GateResult]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
    table.add_column("Gate", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    for sev in SEVERITIES:
        table.add_column(sev.value.capitalize(), justify="right", no_wrap=True)
    table.add_column("Errors", justify="right", no_wrap=True)
    for r in results:
        counts = severity_counts(r.findings)
        row: list[RenderableType] = [
            Text(printable(r.gate)),
            Text(r.status.value.upper(), style=_STATUS_STYLE[r.status]),
        ]
        for sev in SEVERITIES:
            n = counts[sev]
            row.append(Text(str(n), style=_COUNT_STYLE[sev] if n else "dim"))
        row.append(Text(str(len(r.errors)), style="bold magenta" if r.errors else "dim"))
        table.add_row(*row)
    return table


def _severity_text(f: Finding, failing: bool) -> Text:
    label = f.severity.value
    if not failing:
        return Text(f"{label} (warn)", style="dim")
    return Text(label, style=_SEVERITY_STYLE[f.severity])


MIN_MESSAGE_WIDTH = 40
"""Below this many columns for the message, each finding's message goes on its own line."""


def _findings(results: Sequence[GateResult], console: Console) -> list[RenderableType]:
    """Findings grouped by file, laid out by hand (a rich Table per group is ~10x slower on
    thousands of findings): fixed columns, then the message wrapped under itself."""
    width = console.width
    pairs = sorted(((r, f) for r in results for f in r.findings), key=lambda rf: sort_key(rf[1]))
    groups: dict[str, list[tuple[GateResult, Finding]]] = {}
    for r, f in pairs:
        groups.setdefault(f.location.path or NO_FILE, []).append((r, f))
    out: list[RenderableType] = []
    for path in sorted(groups, key=lambda p: (p == NO_FILE, p)):
        items = groups[path]
        # lines are wrapped here already: the console must not wrap them again
        block = Text(no_wrap=True, overflow="ignore")
        block.append(printable(path), style="bold underline")
        block.append(f"  ({plural(len(items), 'finding')})", style="dim")
        rows: list[tuple[Text, Text, Text, Text]] = []
        for r, f in items:
            loc = f.location
            if not loc.path:
                where = r.gate
            elif loc.line:
                where = f"{loc.line}:{loc.column}" if loc.column else str(loc.line)
            else:
                where = "-"
            message = Text(printable(f.message))
            if loc.pointer:
                message.append(f"  {printable(loc.pointer)}", style="dim")
            rule = Text(printable(f.rule_id), style="bold")
            rows.append((Text(printable(where)), _severity_text(f, is_failing(r, f)), rule, message))
        widths = [max(row[i].cell_len for row in rows) for i in range(3)]
        fixed = 2 + sum(w + 2 for w in widths)
        wide = width - fixed >= MIN_MESSAGE_WIDTH
        for row in rows:
            head = Text("  ")
            for i in range(3):
                head.append_text(row[i])
                if wide:
                    head.append(" " * (widths[i] - row[i].cell_len + 2))
                elif i < 2:
                    head.append("  ")
            if wide:
                indent, lines = fixed, row[3].wrap(console, width - fixed, overflow="fold")
            else:  # narrow terminal: the message goes under its location
                indent, lines = 4, row[3].wrap(console, max(width - 4, 8), overflow="fold")
                block.append("\n")
                block.append_text(head)
                head = Text(" " * indent)
            for n, line in enumerate(lines):
                line.rstrip()
                block.append("\n")
                block.append_text(head if n == 0 else Text(" " * indent))
                block.append_text(line)
        out.append(block)
        out.append(Text(""))
    return out


def _errors(results: Sequence[GateResult]) -> list[RenderableType]:
    out: list[RenderableType] = []
    for r in results:
        for err in r.errors:
            line = Text("ERROR ", style="bold magenta")
            line.append(f"{printable(r.gate)}: ", style="bold")
            line.append(printable(err))
            out.append(line)
    if out:
        out.insert(0, Text("Gate errors (these gates could not decide):", style="bold magenta"))
        out.append(Text(""))
    return out


def _tables(results: Sequence[GateResult]) -> list[RenderableType]:
    out: list[RenderableType] = []
    for r in results:
        for t in tables(r):
            title = f"{r.gate}: {t.title}" if t.title else r.gate
            table = Table(
                title=Text(printable(title), style="bold"),
                title_justify="left",
                box=box.SIMPLE_HEAD,
                show_edge=False,
                pad_edge=False,
            )
            for c in t.columns:
                table.add_column(Text(printable(c)), overflow="fold")
            if not t.columns:
                continue
            for row in t.rows:
                cells = [Text(printable(cell(x))) for x in row[: len(t.columns)]]
                cells += [Text("")] * (len(t.columns) - len(cells))
                table.add_row(*cells)
            out.append(table)
            out.append(Text(""))
    return out


def _verdict(results: Sequence[GateResult]) -> Text:
    v = verdict(results)
    failed = sum(1 for r in results if r.status is Status.FAILED)
    errored = sum(1 for r in results if r.status is Status.ERROR)
    line = Text(v.label, style=_VERDICT_STYLE[v.name])
    if not results:
        detail = "no gate ran"
    elif v.name == "passed":
        detail = f"{plural(len(results), 'gate')} passed"
    else:
        parts = []
        if errored:
            parts.append(f"{errored} errored")
        if failed:
            parts.append(f"{failed} failed")
        detail = f"{', '.join(parts)} of {plural(len(results), 'gate')}"
    line.append(f": {detail} (exit code {v.exit_code}: {v.meaning})")
    return line


def renderables(results: Sequence[GateResult], ctx: ReportContext, console: Console) -> Group:
    """The whole report as one rich renderable, laid out for `console`'s width."""
    parts: list[RenderableType] = [Text(printable(ctx.command), style="bold")]
    if results:
        parts.append(_summary(results))
    parts.append(Text(""))
    parts += _errors(results)
    parts += _findings(results, console)
    parts += _tables(results)
    parts.append(_verdict(results))
    return Group(*parts)


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


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The report as plain text (no colour codes), `FILE_WIDTH` columns wide."""
    buf = io.StringIO()
    console = _console(buf, color=False, width=FILE_WIDTH)
    console.print(renderables(results, ctx, console))
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


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
    with console.capture() as captured:
        console.print(renderables(results, ctx, console))
    write_stream(out, captured.get())


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
