"""Reporters: one module per format behind one interface.

Each module `edgegate.report.<format>` has ``render(results, ctx) -> str``. `write_reports`
sends each requested format to its destination (stdout when no path is given).
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgegate.errors import EdgegateError
from edgegate.findings import GateResult
from edgegate.report._common import ChunkedStream, write_stream

FORMATS = ("text", "json", "sarif", "github", "junit", "markdown")
_MACHINE_FORMATS = frozenset({"json", "sarif", "junit"})


@dataclass(frozen=True)
class OutputSpec:
    """One report to write: a format and a destination (None: standard output)."""

    format: str
    path: Path | None = None


@dataclass
class ReportContext:
    """What every reporter may need beyond the results."""

    command: str = "edgegate"
    root: Path = field(default_factory=Path.cwd)
    """The project folder. SARIF URIs, annotations, JUnit and Markdown paths are made relative to
    the repository holding it (``$GITHUB_WORKSPACE`` or the nearest ``.git`` at or above it, else
    this folder itself); the text report shows paths as given."""
    color: bool | None = None
    """Colour in text output: None decides from the terminal."""
    fallback_path: str | None = None
    """SARIF: where to place a finding that names no file when its gate names none either
    (e.g. the config file); default: the first file any gate names, else ``edgegate.toml``."""
    category: str | None = None
    """SARIF ``automationDetails.id`` category (``[report] category``); default: the command and
    the checked folder, e.g. ``edgegate-check/examples/edge-app``."""
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    """When the run started (JUnit ``timestamp``)."""
    outputs: tuple[OutputSpec, ...] = ()
    """Every report of this run (set by `write_reports`), so one can point to the others."""


def parse_output_specs(formats: Sequence[str], output: str | None = None) -> list[OutputSpec]:
    """Parse ``--format`` values (``FMT`` or ``FMT:PATH``) and ``--output``.

    ``--output`` names the destination of the one format given without a path; with several such
    formats it is ambiguous and refused.
    """
    specs: list[OutputSpec] = []
    for raw in formats or ["text"]:
        name, _, dest = raw.partition(":")
        name = name.strip().lower()
        if name not in FORMATS:
            raise EdgegateError(f"unknown format {name!r}{_did_you_mean(name)} (expected one of: {', '.join(FORMATS)})")
        specs.append(OutputSpec(name, Path(dest) if dest else None))
    if output and output.strip().lower() in FORMATS and not Path(output).exists():
        # conftest's `-o json` is a format; here -o is the report file: refuse, don't guess
        raise EdgegateError(f"--output {output!r} names a file; for the format write --format {output.strip().lower()}"
                            f" (or -o ./{output} for a file of that name)")
    if output:
        unrouted = [i for i, s in enumerate(specs) if s.path is None]
        if len(unrouted) != 1:
            raise EdgegateError("--output needs exactly one --format without a ':PATH' of its own")
        i = unrouted[0]
        specs[i] = OutputSpec(specs[i].format, Path(output))
    from edgegate.io.paths import check_distinct_outputs

    check_distinct_outputs((f"--format {s.format}:{s.path}", s.path) for s in specs)
    stdout_specs = [s for s in specs if s.path is None]
    if len(stdout_specs) > 1:
        raise EdgegateError("only one format can go to standard output; give the others a ':PATH'")
    return specs


def _did_you_mean(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, FORMATS, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def render(fmt: str, results: Sequence[GateResult], ctx: ReportContext) -> str:
    """Render `results` in format `fmt`."""
    if fmt not in FORMATS:
        raise EdgegateError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    module = importlib.import_module(f"edgegate.report.{fmt}")
    text: str = module.render(results, ctx)
    return text


_STREAMED = frozenset({"text", "json", "sarif"})
"""Formats whose module writes the report piece by piece (``write(results, ctx, out)``), so a
report over 100,000 findings is never one string in memory."""


def write_reports(results: Sequence[GateResult], specs: Sequence[OutputSpec], ctx: ReportContext) -> None:
    """Write every requested report. Files are written whole (temp file, then rename); the
    streamed formats are written into the temp file piece by piece.

    With the ``github`` format, the Markdown summary is also appended to ``$GITHUB_STEP_SUMMARY``
    when that variable is set (once per run).
    """
    ctx = dataclasses.replace(ctx, outputs=tuple(specs))
    for spec in specs:
        if spec.path is None:
            try:
                if spec.format == "text":
                    module = importlib.import_module("edgegate.report.text")
                    module.print_report(results, ctx)
                elif spec.format in _STREAMED:
                    sink = ChunkedStream(sys.stdout, utf8=spec.format in _MACHINE_FORMATS)
                    importlib.import_module(f"edgegate.report.{spec.format}").write(results, ctx, sink)
                    sink.flush()
                else:
                    text = render(spec.format, results, ctx)
                    write_stream(sys.stdout, text, utf8=spec.format in _MACHINE_FORMATS)
            except BrokenPipeError:
                raise EdgegateError("standard output was closed before the report was written") from None
            continue
        plain = dataclasses.replace(ctx, color=False)
        if spec.format in _STREAMED:
            write_streamed(spec.path, importlib.import_module(f"edgegate.report.{spec.format}"), results, plain)
        else:
            write_atomic(spec.path, render(spec.format, results, plain))
    if any(s.format == "github" for s in specs):
        from edgegate.report.github import write_step_summary

        write_step_summary(results, dataclasses.replace(ctx, color=False))


def write_streamed(path: Path, module: Any, results: Sequence[GateResult], ctx: ReportContext) -> None:
    """`module.write` the report into a temp file that then becomes `path` (as `write_atomic`;
    text as UTF-8, an unencodable file name as ``\\udcXX``)."""
    from edgegate.io.output import atomic_path

    with atomic_path(path, "report") as tmp, open(
        tmp, "w", encoding="utf-8", errors="backslashreplace", newline="", buffering=1 << 16
    ) as fh:
        module.write(results, ctx, fh)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path`: a regular file or new path whole (temp file, then rename), a
    character device or FIFO written through, a symlink's target (`edgegate.io.output`)."""
    from edgegate.io.output import write_output

    write_output(path, text, "report")
