"""The JSON report: a stable, versioned document described by ``schemas/report.schema.json``.

```
{"version": 1, "tool": {"name": "edgegate", "version": "0.1.0"},
 "verdict": "failed", "exit_code": 1, "gates": [GateResult.to_dict(), ...]}
```
Non-finite numbers in stats become ``null`` so the output is always strict JSON. The gates are
the prepared views (`edgegate.report._prepare`): repository-relative paths, one entry per gate,
one finding per fact (the others under ``details.also_reported_by``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edgegate.findings import GateResult
from edgegate.report._common import jsonable, tool_version
from edgegate.report._prepare import prepare
from edgegate.report._sanitize import defuse_json

if TYPE_CHECKING:
    from edgegate.report import ReportContext

SCHEMA_VERSION = 1


def document(results: Sequence[GateResult], ctx: ReportContext | None = None) -> dict[str, Any]:
    """The report as a JSON-able dict."""
    if ctx is None:
        from edgegate.report import ReportContext

        ctx = ReportContext()
    view = prepare(results, ctx)
    v = view.verdict
    gates = [
        {
            "gate": g.gate,
            "status": g.status.value,
            "findings": [s.finding.to_dict() for s in g.items],
            "errors": list(g.errors),
            "stats": g.stats,
        }
        for g in view.gates
    ]
    return {
        "version": SCHEMA_VERSION,
        "tool": {"name": "edgegate", "version": tool_version()},
        "verdict": v.name,
        "exit_code": v.exit_code,
        "gates": jsonable(gates),
    }


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The JSON report (UTF-8 text, two-space indent, trailing newline)."""
    return defuse_json(json.dumps(document(results, ctx), indent=2, ensure_ascii=False, allow_nan=False)) + "\n"
