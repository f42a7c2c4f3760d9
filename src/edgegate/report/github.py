"""GitHub Actions workflow commands: annotations, most severe first, within GitHub's limits.

- Gate errors first (``::error`` without a file), then findings that fail their gate
  (``::error``), then other findings (``::warning``; ``::notice`` for ``info``), each kind most
  severe first, one annotation per distinct problem (see `edgegate.report._prepare`).
- GitHub shows at most `MAX_PER_KIND` annotations of each kind per step. When more exist, the
  last annotation of that kind says how many more there are and where the full report is (the
  job summary, the SARIF file); the rest are printed as plain log lines, defused.
- Paths are repository-relative with forward slashes. Messages go through the sanitizer: one
  line, controls shown visibly, ``%``/CR/LF escaped, so no line of output but edgegate's own
  annotations can act as a workflow command.
- `write_step_summary` appends the Markdown report to ``$GITHUB_STEP_SUMMARY``;
  `edgegate.report.write_reports` calls it whenever the ``github`` format is written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edgegate.findings import GateResult, Severity
from edgegate.report._common import plural, severity_counts
from edgegate.report._prepare import Prepared, Shown, prepare
from edgegate.report._sanitize import defuse_lines, visible

if TYPE_CHECKING:
    from edgegate.report import ReportContext

MAX_SUMMARY_BYTES = 1024 * 1024
"""GitHub refuses a step summary over 1 MiB."""
MAX_PER_KIND = 10
"""GitHub shows 10 error, 10 warning and 10 notice annotations per step."""
MAX_MESSAGE = 4000
MAX_TITLE = 80
_KINDS = ("error", "warning", "notice")


def escape_data(text: str) -> str:
    """Escape a command's message (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a command property value (as data, plus ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, properties: Mapping[str, str | int | None] | None = None) -> str:
    """One workflow command line, e.g. ``::error file=a.yaml,line=3::msg``. Values are made one
    line and visible first, and ``##[`` is broken up (the runner's legacy command prefix)."""
    props = ",".join(
        f"{k}={escape_property(_safe(str(v)))}" for k, v in (properties or {}).items() if v is not None and v != ""
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(_safe(message))}"


def _safe(text: str) -> str:
    return visible(text).replace("##[", "## [")


def _kind(item: Shown) -> str:
    if item.failing:
        return "error"
    return "notice" if item.finding.severity is Severity.INFO else "warning"


def annotation(item: Shown) -> str:
    """The workflow command for one shown finding."""
    f = item.finding
    loc = f.location
    title = f"{f.rule_id} ({f.severity.value})"
    if f.title and len(f.title) <= MAX_TITLE:  # advisory summaries are not titles
        title += f": {f.title}"
    props: dict[str, str | int | None] = {}
    if loc.path:
        props["file"] = loc.path
        if loc.line:
            props["line"] = loc.line
            if loc.column:
                props["col"] = loc.column
    props["title"] = f"edgegate {item.gate}: {title}"
    message = f.message
    also = f.details.get("also_reported_by") if isinstance(f.details, Mapping) else None
    if isinstance(also, list) and also:
        message += " (also: " + ", ".join(str(a.get("rule_id")) for a in also if isinstance(a, Mapping)) + ")"
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return command(_kind(item), message, props)


def _ordered(items: Sequence[Shown]) -> list[Shown]:
    """Most severe kind and severity first; within one severity the gates take turns (the first
    of each gate, then the second, ...), so a cut at GitHub's limit keeps every gate visible."""

    def place(item: Shown) -> tuple[int, int, str, int, str]:
        f = item.finding
        return (_KINDS.index(_kind(item)), -f.severity.rank, f.location.path or "\uffff", f.location.line or 0, f.rule_id)

    gates = list(dict.fromkeys(i.gate for i in items))
    turn: dict[tuple[int, int, str], int] = {}
    keyed = []
    for item in sorted(items, key=place):
        k = (_KINDS.index(_kind(item)), -item.finding.severity.rank, item.gate)
        turn[k] = turn.get(k, 0) + 1
        keyed.append(((k[0], k[1], turn[k], gates.index(item.gate)), item))
    return [item for _, item in sorted(keyed, key=lambda kv: kv[0])]


