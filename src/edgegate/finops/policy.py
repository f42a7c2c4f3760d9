"""FinOpsPolicy caps: CPU cores, memory, daily GPU hours and replicas of the workloads a policy
selects, compared at maximum scale.

A policy selects a workload when its ``spec.targetWorkloadSelector`` matches the workload's labels
(``matchLabels`` and ``matchExpressions``, Kubernetes semantics; policies act cluster-wide, their
namespace is not a filter), and an ``EdgeAIDeployment`` also selects its policy by name with
``spec.finopsPolicyRef``.

The caps are compared with the workload's total at maximum scale (``scope="total"``: per-pod
amount × max replicas, devices or nodes), because this gate is about what the workload can cost.
``scope="replica"`` compares one pod / device instead — what the Rego rule pack checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from edgegate.errors import InputError
from edgegate.findings import Finding, Location, Severity
from edgegate.finops.estimate import WorkloadCost
from edgegate.finops.quantities import format_memory
from edgegate.finops.workloads import Workload, _objects
from edgegate.io import Document

__all__ = ["CapScope", "FinOpsPolicy", "check_policies", "load_policies", "selects"]

CapScope = Literal["total", "replica"]
GATE = "cost"
_GB = Decimal(1024**3)
"""maxMemoryGB is read as GiB, as the edge-ai Rego rule pack reads it."""
_REPLICA_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "Service"})
"""Kinds whose scale is a replica count (autoScale.maxReplicas applies)."""


@dataclass(frozen=True)
class FinOpsPolicy:
    """One FinOpsPolicy object: its selector and caps (None = no cap)."""

    name: str
    document: Document
    pointer: str
    match_labels: Mapping[str, str]
    match_expressions: Sequence[Mapping[str, Any]]
    has_selector: bool
    max_cpu_cores: Decimal | None
    max_memory_gb: Decimal | None
    daily_gpu_hours: Decimal | None
    max_replicas: int | None
    quantization_required: bool = False
    """``spec.optimizationRules.modelQuantizationRequired: true``."""

    @property
    def line(self) -> int:
        return self.document.line_of(self.pointer or None)


def _num(doc: Document, pointer: str, value: Any, what: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(f"FinOpsPolicy: {what} must be a number, got {value!r}", doc.path, doc.line_of(pointer))
    try:
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except ArithmeticError:
        raise InputError(f"FinOpsPolicy: {what} must be a number, got {value!r}", doc.path, doc.line_of(pointer)) from None
    if not d.is_finite() or d < 0:
        raise InputError(f"FinOpsPolicy: {what} must be a non-negative number", doc.path, doc.line_of(pointer))
    return d


def load_policies(docs: Iterable[Document]) -> list[FinOpsPolicy]:
    """Every FinOpsPolicy object in `docs`."""
    out: list[FinOpsPolicy] = []
    for doc, base, obj in _objects(docs):
        if obj.get("kind") != "FinOpsPolicy":
            continue
        meta = obj.get("metadata") or {}
        name = meta.get("name") if isinstance(meta, Mapping) else None
        if not name:
            raise InputError("FinOpsPolicy: metadata.name is missing", doc.path, doc.line_of(base or None))
        spec = obj.get("spec") or {}
        if not isinstance(spec, Mapping):
            raise InputError(f"FinOpsPolicy {name!r}: spec must be a mapping", doc.path, doc.line_of(base + "/spec"))
        selector = spec.get("targetWorkloadSelector")
        labels = selector.get("matchLabels") if isinstance(selector, Mapping) else None
        exprs = selector.get("matchExpressions") if isinstance(selector, Mapping) else None
        if labels is not None and not isinstance(labels, Mapping):
            raise InputError(
                f"FinOpsPolicy {name!r}: matchLabels must be a mapping",
                doc.path,
                doc.line_of(base + "/spec/targetWorkloadSelector/matchLabels"),
            )
        if exprs is not None and not isinstance(exprs, list):
            raise InputError(
                f"FinOpsPolicy {name!r}: matchExpressions must be a list",
                doc.path,
                doc.line_of(base + "/spec/targetWorkloadSelector/matchExpressions"),
            )
        limits = spec.get("costLimits") or {}
        scale = spec.get("autoScale") or {}
        lp, sp = base + "/spec/costLimits", base + "/spec/autoScale"
        max_replicas = _num(doc, sp + "/maxReplicas", _get(scale, "maxReplicas"), "autoScale.maxReplicas")
        out.append(
            FinOpsPolicy(
                name=str(name),
                document=doc,
                pointer=base,
                match_labels={str(k): str(v) for k, v in (labels or {}).items()},
                match_expressions=[e for e in exprs or [] if isinstance(e, Mapping)],
                has_selector=isinstance(selector, Mapping),
                max_cpu_cores=_num(doc, lp + "/maxCPUCores", _get(limits, "maxCPUCores"), "costLimits.maxCPUCores"),
                max_memory_gb=_num(doc, lp + "/maxMemoryGB", _get(limits, "maxMemoryGB"), "costLimits.maxMemoryGB"),
                daily_gpu_hours=_num(
                    doc, lp + "/dailyGPUHours", _get(limits, "dailyGPUHours"), "costLimits.dailyGPUHours"
                ),
                max_replicas=int(max_replicas) if max_replicas is not None else None,
                quantization_required=_get(spec.get("optimizationRules"), "modelQuantizationRequired") is True,
            )
        )
    return out


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, Mapping) else None


def selects(policy: FinOpsPolicy, workload: Workload) -> bool:
    """Whether `policy`'s label selector matches `workload` (an empty selector matches all; no
    selector matches none)."""
    if not policy.has_selector:
        return False
    labels = workload.labels
    if any(labels.get(k) != v for k, v in policy.match_labels.items()):
        return False
    for expr in policy.match_expressions:
        key, op = str(expr.get("key", "")), str(expr.get("operator", ""))
        values = [str(v) for v in expr.get("values") or []]
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise InputError(
                f"FinOpsPolicy {policy.name!r}: unknown matchExpressions operator {op!r}",
                policy.document.path,
                policy.line,
            )
    return True


def _policy_ref(w: Workload) -> str | None:
    if w.kind != "EdgeAIDeployment":
        return None
    spec = w.document.data
    for part in [p for p in w.pointer.split("/") if p]:
        spec = spec[int(part)] if isinstance(spec, list) else spec[part]
    ref = _get(_get(spec, "spec"), "finopsPolicyRef")
    return str(ref) if ref else None


def policies_for(
    workload: Workload, policies: Sequence[FinOpsPolicy], by_name: Mapping[str, FinOpsPolicy] | None = None
) -> tuple[list[FinOpsPolicy], str | None]:
    """The policies governing `workload` (by label selector, and for an EdgeAIDeployment by
    ``spec.finopsPolicyRef``), and the ref it names (None when it names none)."""
    names = by_name if by_name is not None else {p.name: p for p in policies}
    ref = _policy_ref(workload)
    chosen = [p for p in policies if selects(p, workload)]
    if ref is not None and ref in names and names[ref] not in chosen:
        chosen.append(names[ref])
    return chosen, ref


def check_policies(
    costs: Sequence[WorkloadCost],
    policies: Sequence[FinOpsPolicy],
    hours_per_month: Decimal,
    scope: CapScope = "total",
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Findings for every cap a selected workload breaches, and the (policy, workload) matches."""
    by_name = {p.name: p for p in policies}
    findings: list[Finding] = []
    matches: list[dict[str, Any]] = []
    for cost in costs:
        w = cost.workload
        chosen, ref = policies_for(w, policies, by_name)
        if ref is not None and ref not in by_name:
            findings.append(
                Finding(
                    gate=GATE,
                    rule_id="EGC006",
                    severity=Severity.HIGH,
                    title="FinOpsPolicy not found",
                    message=f"{w.kind} {w.namespace}/{w.name}: spec.finopsPolicyRef names FinOpsPolicy "
                    f"{ref!r}, which is not in the inputs, so its caps cannot be checked",
                    location=Location(w.path, w.line_of("/spec/finopsPolicyRef"), pointer=w.pointer + "/spec/finopsPolicyRef"),
                    details={"workload": w.ref, "document": w.document.index, "policy": ref},
                )
            )
        for policy in chosen:
            matches.append({"policy": policy.name, "workload": w.ref})
            findings.extend(_caps(cost, policy, hours_per_month, scope))
    return findings, matches


