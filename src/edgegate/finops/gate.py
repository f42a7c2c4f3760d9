"""The cost gate: estimate, FinOpsPolicy caps, budgets, required tags, thresholds, base diff.

`run_estimate` is what ``edgegate cost estimate`` calls; `run_from_config` is what ``edgegate
check`` calls with the ``[cost]`` section — both end in `evaluate`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from edgegate.config import Config
from edgegate.errors import ConfigError, NothingToCheckError
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.finops.budgets import check_budgets, check_required, check_thresholds
from edgegate.finops.estimate import Basis, Estimate, estimate
from edgegate.finops.policy import CapScope, check_policies, load_policies
from edgegate.finops.prices import load_prices
from edgegate.finops.workloads import (
    Unpriced,
    WorkloadOptions,
    extract_workloads,
    load_manifests,
    parse_duration,
    unpriced_workloads,
)

__all__ = ["CostSettings", "evaluate", "run_estimate", "run_from_config", "settings_from_section"]

GATE = "cost"


@dataclass
class CostSettings:
    """Everything the cost gate needs besides the manifests (``[cost]`` plus CLI options)."""

    prices: Path | None = None
    nodes: int | None = None
    base: str | None = None
    basis: Basis = "max"
    scope: CapScope = "total"
    expected_load: Decimal = Decimal("0.5")
    assume_max_replicas: int = 10
    job_duration_hours: Decimal = Decimal(1)
    org: str | None = None
    cost_center_key: str | None = None
    budgets: dict[str, Decimal] = field(default_factory=dict)
    required_labels: list[str] = field(default_factory=list)
    required_annotations: list[str] = field(default_factory=list)
    max_monthly: Decimal | None = None
    max_increase: Decimal | None = None
    max_increase_percent: Decimal | None = None
    config_path: str | None = None

    def center_key(self) -> str | None:
        if self.cost_center_key:
            return self.cost_center_key
        return f"finops.{self.org}/cost-center" if self.org else None


def _dec(value: Any) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def settings_from_section(section: Mapping[str, Any], config: Config | None = None) -> CostSettings:
    """`CostSettings` from a (schema-validated) ``[cost]`` section; paths resolve against the
    config's folder."""
    where = config.shown if config is not None else None
    s = CostSettings(config_path=where)
    if "prices" in section:
        s.prices = config.resolve(section["prices"]) if config else Path(section["prices"])
    s.nodes = section.get("nodes")
    s.base = section.get("base")
    s.basis = cast(Basis, section.get("basis", "max"))
    s.scope = cast(CapScope, section.get("cap-scope", "total"))
    if "expected-load" in section:
        s.expected_load = _dec(section["expected-load"])
    s.assume_max_replicas = int(section.get("assume-max-replicas", 10))
    if "job-duration" in section:
        try:
            s.job_duration_hours = parse_duration(section["job-duration"])
        except ValueError as exc:
            raise ConfigError(f"cost.job-duration: {exc}", where) from None
    s.org = section.get("org")
    s.cost_center_key = section.get("cost-center-key")
    s.budgets = {str(k): _dec(v) for k, v in (section.get("budgets") or {}).items()}

    def fill(text: str) -> str:
        return text.replace("{org}", s.org) if s.org else text

    s.required_labels = [fill(x) for x in section.get("required-labels", [])]
    s.required_annotations = [fill(x) for x in section.get("required-annotations", [])]
    for key in ("max-monthly", "max-increase", "max-increase-percent"):
        if key in section:
            setattr(s, key.replace("-", "_"), _dec(section[key]))
    unresolved = [x for x in (*s.required_labels, *s.required_annotations) if "{org}" in x]
    if unresolved:
        raise ConfigError(f"cost: {unresolved[0]!r} uses {{org}} but cost.org is not set", where)
    if s.budgets and s.center_key() is None:
        raise ConfigError("cost.budgets needs cost.org (or cost.cost-center-key) to find cost centers", where)
    return s


def _estimate(docs: Sequence[Any], s: CostSettings, nodes_default: int | None) -> Estimate:
    prices = load_prices(s.prices)
    options = WorkloadOptions(
        nodes=s.nodes if s.nodes is not None else (nodes_default if nodes_default is not None else prices.nodes),
        expected_load=s.expected_load,
        assume_max_replicas=s.assume_max_replicas,
        job_duration_hours=s.job_duration_hours,
        hours_per_month=prices.hours_per_month,
    )
    return estimate(extract_workloads(docs, options), prices, s.assume_max_replicas)


