"""Helpers every gate's Typer command shares: report options and the error/exit-code wrapper.

A command does ``raise SystemExit(run_command(produce, formats=..., output=..., debug=...))``
where ``produce()`` returns the gate results; `run_command` renders them, maps errors to exit 2
and never lets an exception end in exit 0.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgegate.errors import EdgegateError
from edgegate.findings import GateResult, exit_code

FormatOpt = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option(
        "--format",
        "-f",
        help="Report format: text, json, sarif, github, junit, markdown; FORMAT:PATH writes to a "
        "file. Repeat for several reports.",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--output", "-o", help="Write the (one) report to this file instead of stdout."),
]
DebugOpt = Annotated[
    bool,
    typer.Option("--debug", help="Show tracebacks for internal errors.", envvar="EDGEGATE_DEBUG"),
]


@dataclass
class RunState:
    """The common options of the running command (set by `edgegate._grammar`)."""

    quiet: bool = False
    color: bool | None = None
    """False with --no-color; None: decide from NO_COLOR / FORCE_COLOR / the terminal."""


STATE = RunState()


def warning_line(message: str) -> None:
    """Print one warning line to stderr (not with --quiet)."""
    if STATE.quiet:
        return
    sys.stderr.write(f"edgegate: warning: {message}\n")
    sys.stderr.flush()


def deprecated_alias(new: str | None, old: str | None, old_name: str, new_name: str) -> str | None:
    """The value of an option that also has an old spelling: the old one works with a warning;
    both at once is a usage error."""
    if old is None:
        return new
    if new is not None:
        raise typer.BadParameter(f"{old_name} is the old spelling of {new_name}; give only {new_name}")
    warning_line(f"{old_name} is deprecated; use {new_name}")
    return old


def error_line(message: str) -> None:
    """Print one error line to stderr."""
    sys.stderr.write(f"edgegate: error: {message}\n")
    sys.stderr.flush()


def run_command(
    produce: Callable[[], Sequence[GateResult]],
    *,
    formats: Sequence[str] | None,
    output: str | None,
    debug: bool = False,
    command: str = "edgegate",
    root: Path | None = None,
    fallback_path: str | None = None,
    category: str | None = None,
) -> int:
    """Run `produce`, write the reports, and return the exit code (0/1/2)."""
    from edgegate.report import ReportContext, parse_output_specs, write_reports

    def body() -> int:
        specs = parse_output_specs(list(formats or ["text"]), output)
        results = list(produce())
        ctx = ReportContext(
            command=command, root=root or Path.cwd(), fallback_path=fallback_path, category=category,
            color=STATE.color,
        )
        write_reports(results, specs, ctx)
        return exit_code(results)

    return guard(body, debug)


def guard(fn: Callable[[], int], debug: bool = False) -> int:
    """Run a command body that returns an exit code: an `EdgegateError` is one line and exit 2;
    any other exception is an internal error, exit 2 (never a pass); --debug adds the traceback."""
    try:
        return fn()
    except EdgegateError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        error_line(str(exc))
        return 2
    except KeyboardInterrupt:
        error_line("interrupted")
        return 2
    except Exception as exc:  # an internal error is never a pass
        if debug:
            import traceback

            traceback.print_exc()
            error_line(f"internal error: {type(exc).__name__}: {exc}")
        else:
            error_line(f"internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback)")
        return 2


def is_ci() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("GITHUB_ACTIONS"))
