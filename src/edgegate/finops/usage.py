"""Observed container usage for rightsizing: CSV or a Prometheus range-query JSON matrix.

CSV (header required, names case-insensitive)::

    timestamp,namespace,pod,container,cpu,memory
    2024-05-01T00:00:00Z,prod,api-7d9f8b6c5-x2k4p,server,0.231,402653184

``pod`` may be ``workload`` instead; ``cpu`` (or ``cpu_cores``) is cores in use and ``memory``
(or ``memory_bytes``) bytes in use — plain numbers or Kubernetes quantities (``250m``, ``512Mi``).

Prometheus: the JSON body of ``/api/v1/query_range`` (``resultType: matrix``). A series is CPU
when its ``__name__`` mentions ``cpu`` (a ``*_seconds_total`` counter is turned into a rate) and
memory when it mentions ``memory``; a query result without ``__name__`` (e.g. ``rate(...)``) needs
the kind given with the file, ``cpu=FILE`` or ``memory=FILE``.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from edgegate.errors import InputError
from edgegate.finops.quantities import MAX_QUANTITY, QuantityError, parse_cpu, parse_memory
from edgegate.io import read_text_bounded
from edgegate.io.parse import loads_json

__all__ = ["Series", "Usage", "load_usage"]

MAX_USAGE_BYTES = 256 * 1024 * 1024
_COLUMNS = {
    "timestamp": ("timestamp", "time", "ts"),
    "namespace": ("namespace", "ns"),
    "pod": ("pod", "workload", "pod_name"),
    "container": ("container", "container_name"),
    "cpu": ("cpu", "cpu_cores", "cpu_usage", "cpu_usage_cores"),
    "memory": ("memory", "memory_bytes", "mem", "memory_usage", "memory_usage_bytes", "memory_working_set_bytes"),
}


@dataclass
class Series:
    """Samples of one container of one pod (or workload)."""

    namespace: str
    pod: str
    container: str
    cpu: list[Decimal] = field(default_factory=list)
    memory: list[Decimal] = field(default_factory=list)


@dataclass
class Usage:
    """All series read, by (namespace, pod, container)."""

    series: dict[tuple[str, str, str], Series] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    def get(self, namespace: str, pod: str, container: str) -> Series:
        key = (namespace, pod, container)
        if key not in self.series:
            self.series[key] = Series(namespace, pod, container)
        return self.series[key]


def load_usage(specs: list[str], usage: Usage | None = None) -> Usage:
    """Read usage files. Each spec is ``FILE``, ``cpu=FILE`` or ``memory=FILE``."""
    out = usage or Usage()
    for spec in specs:
        kind: str | None = None
        path = spec
        head, sep, rest = spec.partition("=")
        if sep and head in ("cpu", "memory"):
            kind, path = head, rest
        text = read_text_bounded(path, MAX_USAGE_BYTES)
        stripped = text.lstrip()
        if stripped.startswith("{"):
            _load_prometheus(text, path, kind, out)
        else:
            if kind is not None:
                raise InputError("cpu=/memory= applies to Prometheus JSON; a CSV names its columns", path)
            _load_csv(text, path, out)
        out.sources.append(path)
    return out


def _load_csv(text: str, path: str, out: Usage) -> None:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("empty usage CSV", path) from None
    names = [h.strip().lower() for h in header]
    index: dict[str, int] = {}
    for role, aliases in _COLUMNS.items():
        for alias in aliases:
            if alias in names:
                index[role] = names.index(alias)
                break
    missing = [r for r in ("pod", "container") if r not in index]
    if missing or ("cpu" not in index and "memory" not in index):
        raise InputError(
            "usage CSV header needs pod (or workload), container, and cpu and/or memory columns; got "
            + ", ".join(names),
            path,
            1,
        )
    ns_i, pod_i, ctr_i = index.get("namespace"), index["pod"], index["container"]
    cpu_i, mem_i = index.get("cpu"), index.get("memory")
    width = len(names)
    for row in reader:
        if len(row) != width:
            if not row or all(not c.strip() for c in row):
                continue
            raise InputError(f"expected {width} fields, got {len(row)}", path, reader.line_num)
        series = out.get(row[ns_i].strip() if ns_i is not None else "", row[pod_i].strip(), row[ctr_i].strip())
        try:
            if cpu_i is not None and row[cpu_i].strip():
                series.cpu.append(parse_cpu(row[cpu_i]))
            if mem_i is not None and row[mem_i].strip():
                series.memory.append(parse_memory(row[mem_i]))
        except QuantityError as exc:
            raise InputError(str(exc), path, reader.line_num) from None


def _load_prometheus(text: str, path: str, kind: str | None, out: Usage) -> None:
    body = loads_json(text, path)
    data = body.get("data") if isinstance(body, Mapping) else None
    if not isinstance(data, Mapping) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise InputError("not a Prometheus range-query result (data.resultType must be 'matrix')", path)
    if isinstance(body, Mapping) and body.get("status") not in (None, "success"):
        raise InputError(f"Prometheus query status is {body.get('status')!r}", path)
    for i, item in enumerate(data["result"]):
        where = f"data.result[{i}]"
        metric = item.get("metric") if isinstance(item, Mapping) else None
        values = item.get("values") if isinstance(item, Mapping) else None
        if not isinstance(metric, Mapping) or not isinstance(values, list):
            raise InputError(f"{where}: needs 'metric' and 'values'", path)
        container = str(metric.get("container") or metric.get("container_name") or "")
        if container in ("", "POD"):
            continue  # pod-level aggregate or the pause container
        name = str(metric.get("__name__") or "")
        series_kind = kind or ("cpu" if "cpu" in name else "memory" if "memory" in name else None)
        if series_kind is None:
            raise InputError(
                f"{where}: cannot tell CPU from memory (no __name__); give the file as cpu=FILE or memory=FILE",
                path,
            )
        points = _points(values, path, where)
        series = out.get(
            str(metric.get("namespace") or ""), str(metric.get("pod") or metric.get("pod_name") or ""), container
        )
        if series_kind == "cpu":
            series.cpu.extend(_rate(points) if name.endswith("_seconds_total") else [v for _, v in points])
        else:
            series.memory.extend(v for _, v in points)


def _points(values: list[Any], path: str, where: str) -> list[tuple[Decimal, Decimal]]:
    points: list[tuple[Decimal, Decimal]] = []
    for j, pair in enumerate(values):
        if not isinstance(pair, list) or len(pair) != 2:
            raise InputError(f"{where}.values[{j}]: expected [timestamp, \"value\"]", path)
        ts, raw = pair
        try:
            number = float(raw)
            if not math.isfinite(number):
                continue  # NaN / Inf: Prometheus' "no value"
            points.append((Decimal(str(ts)), Decimal(str(raw))))
        except (ValueError, ArithmeticError, TypeError):
            raise InputError(f"{where}.values[{j}]: not a number: {raw!r}", path) from None
        if points[-1][1] < 0:
            raise InputError(f"{where}.values[{j}]: negative usage {raw!r}", path)
        if points[-1][1] > MAX_QUANTITY or abs(points[-1][0]) > MAX_QUANTITY:
            raise InputError(f"{where}.values[{j}]: out of range: {str(raw)[:64]!r}", path)
    return points


def _rate(points: list[tuple[Decimal, Decimal]]) -> list[Decimal]:
    """Per-second rate of a counter between consecutive samples (a reset starts again from 0)."""
    out: list[Decimal] = []
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        dt = t1 - t0
        if dt <= 0:
            continue
        delta = v1 - v0 if v1 >= v0 else v1
        out.append(delta / dt)
    return out