def _caps(cost: WorkloadCost, policy: FinOpsPolicy, hours_per_month: Decimal, scope: CapScope) -> list[Finding]:
    w = cost.workload
    s = w.scale
    unbounded = s.max is None
    pods = Decimal(1) if scope == "replica" else Decimal(cost.max_pods_priced)
    unit = "device" if w.device_type else "pod"
    at = "per " + unit if scope == "replica" else "at max scale"
    count = f"{s.max} {unit}s" if s.max is not None else f"unbounded {unit}s"
    who = f"{w.kind} {w.namespace}/{w.name}"
    pol = f"FinOpsPolicy {policy.name!r}"
    res_ptr = w.containers[0].pointer + ("" if w.device_type else "/resources") if w.containers else ""
    res_loc = Location(w.path, w.line_of(res_ptr), pointer=w.pointer + res_ptr)
    out: list[Finding] = []

    def add(rule: str, title: str, message: str, loc: Location, details: dict[str, Any]) -> None:
        out.append(
            Finding(
                gate=GATE,
                rule_id=rule,
                severity=Severity.HIGH,
                title=title,
                message=message,
                location=loc,
                details={"workload": w.ref, "document": w.document.index, "policy": policy.name, "scope": scope, **details},
            )
        )

    for resource, cap, rule, name in (
        ("cpu", policy.max_cpu_cores, "EGC001", "maxCPUCores"),
        ("memory", policy.max_memory_gb, "EGC002", "maxMemoryGB"),
    ):
        if cap is not None and not any(getattr(c, f"{resource}_from") for c in w.containers):
            add(
                rule,
                f"{resource.upper() if resource == 'cpu' else 'Memory'} not set under FinOpsPolicy {name}",
                f"{who}: sets no {resource} request or limit, so {pol} {name} {_n(cap)} cannot be "
                "checked (unbounded usage)",
                Location(w.path, w.line_of(w.containers[0].pointer if w.containers else ""), pointer=w.pointer or None),
                {"unset": resource, "limit": str(cap)},
            )
    total_cpu = w.cpu * pods
    if policy.max_cpu_cores is not None and (total_cpu > policy.max_cpu_cores or (unbounded and scope == "total" and w.cpu > 0)):
        how = f" ({_n(w.cpu)} per {unit} × {count})" if scope == "total" else ""
        add(
            "EGC001",
            "CPU above FinOpsPolicy maxCPUCores",
            f"{who}: {_n(total_cpu)} CPU cores {at}{how} exceed {pol} maxCPUCores {_n(policy.max_cpu_cores)}",
            res_loc,
            {"cpu_cores": str(total_cpu), "limit": str(policy.max_cpu_cores), "unbounded": unbounded},
        )
    total_mem = w.memory * pods
    if policy.max_memory_gb is not None and (
        total_mem > policy.max_memory_gb * _GB or (unbounded and scope == "total" and w.memory > 0)
    ):
        how = f" ({format_memory(w.memory)} per {unit} × {count})" if scope == "total" else ""
        add(
            "EGC002",
            "Memory above FinOpsPolicy maxMemoryGB",
            f"{who}: {_n(total_mem / _GB, 2)} GiB memory {at}{how} exceeds {pol} maxMemoryGB "
            f"{_n(policy.max_memory_gb)}",
            res_loc,
            {"memory_bytes": str(total_mem), "limit_gib": str(policy.max_memory_gb), "unbounded": unbounded},
        )
    if policy.daily_gpu_hours is not None and w.gpu:
        daily = Decimal(24)
        if w.run_hours is not None:
            daily = min(Decimal(24), w.run_hours[2] * 24 / hours_per_month)
        gpu_hours = w.gpu * pods * daily
        if gpu_hours > policy.daily_gpu_hours or (unbounded and scope == "total"):
            how = f" ({_n(w.gpu)} GPU × {_n(daily, 2)} h/day" + (f" × {count})" if scope == "total" else ")")
            add(
                "EGC003",
                "GPU hours above FinOpsPolicy dailyGPUHours",
                f"{who}: {_n(gpu_hours, 2)} GPU hours a day {at}{how} exceed {pol} dailyGPUHours "
                f"{_n(policy.daily_gpu_hours)}",
                res_loc,
                {"gpu_hours_per_day": str(gpu_hours), "limit": str(policy.daily_gpu_hours), "unbounded": unbounded},
            )
    if policy.max_replicas is not None and w.kind in _REPLICA_KINDS and (s.max is None or s.max > policy.max_replicas):
        loc = Location(s.path or w.path, s.line or w.line, pointer=s.pointer)
        got = "unbounded" if s.max is None else str(s.max)
        add(
            "EGC004",
            "Replicas above FinOpsPolicy autoScale.maxReplicas",
            f"{who}: maximum scale {got} ({s.source}) exceeds {pol} autoScale.maxReplicas {policy.max_replicas}",
            loc,
            {"max_replicas": s.max, "limit": policy.max_replicas},
        )
    return out


def _n(value: Decimal, places: int = 3) -> str:
    q = value.quantize(Decimal(1).scaleb(-places)).normalize()
    return f"{q:f}"
