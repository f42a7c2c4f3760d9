"""Monthly cost of workloads: hourly rate of one pod (or device) × pod-hours in the month.

``hourly = vCPU price × cores + GiB price × GiB + GPU price(type) × GPUs (+ device price)``, and
the month is ``hours_per_month`` (730) × pods for always-on workloads, or the run hours of a
Job/CronJob. Every amount is a `Decimal`; rounding to cents happens only when shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from edgegate.errors import InputError
from edgegate.finops.prices import PriceSheet
from edgegate.finops.quantities import GIB, format_cpu, format_memory
from edgegate.finops.workloads import Workload

__all__ = ["BASES", "Basis", "Estimate", "WorkloadCost", "estimate", "money"]

Basis = Literal["min", "expected", "max"]
BASES: tuple[Basis, ...] = ("min", "expected", "max")
_CENT = Decimal("0.01")


def money(amount: Decimal) -> str:
    """``1234.5`` → ``"1,234.50"``."""
    return f"{amount.quantize(_CENT, rounding=ROUND_HALF_UP):,}"


@dataclass(frozen=True)
class WorkloadCost:
    """One workload's hourly rate (per pod or device) and monthly cost at min/expected/max scale."""

    workload: Workload
    hourly: Decimal
    gpu_type: str | None
    """The gpu_hour entry that priced the GPUs (None without GPUs)."""
    monthly_min: Decimal
    monthly_expected: Decimal
    monthly_max: Decimal
    max_pods_priced: int
    """Pods (devices) at max scale as priced; differs from the manifest when it is unbounded."""

    def monthly(self, basis: Basis) -> Decimal:
        return {"min": self.monthly_min, "expected": self.monthly_expected, "max": self.monthly_max}[basis]

    def to_dict(self) -> dict[str, Any]:
        w = self.workload
        return {
            "kind": w.kind,
            "namespace": w.namespace,
            "name": w.name,
            "path": w.path,
            "line": w.line,
            "cpu_cores": str(w.cpu),
            "memory_bytes": str(w.memory),
            "gpus": str(w.gpu),
            "gpu_type": self.gpu_type,
            "device_type": w.device_type,
            "priced_from": w.basis,
            "pods": {"min": w.scale.min, "expected": w.scale.expected, "max": w.scale.max},
            "hourly_per_pod": float(self.hourly),
            "monthly": {b: float(self.monthly(b).quantize(_CENT)) for b in BASES},
            "notes": list(w.notes),
        }


@dataclass
class Estimate:
    """Costs of a set of workloads under one price sheet."""

    costs: list[WorkloadCost]
    prices: PriceSheet

    def total(self, basis: Basis) -> Decimal:
        return sum((c.monthly(basis) for c in self.costs), Decimal(0))

    def table(self, title: str | None = None) -> dict[str, Any]:
        """The cost table for reports (``stats["tables"]``)."""
        cur = self.prices.currency
        rows: list[list[Any]] = []
        for c in self.costs:
            w = c.workload
            rows.append(
                [
                    f"{w.kind}/{w.name}",
                    _scale_text(c),
                    _per_pod_text(c),
                    w.basis,
                    money(c.monthly_min),
                    money(c.monthly_expected),
                    money(c.monthly_max),
                ]
            )
        rows.append(
            ["Total", "", "", "", *(money(self.total(b)) for b in BASES)]
        )
        note = " (EXAMPLE prices)" if self.prices.example else ""
        return {
            "title": title or f"Monthly cost, {cur}{note}",
            "columns": [
                "Workload",
                "Pods min/exp/max",
                "Per pod",
                "From",
                "Min/mo",
                "Expected/mo",
                "Max/mo",
            ],
            "rows": rows,
            # a narrow terminal drops these first (the text report)
            "optional": ["From", "Min/mo", "Expected/mo"],
        }


def _scale_text(c: WorkloadCost) -> str:
    s = c.workload.scale
    top = str(s.max) if s.max is not None else f"unbounded (priced {c.max_pods_priced})"
    unit = " devices" if c.workload.device_type else ""
    text = f"{s.min}{unit}" if s.min == s.max else f"{s.min}/{s.expected}/{top}{unit}"
    if c.workload.run_hours is not None:
        text += f" × {c.workload.run_hours[1].quantize(Decimal('0.1'))} h/mo"
    return text


def _per_pod_text(c: WorkloadCost) -> str:
    w = c.workload
    parts = [f"{format_cpu(w.cpu)} CPU", format_memory(w.memory)]
    if w.gpu:
        parts.append(f"{w.gpu.normalize():f} {c.gpu_type} GPU")
    if w.device_type:
        parts.append(f"@{w.device_type}")
    return " ".join(parts)


def estimate(workloads: Sequence[Workload], prices: PriceSheet, assume_max_replicas: int = 10) -> Estimate:
    """Price every workload. An unpriced device or GPU type is an `InputError` at its line."""
    return Estimate([_cost(w, prices, assume_max_replicas) for w in workloads], prices)


def _cost(w: Workload, prices: PriceSheet, assume_max: int) -> WorkloadCost:
    hourly = prices.vcpu_hour * w.cpu + prices.gib_hour * (w.memory / GIB)
    gpu_type: str | None = None
    wanted = w.gpu_type
    if w.device_type is not None:
        device = prices.devices.get(w.device_type)
        if device is None:
            known = ", ".join(sorted(prices.devices)) or "none"
            raise InputError(
                f"{w.kind} {w.name!r}: device type {w.device_type!r} is not in the price sheet "
                f"{prices.source} (known: {known})",
                w.path,
                w.line_of("/spec/targetDevices"),
            )
        hourly += device.hour
        wanted = wanted or device.gpu_type
    if w.gpu:
        try:
            gpu_type, gpu_price = prices.gpu_price(wanted)
        except KeyError:
            raise InputError(
                f"{w.kind} {w.name!r}: GPU type {wanted or '(unknown)'!r} is not in the price sheet "
                f"{prices.source} and it has no 'default' GPU price",
                w.path,
                w.line,
            ) from None
        hourly += gpu_price * w.gpu
    s = w.scale
    max_pods = s.max if s.max is not None else max(assume_max, s.min)
    month = prices.hours_per_month
    hours = w.run_hours or (month, month, month)
    return WorkloadCost(
        workload=w,
        hourly=hourly,
        gpu_type=gpu_type,
        monthly_min=hourly * s.min * hours[0],
        monthly_expected=hourly * s.expected * hours[1],
        monthly_max=hourly * max_pods * hours[2],
        max_pods_priced=max_pods,
    )
