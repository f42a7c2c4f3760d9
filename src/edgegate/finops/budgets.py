"""Budgets per cost center, required cost-allocation labels/annotations, and fail thresholds on
the total (absolute, or increase against a base)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path

from edgegate.findings import Finding, Location, Severity
from edgegate.finops.estimate import Basis, Estimate, WorkloadCost, money

__all__ = ["check_budgets", "check_required", "check_thresholds"]

GATE = "cost"


def check_budgets(
    estimate: Estimate,
    budgets: Mapping[str, Decimal],
    cost_center_key: str,
    basis: Basis,
    config_path: str | None = None,
) -> list[Finding]:
    """A finding for every cost center whose workloads cost more than its monthly budget. The
    budget ``"*"`` covers cost centers without a budget of their own; a cost center with no
    budget and a workload with no cost center get a warning (their cost is not capped)."""
    cur = estimate.prices.currency
    centers: dict[str, list[WorkloadCost]] = {}
    out: list[Finding] = []
    for cost in estimate.costs:
        w = cost.workload
        center = w.annotations.get(cost_center_key) or w.labels.get(cost_center_key)
        if not center:
            out.append(
                Finding(
                    gate=GATE,
                    rule_id="EGC011",
                    severity=Severity.LOW,
                    title="Workload has no cost center",
                    message=f"{w.kind} {w.namespace}/{w.name}: no {cost_center_key} annotation, so no budget "
                    f"covers its {money(cost.monthly(basis))} {cur}/month",
                    location=Location(w.path, w.line_of("/metadata"), pointer=w.pointer + "/metadata"),
                    details={"workload": w.ref, "document": w.document.index},
                    blocking=False,
                )
            )
            continue
        centers.setdefault(center, []).append(cost)
    for center, members in centers.items():
        budget = budgets.get(center, budgets.get("*"))
        biggest = max(members, key=lambda c: c.monthly(basis))
        w = biggest.workload
        loc = Location(w.path, w.line_of("/metadata/annotations"), pointer=w.pointer + "/metadata/annotations")
        total = sum((c.monthly(basis) for c in members), Decimal(0))
        if budget is None:
            out.append(
                Finding(
                    gate=GATE,
                    rule_id="EGC012",
                    severity=Severity.LOW,
                    title="Cost center has no budget",
                    message=f"cost center {center!r} ({len(members)} workloads, {money(total)} {cur}/month "
                    f"at {basis} scale) has no budget in [cost.budgets]",
                    location=loc,
                    details={"cost_center": center, "monthly": str(total)},
                    blocking=False,
                )
            )
            continue
        if total > budget:
            names = ", ".join(
                f"{c.workload.kind}/{c.workload.name} {money(c.monthly(basis))}"
                for c in sorted(members, key=lambda c: -c.monthly(basis))
            )
            out.append(
                Finding(
                    gate=GATE,
                    rule_id="EGC010",
                    severity=Severity.HIGH,
                    title="Cost center over its monthly budget",
                    message=f"cost center {center!r} costs {money(total)} {cur}/month at {basis} scale, over its "
                    f"budget of {money(budget)} (largest: {w.kind} {w.namespace}/{w.name}; all: {names})",
                    location=loc,
                    details={
                        "cost_center": center,
                        "monthly": str(total),
                        "budget": str(budget),
                        "basis": basis,
                        "workloads": [c.workload.ref for c in members],
                        "config": config_path,
                    },
                )
            )
    return out


def check_required(
    estimate: Estimate, labels: Sequence[str], annotations: Sequence[str]
) -> list[Finding]:
    """A finding for every workload missing a required cost-allocation label or annotation."""
    out: list[Finding] = []
    for cost in estimate.costs:
        w = cost.workload
        for kind, keys, have, ptr in (
            ("label", labels, w.labels, "/metadata/labels"),
            ("annotation", annotations, w.annotations, "/metadata/annotations"),
        ):
            missing = [k for k in keys if not have.get(k)]
            if missing:
                out.append(
                    Finding(
                        gate=GATE,
                        rule_id="EGC013",
                        severity=Severity.MEDIUM,
                        title=f"Missing cost-allocation {kind}",
                        message=f"{w.kind} {w.namespace}/{w.name}: missing required cost-allocation {kind}"
                        f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
                        location=Location(w.path, w.line_of(ptr), pointer=w.pointer + ptr),
                        details={"workload": w.ref, "document": w.document.index, "missing": missing},
                    )
                )
    return out


def check_thresholds(
    estimate: Estimate,
    basis: Basis,
    *,
    max_monthly: Decimal | None = None,
    max_increase: Decimal | None = None,
    max_increase_percent: Decimal | None = None,
    base: Estimate | None = None,
    base_ref: str | None = None,
    config_path: str | Path | None = None,
) -> list[Finding]:
    """Findings when the total is above `max_monthly`, or rose more than `max_increase` (money)
    or `max_increase_percent` against `base`. A base total of 0 makes any rise infinite in %."""
    cur = estimate.prices.currency
    total = estimate.total(basis)
    out: list[Finding] = []
    before_by_key = {c.workload.key: c.monthly(basis) for c in base.costs} if base is not None else {}

    def where(rise: bool) -> tuple[Location, str]:
        """The workload that contributes most (to the total, or to the rise)."""
        if not estimate.costs:
            return Location(str(config_path) if config_path else None), ""

        def weight(c: WorkloadCost) -> Decimal:
            return c.monthly(basis) - (before_by_key.get(c.workload.key, Decimal(0)) if rise else 0)

        top = max(estimate.costs, key=weight)
        w = top.workload
        return Location(w.path, w.line, pointer=w.pointer or None), f" (largest: {w.kind} {w.namespace}/{w.name})"

    def add(rule: str, title: str, message: str, details: dict[str, object]) -> None:
        loc, largest = where(rule != "EGC020")
        out.append(
            Finding(
                gate=GATE,
                rule_id=rule,
                severity=Severity.HIGH,
                title=title,
                message=message + largest,
                location=loc,
                details={"basis": basis, "monthly": str(total), **details},
            )
        )

    if max_monthly is not None and total > max_monthly:
        add(
            "EGC020",
            "Total monthly cost above threshold",
            f"total {money(total)} {cur}/month at {basis} scale is above max_monthly {money(max_monthly)}",
            {"threshold": str(max_monthly)},
        )
    if base is None:
        return out
    before = base.total(basis)
    rise = total - before
    if max_increase is not None and rise > max_increase:
        add(
            "EGC021",
            "Monthly cost increase above threshold",
            f"total rose by {money(rise)} {cur}/month against {base_ref} ({money(before)} → {money(total)}), "
            f"above max_increase {money(max_increase)}",
            {"base": str(before), "threshold": str(max_increase), "ref": base_ref},
        )
    if max_increase_percent is not None and rise > 0:
        percent = rise / before * 100 if before else None
        if percent is None or percent > max_increase_percent:
            shown = f"{percent.quantize(Decimal('0.1'))} %" if percent is not None else "from nothing"
            add(
                "EGC022",
                "Monthly cost increase (%) above threshold",
                f"total rose {shown} against {base_ref} ({money(before)} → {money(total)} {cur}/month), "
                f"above max_increase_percent {max_increase_percent}",
                {"base": str(before), "threshold_percent": str(max_increase_percent), "ref": base_ref},
            )
    return out
