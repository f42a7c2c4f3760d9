"""``policy lint --trace``: OPA's own evaluation trace (``opa eval --explain full``, its pretty
format with locations), as conftest's ``--trace`` prints the trace of ``rego.PrintTrace``.

The trace comes from a second ``opa eval`` over the same workspace (same policies, data and
inputs) whose query is a small rule of the generated run module, so the results of the run
are still read from the JSON of the first one and never from pretty text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from edgegate.errors import EngineError

if TYPE_CHECKING:
    from edgegate.policy._limits import Limits
    from edgegate.policy.modules import Module
    from edgegate.policy.opa import _Workspace

RUN_FILE = "<edgegate run>"
"""How the generated run module is named in the trace."""


def trace_args(args: Sequence[str], query: str) -> list[str]:
    """The ``opa eval`` arguments of the traced run: `args` of the JSON run with the pretty
    format, ``--explain full`` and `query`."""
    out = list(args)
    at = out.index("--format")
    out[at + 1] = "pretty"
    out[-1] = query
    out[1:1] = ["--explain", "full"]
    return out


def run_trace(
    args: Sequence[str], ws: _Workspace, modules: Sequence[Module], limits: Limits,
    sink: Callable[[str], None],
) -> None:
    """Run the traced ``opa eval`` and hand each trace line to `sink` (temp paths replaced
    by the user's policy paths)."""
    from edgegate.policy.opa import _RUN_PACKAGE, run_opa

    code, out, err = run_opa(trace_args(args, f"data.{_RUN_PACKAGE}.traced"), modules, ws, limits)
    if code != 0:
        first = err.strip().splitlines()[0] if err.strip() else f"exit code {code}"
        raise EngineError(f"OPA failed tracing the evaluation: {ws.scrub(first)[:300]}")
    text = ws.scrub(out.decode("utf-8", "replace")).replace(str(ws.root / "run.rego"), RUN_FILE)
    lines = text.splitlines()
    while lines and lines[-1].strip() in ("", "true"):  # the query's own result
        lines.pop()
    for line in lines:
        sink(line)
