"""Rightsizing: requests (and limits) from observed usage, the way the Kubernetes VPA recommender
sets its target, and the change written back into the manifests as a text edit.

- CPU request = the 90th percentile of the CPU samples × (1 + margin), margin 15 %, rounded up to
  the millicore; at least 25m (VPA's pod minimum, applied per container here).
- Memory request = the peak of the memory samples × (1 + margin), rounded up to the MiB; at least
  250Mi. (VPA takes a percentile of daily peaks; with the raw samples the peak is the safe choice.)
- Limits keep their current ratio to the request (VPA's ``RequestsAndLimits`` mode); a resource
  without a limit gets none. A limit given without a request is moved together with it (ratio 1).

Percentiles are nearest-rank over the samples, unweighted (VPA uses decaying histograms).
Edits replace the quantity's text in place (its quotes kept) and insert missing keys next to their
siblings, so everything else in the file — comments, order, style — stays as it was.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.finops.estimate import money
from edgegate.finops.prices import PriceSheet
from edgegate.finops.quantities import GIB, format_cpu, format_memory, parse_cpu, parse_memory
from edgegate.finops.usage import Usage
from edgegate.finops.workloads import Container, Workload
from edgegate.io import read_text_bounded

__all__ = [
    "Recommendation",
    "Settings",
    "apply_edits",
    "percentile",
    "recommend",
    "rightsize_result",
    "unified_patch",
]

GATE = "cost"
MIB = Decimal(1024**2)


@dataclass(frozen=True)
class Settings:
    """The recommender's knobs (defaults: VPA's)."""

    cpu_percentile: Decimal = Decimal(90)
    margin: Decimal = Decimal("0.15")
    min_cpu: Decimal = Decimal("0.025")
    min_memory: Decimal = 250 * MIB


def percentile(samples: Sequence[Decimal], pct: Decimal) -> Decimal:
    """Nearest-rank percentile: the smallest sample with at least `pct` % of samples ≤ it."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(Decimal(pct) / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Recommendation:
    """What one container should request, from its usage, and what it saves a month."""

    workload: Workload
    container: Container
    samples_cpu: int
    samples_memory: int
    cpu_p: Decimal | None
    memory_peak: Decimal | None
    cpu_request: Decimal | None
    memory_request: Decimal | None
    cpu_limit: Decimal | None
    memory_limit: Decimal | None
    monthly_saving: Decimal
    edits: list[tuple[str, str]] = field(default_factory=list)
    """(JSON pointer inside the document, new quantity text)."""

    @property
    def changed(self) -> bool:
        return bool(self.edits)


