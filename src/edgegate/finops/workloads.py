"""Workloads found in manifests: what one pod (or edge device) asks for, how many run, how long.

Kinds: Deployment, StatefulSet, ReplicaSet, DaemonSet, Pod, Job, CronJob, Knative Service
(``serving.knative.dev``) and ``EdgeAIDeployment``. HorizontalPodAutoscalers in the same inputs
set the scale range of the workload they target. ``kind: List`` documents are expanded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from edgegate.errors import InputError, NothingToCheckError
from edgegate.finops.cron import CronError, runs_per_month
from edgegate.finops.quantities import QuantityError, parse_cpu, parse_gpu, parse_memory
from edgegate.io import Document, iter_input_files, load_documents

__all__ = [
    "ANNOTATION_PREFIX",
    "Container",
    "Scale",
    "Workload",
    "WorkloadOptions",
    "extract_workloads",
    "load_manifests",
    "parse_duration",
]

ANNOTATION_PREFIX = "cost.edgegate.dev/"
"""Per-workload knobs: ``gpu-type``, ``nodes``, ``job-duration``, ``expected-load``."""

POD_KINDS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Pod", "Job", "CronJob"})
MANIFEST_SUFFIXES = frozenset({".yaml", ".yml", ".json"})
_GPU_SELECTOR_KEYS = (
    "cloud.google.com/gke-accelerator",
    "nvidia.com/gpu.product",
    "karpenter.k8s.aws/instance-gpu-name",
    "k8s.amazonaws.com/accelerator",
    "accelerator",
)
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


@dataclass(frozen=True)
class WorkloadOptions:
    """Assumptions the manifests do not state (each overridable per workload by annotation)."""

    nodes: int | None = None
    """Nodes a DaemonSet runs on (``--nodes``, ``[cost] nodes``, or the price sheet's)."""
    expected_load: Decimal = Decimal("0.5")
    """Average demand as a fraction of the maximum scale (autoscaled workloads)."""
    assume_max_replicas: int = 10
    """Maximum used for pricing when a Knative Service sets no max-scale (unbounded)."""
    job_duration_hours: Decimal = Decimal(1)
    """Wall time of one Job / CronJob run when no annotation says."""
    hours_per_month: Decimal = Decimal(730)


@dataclass(frozen=True)
class Container:
    """One container's priced resources and where each came from (requests or limits)."""

    name: str
    pointer: str
    cpu: Decimal
    memory: Decimal
    gpu: Decimal
    cpu_from: str | None
    memory_from: str | None
    gpu_from: str | None
    init: bool = False


@dataclass(frozen=True)
class Scale:
    """Concurrent pods (or devices): minimum, expected and maximum (None = unbounded)."""

    min: int
    expected: int
    max: int | None
    source: str
    target_utilisation: Decimal | None = None
    pointer: str | None = None
    """Where the maximum is set (for findings)."""
    path: str | None = None
    line: int | None = None


@dataclass
class Workload:
    """A priced unit: one workload object of the inputs."""

    kind: str
    name: str
    namespace: str
    api_version: str
    document: Document
    pointer: str
    """JSON pointer of the object in its document ('' unless it is an item of a List)."""
    labels: dict[str, str]
    annotations: dict[str, str]
    containers: list[Container]
    cpu: Decimal
    """Cores per pod (or device)."""
    memory: Decimal
    """Bytes per pod (or device)."""
    gpu: Decimal
    gpu_type: str | None
    scale: Scale
    run_hours: tuple[Decimal, Decimal, Decimal] | None = None
    """Hours per month each pod runs (min, expected, max) for Jobs/CronJobs; None = always."""
    device_type: str | None = None
    """EdgeAIDeployment: the device type priced per device-hour."""
    notes: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.document.path

    @property
    def line(self) -> int:
        return self.document.line_of(self.pointer or None)

    def line_of(self, pointer: str) -> int:
        return self.document.line_of(self.pointer + pointer)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @property
    def basis(self) -> str:
        """Which fields were priced: requests, limits, or both (per resource)."""
        sources = {
            s
            for c in self.containers
            for s in (c.cpu_from, c.memory_from, c.gpu_from)
            if s is not None
        }
        if not sources:
            return "none"
        return "+".join(sorted(sources))


def parse_duration(text: object) -> Decimal:
    """A duration in hours from ``"90m"``, ``"1h30m"``, ``"45s"``, ``"2h"`` or seconds (a number)."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, (int, float)):
        return Decimal(repr(text)) / 3600 if isinstance(text, float) else Decimal(text) / 3600
    s = str(text).strip()
    if s.isdigit():
        return Decimal(s) / 3600
    m = _DURATION.match(s)
    if not s or m is None or not any(m.groups()):
        raise ValueError(f"invalid duration {text!r} (expected e.g. 90m, 1h30m, 45s)")
    h, mi, sec = (Decimal(g) if g else Decimal(0) for g in m.groups())
    return h + mi / 60 + sec / 3600


def load_manifests(paths: Iterable[str | Path]) -> list[Document]:
    """Every YAML/JSON document under `paths` (directories recursively). A folder without any
    YAML or JSON file, or whose files hold no Kubernetes object, is a `NothingToCheckError`:
    nothing to price is not a pass."""
    docs: list[Document] = []
    for path in paths:
        files = list(iter_input_files([path], MANIFEST_SUFFIXES))
        if not files:
            raise NothingToCheckError("no YAML or JSON manifests", path)
        found = 0
        for file in files:
            loaded = load_documents(file)
            found += sum(1 for _ in _objects(loaded))
            docs.extend(loaded)
        if not found:
            raise NothingToCheckError("no Kubernetes objects (documents with apiVersion and kind)", path)
    return docs


def _objects(docs: Iterable[Document]) -> Iterable[tuple[Document, str, Mapping[str, Any]]]:
    for doc in docs:
        yield from _flattened(doc, doc.data, "", 0)


def _flattened(doc: Document, data: Any, base: str, depth: int) -> Iterable[tuple[Document, str, Mapping[str, Any]]]:
    """The objects kubectl applies from `data`: an object with an ``items`` array is a list (any
    kind: apimachinery's unstructured decoding), its items applied, not itself; an item without
    kind and apiVersion takes them from a ``<Kind>List``."""
    if not isinstance(data, Mapping):
        return
    items = data.get("items")
    if isinstance(items, list):
        if depth >= 4:
            raise InputError("lists nested more than 4 levels", doc.path, doc.line_of(base))
        kind, api = str(data.get("kind") or ""), data.get("apiVersion")
        for i, item in enumerate(items):
            if isinstance(item, Mapping) and "kind" not in item and "apiVersion" not in item \
                    and kind.endswith("List") and len(kind) > 4:
                item = {**item, "kind": kind[:-4], "apiVersion": api}
            yield from _flattened(doc, item, f"{base}/items/{i}", depth + 1)
    elif "kind" in data and "apiVersion" in data:
        yield doc, base, data


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _get(data: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(key, int):
            if not isinstance(data, list) or key >= len(data):
                return None
            data = data[key]
        else:
            if not isinstance(data, Mapping):
                return None
            data = data.get(key)
    return data


class _Ctx:
    """Error reporting for one object: every message names the object and its line."""

    def __init__(self, doc: Document, base: str, kind: str, name: str) -> None:
        self.doc, self.base, self.what = doc, base, f"{kind} {name!r}"

    def error(self, message: str, pointer: str = "") -> InputError:
        return InputError(f"{self.what}: {message}", self.doc.path, self.doc.line_of(self.base + pointer or None))

    def int_field(self, value: Any, pointer: str, default: int, minimum: int = 0) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
            raise self.error(f"{pointer.rsplit('/', 1)[-1]} must be a whole number, got {value!r}", pointer)
        n = int(value)
        if n < minimum:
            raise self.error(f"{pointer.rsplit('/', 1)[-1]} must be at least {minimum}", pointer)
        return n

    def decimal_field(self, value: Any, pointer: str, low: Decimal, high: Decimal) -> Decimal:
        try:
            d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
        except ArithmeticError:
            raise self.error(f"not a number: {value!r}", pointer) from None
        if not d.is_finite() or not low <= d <= high:
            raise self.error(f"{value!r} is outside {low}..{high}", pointer)
        return d


def _container(
    ctx: _Ctx, c: Any, pointer: str, init: bool = False, limits_ptr: str | None = None, default_name: str = ""
) -> Container:
    if not isinstance(c, Mapping):
        raise ctx.error("a container must be a mapping", pointer)
    resources = c.get("resources") or {}
    if not isinstance(resources, Mapping):
        raise ctx.error("resources must be a mapping", pointer + "/resources")
    requests = resources.get("requests") or {}
    limits = resources.get("limits") or {}
    for where, table in (("requests", requests), ("limits", limits)):
        if not isinstance(table, Mapping):  # fail closed: an unreadable request is not a zero
            raise ctx.error(f"resources.{where} must be a mapping", limits_ptr or f"{pointer}/resources/{where}")
    values: dict[str, tuple[Decimal, str | None]] = {}
    for res, parse in (("cpu", parse_cpu), ("memory", parse_memory)):
        values[res] = _pick(ctx, pointer, requests, limits, [res], parse, limits_ptr)
    gpu_keys = sorted({k for k in (*requests, *limits) if isinstance(k, str) and re.search(r"(^|/)gpu$", k)})
    values["gpu"] = _pick(ctx, pointer, requests, limits, gpu_keys, parse_gpu, limits_ptr)
    return Container(
        name=str(c.get("name") or default_name),
        pointer=pointer,
        cpu=values["cpu"][0],
        memory=values["memory"][0],
        gpu=values["gpu"][0],
        cpu_from=values["cpu"][1],
        memory_from=values["memory"][1],
        gpu_from=values["gpu"][1],
        init=init,
    )


def _pick(
    ctx: _Ctx,
    pointer: str,
    requests: Any,
    limits: Any,
    keys: Sequence[str],
    parse: Any,
    limits_ptr: str | None = None,
) -> tuple[Decimal, str | None]:
    """Requests first, limits as fallback (Kubernetes sets request = limit when only the limit
    is given). Several GPU resource names add up."""
    total, source = Decimal(0), None
    for key in keys:
        for where, table in (("requests", requests), ("limits", limits)):
            if isinstance(table, Mapping) and key in table:
                table_ptr = limits_ptr if limits_ptr is not None else f"{pointer}/resources/{where}"
                field_ptr = f"{table_ptr}/{key.replace('~', '~0').replace('/', '~1')}"
                try:
                    total += parse(table[key])
                except QuantityError as exc:
                    raise ctx.error(str(exc), field_ptr) from None
                source = where if source in (None, where) else "requests+limits"
                break
    return total, source


def _pod_resources(
    ctx: _Ctx, spec: Any, pointer: str, default_name: str = ""
) -> tuple[list[Container], Decimal, Decimal, Decimal]:
    """Containers and the pod's effective request: max(sum of app containers and sidecars,
    largest init container) plus the pod overhead, per resource (the scheduler's rule)."""
    if not isinstance(spec, Mapping):
        raise ctx.error("has no pod template spec", pointer)
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise ctx.error("has no containers", pointer + "/containers")
    out = [
        _container(ctx, c, f"{pointer}/containers/{i}", default_name=default_name if len(containers) == 1 else "")
        for i, c in enumerate(containers)
    ]
    inits = [
        _container(ctx, c, f"{pointer}/initContainers/{i}", init=True)
        for i, c in enumerate(spec.get("initContainers") or [])
    ]
    sidecars = [c for c, raw in zip(inits, spec.get("initContainers") or [], strict=False) if _is_sidecar(raw)]
    plain_inits = [c for c in inits if c not in sidecars]
    totals = []
    for attr in ("cpu", "memory", "gpu"):
        running = sum((getattr(c, attr) for c in [*out, *sidecars]), Decimal(0))
        peak_init = max((getattr(c, attr) for c in plain_inits), default=Decimal(0))
        totals.append(max(running, peak_init))
    overhead = spec.get("overhead") or {}
    if isinstance(overhead, Mapping):
        try:
            if "cpu" in overhead:
                totals[0] += parse_cpu(overhead["cpu"])
            if "memory" in overhead:
                totals[1] += parse_memory(overhead["memory"])
        except QuantityError as exc:
            raise ctx.error(str(exc), pointer + "/overhead") from None
    return [*out, *inits], totals[0], totals[1], totals[2]


def _is_sidecar(raw: Any) -> bool:
    return isinstance(raw, Mapping) and raw.get("restartPolicy") == "Always"


def _gpu_type(spec: Any, annotations: Mapping[str, str]) -> str | None:
    if ANNOTATION_PREFIX + "gpu-type" in annotations:
        return annotations[ANNOTATION_PREFIX + "gpu-type"]
    selector = _get(spec, "nodeSelector")
    if isinstance(selector, Mapping):
        for key in _GPU_SELECTOR_KEYS:
            if key in selector:
                return str(selector[key])
    terms = _get(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
    for term in terms if isinstance(terms, list) else []:
        for expr in _get(term, "matchExpressions") or []:
            values = _get(expr, "values")
            if (
                _get(expr, "key") in _GPU_SELECTOR_KEYS
                and _get(expr, "operator") == "In"
                and isinstance(values, list)
                and len(values) == 1
            ):
                return str(values[0])
    return None


def _expected(minimum: int, maximum: int, target: Decimal, load: Decimal) -> int:
    """Replicas an autoscaler keeps at `target` utilisation when average demand is `load` of
    the maximum scale's capacity: clamp(ceil(load × max / target), min, max)."""
    if maximum <= 0:
        return minimum
    want = math.ceil(load * maximum / target) if target > 0 else maximum
    return max(minimum, min(maximum, want))


@dataclass(frozen=True)
class _Hpa:
    min: int
    max: int
    target: Decimal
    name: str
    doc: Document
    base: str


def _hpas(objects: Sequence[tuple[Document, str, Mapping[str, Any]]]) -> dict[tuple[str, str, str], _Hpa]:
    found: dict[tuple[str, str, str], _Hpa] = {}
    for doc, base, obj in objects:
        if obj.get("kind") != "HorizontalPodAutoscaler":
            continue
        name = str(_get(obj, "metadata", "name") or "")
        ctx = _Ctx(doc, base, "HorizontalPodAutoscaler", name)
        spec = obj.get("spec") or {}
        ref = _get(spec, "scaleTargetRef")
        if not isinstance(ref, Mapping) or not ref.get("kind") or not ref.get("name"):
            raise ctx.error("spec.scaleTargetRef needs kind and name", "/spec/scaleTargetRef")
        minimum = ctx.int_field(spec.get("minReplicas"), "/spec/minReplicas", 1)
        if spec.get("maxReplicas") is None:
            raise ctx.error("spec.maxReplicas is required", "/spec")
        maximum = ctx.int_field(spec.get("maxReplicas"), "/spec/maxReplicas", 1, minimum=1)
        if maximum < minimum:
            raise ctx.error("maxReplicas is below minReplicas", "/spec/maxReplicas")
        target = Decimal(80)
        if spec.get("targetCPUUtilizationPercentage") is not None:
            target = Decimal(ctx.int_field(spec["targetCPUUtilizationPercentage"], "/spec/targetCPUUtilizationPercentage", 80, 1))
        for metric in spec.get("metrics") or []:
            if _get(metric, "type") == "Resource" and _get(metric, "resource", "name") == "cpu":
                util = _get(metric, "resource", "target", "averageUtilization")
                if util is not None:
                    target = Decimal(ctx.int_field(util, "/spec/metrics", 80, 1))
        ns = str(_get(obj, "metadata", "namespace") or "default")
        found[(str(ref["kind"]), ns, str(ref["name"]))] = _Hpa(minimum, maximum, target / 100, name, doc, base)
    return found


def extract_workloads(docs: Iterable[Document], options: WorkloadOptions | None = None) -> list[Workload]:
    """The priced workloads in `docs` (HPAs applied). Raises `InputError` (file:line) for a value
    that cannot be read or a scale that cannot be known."""
    opts = options or WorkloadOptions()
    objects = list(_objects(docs))
    hpas = _hpas(objects)
    out: list[Workload] = []
    for doc, base, obj in objects:
        kind = str(obj.get("kind"))
        api = str(obj.get("apiVersion", ""))
        if _priced(kind, api):
            out.append(_workload(doc, base, obj, kind, api, hpas, opts))
    return out


def _priced(kind: str, api: str) -> bool:
    return kind in POD_KINDS or (kind == "Service" and api.startswith("serving.knative.dev/")) or kind == "EdgeAIDeployment"


@dataclass(frozen=True)
class Unpriced:
    """An object of a kind the gate does not price that runs containers (an Argo Rollout, a
    KServe InferenceService, a Knative Configuration...): its cost is unknown, not zero."""

    kind: str
    name: str
    document: Document
    pointer: str
    """JSON pointer of the first container list found in it."""


def unpriced_workloads(docs: Iterable[Document]) -> list[Unpriced]:
    """Objects of kinds `extract_workloads` does not price (other than data and the kinds that
    only name images, `_INERT_KINDS`/`_INERT_GROUPS`) that name a container image outside their
    metadata: an object with a string ``image``,
    however the containers are written (a list, a map, Argo's ``container``/``script``). An
    object too deep to search is one too (its cost cannot be ruled out)."""
    out: list[Unpriced] = []
    for doc, base, obj in _objects(docs):
        kind, api = str(obj.get("kind")), str(obj.get("apiVersion", ""))
        if _priced(kind, api) or kind in _INERT_KINDS or api.split("/", 1)[0] in _INERT_GROUPS:
            continue
        where = _image_at(obj, base)
        if where is not None:
            name = str(_get(obj.get("metadata"), "name") or "<unnamed>")
            out.append(Unpriced(kind, name, doc, where))
    return out


_INERT_KINDS = frozenset({"HorizontalPodAutoscaler", "ConfigMap", "Secret"})
_INERT_GROUPS = frozenset({"kyverno.io", "image.toolkit.fluxcd.io"})
"""Objects that name images without running them: data, Kyverno's patterns, Flux's image scans
(the same as the rule pack's EGP012)."""


def _image_at(root: Any, base: str) -> str | None:
    """The JSON pointer of the first object with a string ``image`` in `root` (searched without
    recursion); deeper than 64 levels: that level's pointer (not searched, so not ruled out)."""
    stack: list[tuple[Any, str, int]] = [(root, base, 0)]
    while stack:
        value, pointer, depth = stack.pop()
        if isinstance(value, Mapping):
            if isinstance(value.get("image"), str) and value is not root:
                return pointer
            if depth >= 64:
                return pointer
            children = [(v, f"{pointer}/{str(k).replace('~', '~0').replace('/', '~1')}") for k, v in value.items()
                        if not (value is root and k == "metadata")]  # labels and annotations run nothing
        elif isinstance(value, list):
            if depth >= 64:
                return pointer
            children = [(v, f"{pointer}/{i}") for i, v in enumerate(value)]
        else:
            continue
        stack.extend((v, p, depth + 1) for v, p in reversed(children))
    return None


def _workload(
    doc: Document,
    base: str,
    obj: Mapping[str, Any],
    kind: str,
    api: str,
    hpas: Mapping[tuple[str, str, str], _Hpa],
    opts: WorkloadOptions,
) -> Workload:
    meta = obj.get("metadata") or {}
    name = str(_get(meta, "name") or "")
    ctx = _Ctx(doc, base, kind, name or "<unnamed>")
    if not name:
        raise ctx.error("metadata.name is missing", "/metadata")
    namespace = str(_get(meta, "namespace") or "default")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise ctx.error("spec is missing", "")
    labels = _str_map(_get(meta, "labels"))
    annotations = _str_map(_get(meta, "annotations"))
    tmpl_ptr = {"CronJob": "/spec/jobTemplate/spec/template", "Pod": ""}.get(kind, "/spec/template")
    template: Any = obj
    for part in tmpl_ptr.strip("/").split("/") if tmpl_ptr else []:
        template = _get(template, part)
    if kind != "EdgeAIDeployment" and kind != "Pod":
        for key, value in _str_map(_get(template, "metadata", "labels")).items():
            labels.setdefault(key, value)
        for key, value in _str_map(_get(template, "metadata", "annotations")).items():
            annotations.setdefault(key, value)
    common: dict[str, Any] = {
        "kind": kind,
        "name": name,
        "namespace": namespace,
        "api_version": api,
        "document": doc,
        "pointer": base,
        "labels": labels,
        "annotations": annotations,
    }
    if kind == "EdgeAIDeployment":
        return _edge_ai(ctx, spec, common, opts)
    pod_spec_ptr = f"{tmpl_ptr}/spec"
    pod_spec = _get(template, "spec") if kind != "Pod" else spec
    # Knative names an unnamed container "user-container" (what usage data calls it)
    default_name = "user-container" if kind == "Service" else ""
    containers, cpu, memory, gpu = _pod_resources(ctx, pod_spec, pod_spec_ptr, default_name)
    gpu_type = _gpu_type(pod_spec, annotations) if gpu else None
    run_hours = None
    notes: list[str] = []
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = ctx.int_field(spec.get("replicas"), "/spec/replicas", 1)
        hpa = hpas.get((kind, namespace, name))
        if hpa is not None:
            scale = Scale(
                min=hpa.min,
                expected=_expected(hpa.min, hpa.max, hpa.target, _load(ctx, annotations, opts)),
                max=hpa.max,
                source=f"HorizontalPodAutoscaler {hpa.name}",
                target_utilisation=hpa.target,
                pointer=hpa.base + "/spec/maxReplicas",
                path=hpa.doc.path,
                line=hpa.doc.line_of(hpa.base + "/spec/maxReplicas"),
            )
        else:
            scale = Scale(replicas, replicas, replicas, "spec.replicas", pointer=base + "/spec/replicas")
    elif kind == "Pod":
        scale = Scale(1, 1, 1, "pod")
    elif kind == "DaemonSet":
        nodes = opts.nodes
        if ANNOTATION_PREFIX + "nodes" in annotations:
            nodes = ctx.int_field(annotations[ANNOTATION_PREFIX + "nodes"], "/metadata/annotations", 0)
        if nodes is None:
            raise ctx.error(
                "a DaemonSet runs one pod per node and the node count is unknown "
                "(give --nodes, [cost] nodes, 'nodes' in the price sheet, or the annotation "
                f"{ANNOTATION_PREFIX}nodes)"
            )
        scale = Scale(nodes, nodes, nodes, "nodes")
    elif kind in ("Job", "CronJob"):
        job_spec = spec if kind == "Job" else _get(spec, "jobTemplate", "spec") or {}
        job_ptr = "/spec" if kind == "Job" else "/spec/jobTemplate/spec"
        parallelism = ctx.int_field(_get(job_spec, "parallelism"), job_ptr + "/parallelism", 1)
        completions = _get(job_spec, "completions")
        if completions is not None:
            parallelism = min(parallelism, ctx.int_field(completions, job_ptr + "/completions", 1))
        scale = Scale(parallelism, parallelism, parallelism, "parallelism", pointer=base + job_ptr)
        run_hours = _job_hours(ctx, kind, spec, job_spec, job_ptr, annotations, opts, notes)
    else:  # Knative Service
        scale = _knative_scale(ctx, _str_map(_get(template, "metadata", "annotations")), annotations, opts, notes)
    unset = [r for r in ("cpu", "memory") if not any(getattr(c, f"{r}_from") for c in containers)]
    if unset:
        notes.append(f"no {' or '.join(unset)} request or limit: that part is priced at 0")
    if scale.path is None and scale.pointer is not None:
        scale = replace(scale, path=doc.path, line=doc.line_of(scale.pointer))
    return Workload(
        **common,
        containers=containers,
        cpu=cpu,
        memory=memory,
        gpu=gpu,
        gpu_type=gpu_type,
        scale=scale,
        run_hours=run_hours,
        notes=notes,
    )


def _load(ctx: _Ctx, annotations: Mapping[str, str], opts: WorkloadOptions) -> Decimal:
    key = ANNOTATION_PREFIX + "expected-load"
    if key in annotations:
        return ctx.decimal_field(annotations[key], "/metadata/annotations", Decimal(0), Decimal(1))
    return opts.expected_load


def _job_hours(
    ctx: _Ctx,
    kind: str,
    spec: Mapping[str, Any],
    job_spec: Any,
    job_ptr: str,
    annotations: Mapping[str, str],
    opts: WorkloadOptions,
    notes: list[str],
) -> tuple[Decimal, Decimal, Decimal]:
    key = ANNOTATION_PREFIX + "job-duration"
    if key in annotations:
        try:
            duration = parse_duration(annotations[key])
        except ValueError as exc:
            raise ctx.error(str(exc), "/metadata/annotations") from None
    else:
        duration = opts.job_duration_hours
        notes.append(f"run time assumed {_hours_text(duration)} per run (no {key} annotation)")
    deadline = _get(job_spec, "activeDeadlineSeconds")
    longest = duration
    if deadline is not None:
        longest = max(duration, Decimal(ctx.int_field(deadline, job_ptr + "/activeDeadlineSeconds", 0, 1)) / 3600)
    if kind == "Job":
        runs = Decimal(1)
        notes.append("a Job is counted as one run in the month")
    else:
        schedule = spec.get("schedule")
        if not isinstance(schedule, str):
            raise ctx.error("spec.schedule is missing", "/spec")
        try:
            runs = runs_per_month(schedule)
        except CronError as exc:
            raise ctx.error(f"cannot read schedule {schedule!r}: {exc}", "/spec/schedule") from None
        if spec.get("suspend") is True:
            runs = Decimal(0)
            notes.append("suspended: no runs")
    cap = opts.hours_per_month
    return (min(runs * duration, cap), min(runs * duration, cap), min(runs * longest, cap))


def _hours_text(hours: Decimal) -> str:
    minutes = hours * 60
    return f"{minutes.normalize():f} min" if minutes < 120 else f"{hours.normalize():f} h"


def _knative_scale(
    ctx: _Ctx,
    tmpl_annotations: Mapping[str, str],
    annotations: Mapping[str, str],
    opts: WorkloadOptions,
    notes: list[str],
) -> Scale:
    ptr = "/spec/template/metadata/annotations"

    def value(*names: str) -> tuple[str | None, str]:
        for n in names:
            for table, where in ((tmpl_annotations, ptr), (annotations, "/metadata/annotations")):
                if f"autoscaling.knative.dev/{n}" in table:
                    return table[f"autoscaling.knative.dev/{n}"], f"{where}/autoscaling.knative.dev~1{n}"
        return None, ptr

    raw_min, min_ptr = value("min-scale", "minScale")
    raw_max, max_ptr = value("max-scale", "maxScale")
    raw_util, util_ptr = value("target-utilization-percentage")
    minimum = ctx.int_field(raw_min, min_ptr, 0)
    maximum: int | None = ctx.int_field(raw_max, max_ptr, 0)
    target = ctx.decimal_field(raw_util, util_ptr, Decimal(1), Decimal(100)) / 100 if raw_util else Decimal("0.7")
    if maximum == 0:
        maximum = None
        notes.append(f"no max-scale (unbounded); priced at {max(opts.assume_max_replicas, minimum)} at most")
    elif maximum is not None and maximum < minimum:
        raise ctx.error("max-scale is below min-scale", max_ptr)
    priced_max = maximum if maximum is not None else max(opts.assume_max_replicas, minimum)
    expected = _expected(minimum, priced_max, target, _load(ctx, annotations, opts))
    return Scale(
        min=minimum,
        expected=expected,
        max=maximum,
        source="Knative autoscaling annotations",
        target_utilisation=target,
        pointer=ctx.base + max_ptr,
        path=ctx.doc.path,
        line=ctx.doc.line_of(ctx.base + max_ptr),
    )


def _edge_ai(ctx: _Ctx, spec: Mapping[str, Any], common: dict[str, Any], opts: WorkloadOptions) -> Workload:
    devices = spec.get("targetDevices")
    if not isinstance(devices, Mapping):
        raise ctx.error("spec.targetDevices is missing", "/spec")
    count = ctx.int_field(devices.get("count"), "/spec/targetDevices/count", -1)
    if count < 0:
        raise ctx.error("spec.targetDevices.count is missing", "/spec/targetDevices")
    device_type = _get(devices, "labels", "deviceType") or devices.get("deviceType")
    if not device_type:
        raise ctx.error("spec.targetDevices.labels.deviceType is missing (the device type to price)", "/spec/targetDevices")
    limits = spec.get("resourceLimits") or {}
    if not isinstance(limits, Mapping):
        raise ctx.error("spec.resourceLimits must be a mapping", "/spec/resourceLimits")
    fake = {"name": "", "resources": {"limits": dict(limits)}}
    c = _container(ctx, fake, "/spec", limits_ptr="/spec/resourceLimits")
    container = Container(
        name="",
        pointer="/spec/resourceLimits",
        cpu=c.cpu,
        memory=c.memory,
        gpu=c.gpu,
        cpu_from=c.cpu_from and "resourceLimits",
        memory_from=c.memory_from and "resourceLimits",
        gpu_from=c.gpu_from and "resourceLimits",
    )
    annotations: Mapping[str, str] = common["annotations"]
    gpu_type = annotations.get(ANNOTATION_PREFIX + "gpu-type")
    return Workload(
        **common,
        containers=[container],
        cpu=c.cpu,
        memory=c.memory,
        gpu=c.gpu,
        gpu_type=gpu_type,
        scale=Scale(
            count,
            count,
            count,
            "targetDevices.count",
            pointer=ctx.base + "/spec/targetDevices/count",
            path=ctx.doc.path,
            line=ctx.doc.line_of(ctx.base + "/spec/targetDevices/count"),
        ),
        device_type=str(device_type),
    )