def _where_full(ctx: ReportContext) -> str:
    places = []
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        places.append("the job summary")
    for spec in ctx.outputs:
        if spec.format in ("sarif", "json", "junit") and spec.path is not None:
            places.append(f"{spec.format.upper() if spec.format != 'junit' else 'JUnit'} {spec.path.name}")
    if not places:
        return "run edgegate with -f json or -f sarif for the full report"
    return "the full report is in " + " and ".join(places)


def lines(view: Prepared, ctx: ReportContext) -> list[str]:
    """The output lines: annotations (with an overflow annotation per kind), plain lines for the
    findings GitHub would not show, and a verdict line."""
    out: list[str] = []
    errors = [(g.gate, e) for g in view.gates for e in g.errors]
    items = _ordered(view.shown())
    by_kind = {k: [i for i in items if _kind(i) == k] for k in _KINDS}
    room = {k: MAX_PER_KIND for k in _KINDS}
    where = _where_full(ctx)
    overflow: list[str] = []

    error_count = len(errors) + len(by_kind["error"])
    shown_errors = error_count if error_count <= MAX_PER_KIND else MAX_PER_KIND - 1
    for gate, err in errors[:shown_errors]:
        out.append(command("error", err, {"title": f"edgegate {gate}: gate error"}))
    room["error"] = shown_errors - min(len(errors), shown_errors)
    for gate, err in errors[shown_errors:]:
        overflow.append(f"error  {gate}: gate error: {visible(err)}")
    for kind in _KINDS:
        found = by_kind[kind]
        if kind == "error":  # gate errors share the error budget
            limit, hidden = room["error"], error_count - shown_errors
        else:
            limit = len(found) if len(found) <= MAX_PER_KIND else MAX_PER_KIND - 1
            hidden = len(found) - limit
        out += [annotation(item) for item in found[:limit]]
        for item in found[limit:]:
            f = item.finding
            loc = f.location
            place = (loc.path or "-") + (f":{loc.line}" if loc.path and loc.line else "")
            overflow.append(f"{kind}  {place}  {f.severity.value}  {f.rule_id}  {visible(f.message)}")
        if hidden > 0:
            more = plural(hidden, "more " + kind)
            out.append(
                command(
                    kind,
                    f"{more} not shown as annotations (GitHub shows {MAX_PER_KIND} per step; "
                    f"they are listed in the log); {where}",
                    {"title": f"edgegate: {more}"},
                )
            )
    if overflow:
        out.append(f"edgegate: {plural(len(overflow), 'more problem')} (not annotated):")
        out += [defuse_lines("  " + ln) for ln in overflow]
    v = view.verdict
    shown = view.shown()
    counts = severity_counts(s.finding for s in shown)
    detail = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    out.append(
        f"edgegate: {v.label} (exit code {v.exit_code}: {v.meaning}); "
        f"{plural(len(view.gates), 'gate')}, {plural(len(shown), 'finding')}{' (' + detail + ')' if detail else ''}"
    )
    return out


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The workflow command lines, then plain lines and one verdict line."""
    return "\n".join(lines(prepare(results, ctx), ctx)) + "\n"


def write_step_summary(results: Sequence[GateResult], ctx: ReportContext) -> Path | None:
    """Append the Markdown report to ``$GITHUB_STEP_SUMMARY`` when it is set; return the file.

    A summary that cannot be written is reported on stderr but does not change the verdict: the
    annotations (the report asked for) were written.
    """
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    from edgegate.report import markdown

    text = markdown.render(results, ctx)
    data = text.encode("utf-8")
    if len(data) > MAX_SUMMARY_BYTES - 1024:
        text = data[: MAX_SUMMARY_BYTES - 1024].decode("utf-8", "ignore") + "\n\n_(summary cut at 1 MiB)_\n"
    path = Path(target)
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        sys.stderr.write(f"edgegate: warning: {path}: cannot write the step summary: {exc.strerror or exc}\n")
        return None
    return path