def _ceil(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def _raw(w: Workload, pointer: str) -> Any:
    data: Any = w.document.data
    for part in [p for p in (w.pointer + pointer).split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(data, list):
            data = data[int(part)]
        elif isinstance(data, Mapping) and part in data:
            data = data[part]
        else:
            return None
    return data


def _series_for(usage: Usage, workloads: Sequence[Workload]) -> dict[tuple[int, str], list[Any]]:
    """Usage series grouped by (workload index, container name): a series belongs to the workload
    in its namespace whose name is the pod name or its longest ``name-`` prefix."""
    by_name: dict[tuple[str | None, str], int] = {}
    for i, w in enumerate(workloads):
        by_name.setdefault((w.namespace, w.name), i)
        by_name.setdefault((None, w.name), i)  # for usage without a namespace
    grouped: dict[tuple[int, str], list[Any]] = {}
    for series in usage.series.values():
        ns = series.namespace or None
        candidate, best = series.pod, None
        while candidate:  # the pod name, then shorter and shorter `-` prefixes
            best = by_name.get((ns, candidate))
            if best is not None:
                break
            candidate = candidate.rpartition("-")[0]
        if best is not None:
            grouped.setdefault((best, series.container), []).append(series)
    return grouped


def recommend(
    workloads: Sequence[Workload], usage: Usage, prices: PriceSheet, settings: Settings | None = None
) -> tuple[list[Recommendation], list[str]]:
    """Recommendations for every container with usage data, and notes on containers without."""
    s = settings or Settings()
    pods = [w for w in workloads if w.device_type is None]
    grouped = _series_for(usage, pods)
    recs: list[Recommendation] = []
    notes: list[str] = []
    for i, w in enumerate(pods):
        for c in w.containers:
            if c.init:
                continue
            found = grouped.get((i, c.name), [])
            cpu = [v for series in found for v in series.cpu]
            mem = [v for series in found for v in series.memory]
            if not cpu and not mem:
                notes.append(f"{w.kind}/{w.namespace}/{w.name} container {c.name!r}: no usage samples")
                continue
            recs.append(_recommend(w, c, cpu, mem, prices, s))
    return recs, notes


def _recommend(
    w: Workload, c: Container, cpu: list[Decimal], mem: list[Decimal], prices: PriceSheet, s: Settings
) -> Recommendation:
    res = c.pointer + "/resources"
    cpu_p = percentile(cpu, s.cpu_percentile) if cpu else None
    peak = max(mem) if mem else None
    cpu_req = max(_ceil(cpu_p * (1 + s.margin), Decimal("0.001")), s.min_cpu) if cpu_p is not None else None
    mem_req = max(_ceil(peak * (1 + s.margin), MIB), s.min_memory) if peak is not None else None
    edits: list[tuple[str, str]] = []
    limits: dict[str, Decimal | None] = {}
    for name, new, parse, fmt in (
        ("cpu", cpu_req, parse_cpu, format_cpu),
        ("memory", mem_req, parse_memory, format_memory),
    ):
        old_req_raw = _raw(w, f"{res}/requests/{name}")
        old_lim_raw = _raw(w, f"{res}/limits/{name}")
        old_req = parse(old_req_raw) if old_req_raw is not None else None
        old_lim = parse(old_lim_raw) if old_lim_raw is not None else None
        limits[name] = None
        if new is None:
            continue
        new_text = fmt(new)
        if old_req is None or parse(new_text) != old_req:
            edits.append((f"{res}/requests/{name}", new_text))
        if old_lim is not None:
            ratio = old_lim / old_req if old_req else Decimal(1)
            step = Decimal("0.001") if name == "cpu" else MIB
            lim = _ceil(new * ratio, step)
            limits[name] = lim
            lim_text = fmt(lim)
            if parse(lim_text) != old_lim:
                edits.append((f"{res}/limits/{name}", lim_text))
    cur_cpu, cur_mem = c.cpu, c.memory
    new_cpu = parse_cpu(format_cpu(cpu_req)) if cpu_req is not None else cur_cpu
    new_mem = parse_memory(format_memory(mem_req)) if mem_req is not None else cur_mem
    hourly_saving = (cur_cpu - new_cpu) * prices.vcpu_hour + (cur_mem - new_mem) / GIB * prices.gib_hour
    hours = w.run_hours[1] if w.run_hours is not None else prices.hours_per_month
    return Recommendation(
        workload=w,
        container=c,
        samples_cpu=len(cpu),
        samples_memory=len(mem),
        cpu_p=cpu_p,
        memory_peak=peak,
        cpu_request=new_cpu if cpu_req is not None else None,
        memory_request=new_mem if mem_req is not None else None,
        cpu_limit=limits["cpu"],
        memory_limit=limits["memory"],
        monthly_saving=hourly_saving * w.scale.expected * hours,
        edits=edits,
    )


# --- editing manifests in place -------------------------------------------------------------


def _compose(text: str, path: str) -> list[Any]:
    import yaml

    try:
        return list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise InputError(f"cannot edit: malformed YAML: {exc}", path) from None


def _parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/") if p]


def _edit_once(text: str, path: str, index: int, pointer: str, value: str) -> str:
    """`text` with the scalar at `pointer` of document `index` set to `value` (quoted as the
    old one was), or the missing keys inserted into the deepest existing mapping."""
    import yaml

    nodes = _compose(text, path)
    if index >= len(nodes):
        raise InputError(f"cannot edit: document {index} not found", path)
    node = nodes[index]
    parts = _parts(pointer)
    for depth, part in enumerate(parts):
        if isinstance(node, yaml.SequenceNode):
            node = node.value[int(part)]
            continue
        if not isinstance(node, yaml.MappingNode):
            raise InputError(f"cannot edit {pointer}: not a mapping", path, node.start_mark.line + 1)
        child = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part), None)
        if child is None or (isinstance(child, yaml.ScalarNode) and child.tag.endswith(":null") and depth < len(parts) - 1):
            return _insert(text, node, parts[depth:], value, child)
        node = child
    if not isinstance(node, yaml.ScalarNode):
        raise InputError(f"cannot edit {pointer}: not a scalar", path, node.start_mark.line + 1)
    start, end = node.start_mark.index, node.end_mark.index
    quote = node.style if node.style in ("'", '"') else ('"' if path.endswith(".json") else "")
    return text[:start] + f"{quote}{value}{quote}" + text[end:]


