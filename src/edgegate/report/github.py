"""GitHub Actions workflow commands: one annotation per finding, one per gate error.

- ``::error`` for findings that fail their gate, ``::warning`` for the others, ``::notice`` for
  non-failing ``info`` findings; gate errors are ``::error`` without a file.
- Paths are relative to `ReportContext.root` (the workspace) with forward slashes.
- `write_step_summary` appends the Markdown report to ``$GITHUB_STEP_SUMMARY``;
  `edgegate.report.write_reports` calls it whenever the ``github`` format is written.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edgegate.findings import Finding, GateResult, Severity
from edgegate.report._common import is_failing, repo_path, severity_counts, source_root, verdict

if TYPE_CHECKING:
    from edgegate.report import ReportContext

MAX_SUMMARY_BYTES = 1024 * 1024
"""GitHub refuses a step summary over 1 MiB."""


def escape_data(text: str) -> str:
    """Escape a command's message (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a command property value (as data, plus ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, properties: Mapping[str, str | int | None] | None = None) -> str:
    """One workflow command line, e.g. ``::error file=a.yaml,line=3::msg``."""
    props = ",".join(
        f"{k}={escape_property(str(v))}" for k, v in (properties or {}).items() if v is not None and v != ""
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def _kind(finding: Finding, failing: bool) -> str:
    if failing:
        return "error"
    return "notice" if finding.severity is Severity.INFO else "warning"


def annotation(result: GateResult, finding: Finding, ctx: ReportContext, root: Path | None = None) -> str:
    """The workflow command for one finding (`root`: the repository root, found from `ctx.root`
    when not given)."""
    loc = finding.location
    title = f"{finding.rule_id} ({finding.severity.value})"
    if finding.title:
        title += f": {finding.title}"
    props: dict[str, str | int | None] = {}
    if loc.path:
        props["file"] = repo_path(loc.path, root or source_root(Path(ctx.root)))
        if loc.line:
            props["line"] = loc.line
            if loc.column:
                props["col"] = loc.column
    props["title"] = f"edgegate {result.gate}: {title}"
    return command(_kind(finding, is_failing(result, finding)), finding.message, props)


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The workflow command lines, then one plain verdict line."""
    lines: list[str] = []
    root = source_root(Path(ctx.root))
    for r in results:
        for err in r.errors:
            lines.append(command("error", err, {"title": f"edgegate {r.gate}: gate error"}))
        for f in r.findings:
            lines.append(annotation(r, f, ctx, root))
    v = verdict(results)
    found = sum(len(r.findings) for r in results)
    counts = severity_counts(f for r in results for f in r.findings)
    detail = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    lines.append(
        f"edgegate: {v.label} (exit code {v.exit_code}: {v.meaning}); "
        f"{len(results)} gate(s), {found} finding(s){' (' + detail + ')' if detail else ''}"
    )
    return "\n".join(lines) + "\n"


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