def evaluate(paths: Sequence[str | Path], settings: CostSettings) -> GateResult:
    """Price the manifests under `paths` and check them; the one entry point of the gate."""
    from edgegate.finops.diff import diff_estimates, diff_table, load_manifests_at

    started = time.perf_counter()
    s = settings
    if (s.max_increase is not None or s.max_increase_percent is not None) and not s.base:
        raise ConfigError(
            "cost.max-increase / max-increase-percent need a base to compare with (--base REF or cost.base)",
            s.config_path,
        )
    docs = load_manifests(paths)
    est = _estimate(docs, s, None)
    unpriced = unpriced_workloads(docs)
    if not est.costs and not unpriced:
        raise NothingToCheckError(
            "no workload to price (Deployment, StatefulSet, ReplicaSet, DaemonSet, Pod, Job, CronJob, "
            "Knative Service, EdgeAIDeployment)",
            ", ".join(map(str, paths)),
        )
    policies = load_policies(docs)
    findings: list[Finding] = [_unpriced(u) for u in unpriced]
    cap_findings, matches = check_policies(est.costs, policies, est.prices.hours_per_month, s.scope)
    findings += cap_findings
    key = s.center_key()
    if s.budgets and key:
        findings += check_budgets(est, s.budgets, key, s.basis, s.config_path)
    findings += check_required(est, s.required_labels, s.required_annotations)
    findings += _assumptions(est)
    tables = [est.table()]
    base_est = None
    if s.base:
        base_docs = load_manifests_at(s.base, paths)
        base_est = _estimate(base_docs, s, None)
        changes = diff_estimates(base_est, est, s.basis)
        tables.append(diff_table(changes, base_est, est, s.basis, s.base))
    findings += check_thresholds(
        est,
        s.basis,
        max_monthly=s.max_monthly,
        max_increase=s.max_increase,
        max_increase_percent=s.max_increase_percent,
        base=base_est,
        base_ref=s.base,
        config_path=s.config_path,
    )
    stats: dict[str, Any] = {
        "documents": len(docs),
        "workloads": len(est.costs),
        "policies": len(policies),
        "policy_matches": matches,
        "prices": est.prices.source,
        "example_prices": est.prices.example,
        "currency": est.prices.currency,
        "basis": s.basis,
        "cap_scope": s.scope,
        "monthly_total": {b: float(est.total(b).quantize(Decimal("0.01"))) for b in ("min", "expected", "max")},
        "costs": [c.to_dict() for c in est.costs],
        "tables": tables,
    }
    if base_est is not None:
        stats["base"] = s.base
        stats["base_monthly_total"] = float(base_est.total(s.basis).quantize(Decimal("0.01")))
    stats["seconds"] = round(time.perf_counter() - started, 3)
    return GateResult.decide(GATE, findings, stats=stats)


def _unpriced(u: Unpriced) -> Finding:
    """EGC005: containers the gate cannot price. Their cost is unknown, never zero: it fails the
    gate (a Rollout of 50 pods priced at nothing would pass every budget)."""
    return Finding(
        gate=GATE,
        rule_id="EGC005",
        severity=Severity.HIGH,
        title="Workload not priced",
        message=f"{u.kind} {u.name!r} runs containers ({u.pointer}) of a kind the cost gate does not price: "
        "its cost is unknown, so no budget or cap can pass it; price it as a Deployment or leave it out of [cost] paths",
        location=Location(u.document.path, u.document.line_of(u.pointer), pointer=u.pointer),
        details={"kind": u.kind, "name": u.name, "document": u.document.index},
    )


def _assumptions(est: Estimate) -> list[Finding]:
    """A non-blocking note for every assumption a price rests on (unbounded scale, run time)."""
    return [
        Finding(
            gate=GATE,
            rule_id="EGC030",
            severity=Severity.INFO,
            title="Cost assumption",
            message=f"{c.workload.kind} {c.workload.namespace}/{c.workload.name}: {note}",
            location=Location(c.workload.path, c.workload.line, pointer=c.workload.pointer or None),
            details={"workload": c.workload.ref, "document": c.workload.document.index},
            blocking=False,
        )
        for c in est.costs
        for note in c.workload.notes
    ]


def run_estimate(paths: Sequence[str | Path], settings: CostSettings | None = None) -> list[GateResult]:
    """``edgegate cost estimate``."""
    return [evaluate(paths, settings or CostSettings())]


def run_from_config(section: Mapping[str, Any], config: Config) -> list[GateResult]:
    """``edgegate check``: the ``[cost]`` section (``paths`` default: the config's folder)."""
    settings = settings_from_section(section, config)
    paths = [config.display_path(p) for p in section.get("paths", ["."])]
    return run_estimate(paths, settings)