def _nested(keys: Sequence[str], value: str) -> str:
    out = value
    for key in reversed(keys[1:]):
        out = f"{{{key}: {out}}}"
    return out


def _insert(text: str, mapping: Any, keys: Sequence[str], value: str, null_child: Any) -> str:
    inner = _nested(keys, value)
    json_style = text.lstrip().startswith(("{", "["))
    if json_style:
        inner = _nested([f'"{k}"' for k in keys], f'"{value}"')
    key = f'"{keys[0]}"' if json_style else keys[0]
    if null_child is not None:  # `requests:` with nothing after it
        start, end = null_child.start_mark.index, null_child.end_mark.index
        if start == end:
            return text[:start] + " " + inner + text[end:]
        return text[:start] + inner + text[end:]
    if mapping.flow_style:
        close = mapping.end_mark.index - 1
        body = text[mapping.start_mark.index + 1 : close].strip()
        sep = ", " if body else ""
        return text[:close] + f"{sep}{key}: {inner}" + text[close:]
    first_key = mapping.value[0][0]
    col: int = first_key.start_mark.column
    at: int = first_key.start_mark.index
    line_start = text.rfind("\n", 0, at) + 1
    entry = f"{key}: {inner}"
    if text[line_start:at].strip():  # `- name: x`: the new key goes first, the old one below it
        return text[:at] + entry + "\n" + " " * col + text[at:]
    return text[:line_start] + " " * col + entry + "\n" + text[line_start:]


def _verify(old: str, new: str, path: str, changes: Sequence[tuple[int, str, str]]) -> None:
    """Refuse an edit unless the new file parses to the old data plus exactly the changes."""
    import yaml

    try:
        before = list(yaml.safe_load_all(old))
        after = list(yaml.safe_load_all(new))
    except yaml.YAMLError as exc:  # pragma: no cover - the edit would have to be broken
        raise InputError(f"edit produced invalid YAML ({exc}); file left alone", path) from None
    for index, pointer, value in changes:
        node: Any = before[index]
        parts = _parts(pointer)
        for part in parts[:-1]:
            if isinstance(node, list):
                node = node[int(part)]
            else:
                if not isinstance(node.get(part), (dict, list)):
                    node[part] = {}
                node = node[part]
        node[parts[-1]] = value
    if _normalise(before) != _normalise(after):
        raise InputError("an in-place edit would change more than the resources (YAML anchors?); file left alone", path)


def _normalise(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(k): _normalise(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_normalise(v) for v in data]
    return str(data) if data is not None else None


def apply_edits(recs: Sequence[Recommendation]) -> dict[str, tuple[str, str]]:
    """New text per file: {path: (old text, new text)} for every recommendation's edits."""
    by_file: dict[str, list[tuple[int, str, str]]] = {}
    for r in recs:
        doc = r.workload.document
        for pointer, value in r.edits:
            by_file.setdefault(doc.path, []).append((doc.index, r.workload.pointer + pointer, value))
    out: dict[str, tuple[str, str]] = {}
    for path, changes in by_file.items():
        old = read_text_bounded(path)
        new = old
        for index, pointer, value in changes:
            new = _edit_once(new, path, index, pointer, value)
        _verify(old, new, path, changes)
        out[path] = (old, new)
    return out


def unified_patch(files: Mapping[str, tuple[str, str]]) -> str:
    """A unified diff of the edits (``git apply`` / ``patch -p1`` from the working directory)."""
    chunks: list[str] = []
    for path, (old, new) in sorted(files.items()):
        rel = os.path.relpath(path) if Path(path).is_absolute() else path
        rel = Path(rel).as_posix()
        if rel.startswith("../"):
            rel = Path(path).as_posix().lstrip("/")
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in chunks)


