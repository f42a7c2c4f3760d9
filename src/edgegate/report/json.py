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

import io
import json
import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from edgegate.findings import GateResult
from edgegate.report._common import Writer, jsonable, tool_version
from edgegate.report._prepare import GateView, Prepared, prepare
from edgegate.report._sanitize import defuse_json

_string = json.encoder.encode_basestring  # type: ignore[attr-defined]

if TYPE_CHECKING:
    from edgegate.report import ReportContext

SCHEMA_VERSION = 1


def document(results: Sequence[GateResult], ctx: ReportContext | None = None) -> dict[str, Any]:
    """The report as a JSON-able dict."""
    view = prepare(results, _context(ctx))
    gates = [{**_gate(g), "findings": [s.finding.to_dict() for s in g.items]} for g in view.gates]
    return _envelope(view, jsonable(gates))


def _context(ctx: ReportContext | None) -> ReportContext:
    if ctx is None:
        from edgegate.report import ReportContext

        ctx = ReportContext()
    return ctx


def _gate(g: GateView) -> dict[str, Any]:
    return {"gate": g.gate, "status": g.status.value, "findings": [], "errors": list(g.errors), "stats": g.stats}


def _envelope(view: Prepared, gates: Any) -> dict[str, Any]:
    v = view.verdict
    return {
        "version": SCHEMA_VERSION,
        "tool": {"name": "edgegate", "version": tool_version()},
        "verdict": v.name,
        "exit_code": v.exit_code,
        "gates": gates,
    }


def write(results: Sequence[GateResult], ctx: ReportContext, out: Writer) -> None:
    """Write the JSON report to `out` one finding at a time (the same text as `render`)."""
    view = prepare(results, ctx)
    token = secrets.token_hex(8)
    skeleton = []
    for i, g in enumerate(view.gates):
        entry = _gate(g)
        entry["findings"] = f"{token}:{i}"  # a placeholder, replaced by the streamed findings
        skeleton.append(entry)
    text = _dumps(_envelope(view, jsonable(skeleton)))
    marker = re.compile(rf'"{token}:(\d+)"')
    at = 0
    for m in marker.finditer(text):
        out.write(defuse_json(text[at : m.start()]))
        write_array(out, (s.finding.to_dict() for s in view.gates[int(m.group(1))].items), FINDINGS_INDENT)
        at = m.end()
    out.write(defuse_json(text[at:]) + "\n")


FINDINGS_INDENT = 6
"""Indent of a gate's ``"findings"`` key in the report."""


def write_array(out: Writer, items: Iterable[Any], indent: int) -> None:
    """Write a JSON array of `items` as ``json.dumps(..., indent=2)`` would lay it out as the
    value of a key indented by `indent` spaces (each item dumped alone; a JSON string never
    holds a raw newline, so indenting every line of an item is exact)."""
    pad = " " * (indent + 2)
    first = True
    for item in items:
        out.write(("[\n" if first else ",\n") + pad)
        out.write(defuse_json(dumps_jsonable(item, pad)))
        first = False
    out.write("[]" if first else "\n" + " " * indent + "]")


def dumps_jsonable(value: Any, pad: str = "") -> str:
    """``json.dumps(jsonable(value), indent=2, ensure_ascii=False, allow_nan=False)`` with every
    line after the first indented by `pad`, the same text, a few times faster (the standard
    library's C encoder does not indent; its Python one yields every token)."""
    parts: list[str] = []
    _encode(value, pad, parts)
    return "".join(parts)


def _encode(value: Any, pad: str, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(float.__repr__(value) if math.isfinite(value) else "null")
    elif isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            value = jsonable(value)  # keys made strings (and merged) exactly as jsonable does
        if not value:
            out.append("{}")
            return
        inner = pad + "  "
        sep = "{\n"
        for k, v in value.items():
            out.append(sep + inner + _string(k) + ": ")
            _encode(v, inner, out)
            sep = ",\n"
        out.append("\n" + pad + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = pad + "  "
        sep = "[\n"
        for v in value:
            out.append(sep + inner)
            _encode(v, inner, out)
            sep = ",\n"
        out.append("\n" + pad + "]")
    else:  # sets, bytes, other objects: as jsonable makes them
        out.append(_dumps(jsonable(value)).replace("\n", "\n" + pad))


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The JSON report (UTF-8 text, two-space indent, trailing newline)."""
    buf = io.StringIO()
    write(results, ctx, buf)
    return buf.getvalue()
