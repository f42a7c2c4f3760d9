"""The JSON report: a stable, versioned document described by ``schemas/report.schema.json``.

```
{"version": 1, "tool": {"name": "edgegate", "version": "0.1.0"},
 "verdict": "failed", "exit_code": 1, "gates": [GateResult.to_dict(), ...]}
```
Non-finite numbers in stats become ``null`` so the output is always strict JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edgegate.findings import GateResult
from edgegate.report._common import jsonable, tool_version, verdict

if TYPE_CHECKING:
    from edgegate.report import ReportContext

SCHEMA_VERSION = 1


def document(results: Sequence[GateResult]) -> dict[str, Any]:
    """The report as a JSON-able dict."""
    v = verdict(results)
    return {
        "version": SCHEMA_VERSION,
        "tool": {"name": "edgegate", "version": tool_version()},
        "verdict": v.name,
        "exit_code": v.exit_code,
        "gates": [jsonable(r.to_dict()) for r in results],
    }


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The JSON report (UTF-8 text, two-space indent, trailing newline)."""
    return json.dumps(document(results), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