def write_files(files: Mapping[str, tuple[str, str]]) -> None:
    """Replace each file with its new text (temp file in the same folder, then rename)."""
    from edgegate.io.output import write_output

    for path, (_, new) in files.items():
        write_output(path, new, "the manifest")


# --- report -------------------------------------------------------------------------------


def rightsize_result(
    recs: Sequence[Recommendation], notes: Sequence[str], prices: PriceSheet, settings: Settings | None = None
) -> GateResult:
    """The recommendations as a (passing) result: one non-blocking finding per container to
    change, and a table."""
    s = settings or Settings()
    cur = prices.currency
    findings: list[Finding] = []
    rows: list[list[Any]] = []
    for r in recs:
        w, c = r.workload, r.container
        rows.append(
            [
                f"{w.name}/{c.name}",
                f"{r.samples_cpu}/{r.samples_memory}",
                _fmt(r.cpu_p, format_cpu),
                f"{format_cpu(c.cpu)} → {_fmt(r.cpu_request, format_cpu)}",
                _fmt(r.memory_peak, format_memory),
                f"{format_memory(c.memory)} → {_fmt(r.memory_request, format_memory)}",
                ", ".join(
                    x
                    for x in (
                        r.cpu_limit is not None and f"cpu {format_cpu(r.cpu_limit)}",
                        r.memory_limit is not None and f"memory {format_memory(r.memory_limit)}",
                    )
                    if x
                )
                or "—",
                money(r.monthly_saving),
            ]
        )
        if r.changed:
            first = r.edits[0][0]
            findings.append(
                Finding(
                    gate=GATE,
                    rule_id="EGC040",
                    severity=Severity.INFO,
                    title="Rightsizing recommendation",
                    message=f"{w.kind} {w.namespace}/{w.name} container {c.name!r}: "
                    + "; ".join(f"{p.split('/resources/')[-1].replace('/', '.')} → {v}" for p, v in r.edits)
                    + (
                        f" (saves {money(r.monthly_saving)} {cur}/month)"
                        if r.monthly_saving >= 0
                        else f" (costs {money(-r.monthly_saving)} {cur}/month more: it uses more than it requests)"
                    ),
                    location=Location(w.path, w.line_of(first), pointer=w.pointer + first),
                    details={
                        "workload": w.ref,
                        "container": c.name,
                        "edits": {p: v for p, v in r.edits},
                        "monthly_saving": str(r.monthly_saving),
                    },
                    blocking=False,
                )
            )
    total = sum((r.monthly_saving for r in recs), Decimal(0))
    rows.append(["Total", "", "", "", "", "", "", money(total)])
    table = {
        "title": f"Rightsizing (CPU p{s.cpu_percentile.normalize():f} + {s.margin * 100:.0f} %, memory peak + "
        f"{s.margin * 100:.0f} %){' — EXAMPLE prices' if prices.example else ''}",
        "columns": [
            "Workload/container",
            "Samples",
            f"CPU p{s.cpu_percentile.normalize():f}",
            "CPU req",
            "Mem peak",
            "Mem req",
            "Limits",
            f"Saving {cur}/mo",
        ],
        "rows": rows,
    }
    stats = {
        "containers": len(recs),
        "changes": sum(1 for r in recs if r.changed),
        "monthly_saving": float(total.quantize(Decimal("0.01"))),
        "currency": cur,
        "notes": list(notes),
        "tables": [table],
    }
    return GateResult.decide(GATE, findings, stats=stats)


def _fmt(value: Decimal | None, fmt: Any) -> str:
    return str(fmt(value)) if value is not None else "—"
