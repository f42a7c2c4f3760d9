"""`edgegate model quant`: static quantization facts of an ONNX model and, against an fp32
reference, the output drift and the size and latency ratios measured with onnxruntime."""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import EngineError, InputError
from edgegate.findings import Finding, GateResult, Location, Severity

GATE = "model-quant"

QLINEAR_PREFIX = "QLinear"
INTEGER_OPS = frozenset({"MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"})
BLOCK_QUANT_OPS = frozenset({"MatMulNBits", "MatMulBnb4", "GatherBlockQuantized", "QMoE"})
COMPUTE_OPS = frozenset(
    {"MatMul", "Gemm", "Conv", "ConvTranspose", "Attention", "MultiHeadAttention", "LSTM", "GRU", "RNN", "Einsum"}
)
#: dtype name → bits per element (TensorProto data types).
_LOW_PRECISION = frozenset({"INT8", "UINT8", "INT4", "UINT4", "FLOAT16", "BFLOAT16", "FLOAT8E4M3FN",
                            "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "INT2", "UINT2", "FLOAT4E2M1"})


@dataclass
class QuantFacts:
    """What the graph says about quantization (nothing is executed)."""

    path: str
    quantized: bool
    schemes: list[str] = field(default_factory=list)
    qdq_pairs: int = 0
    quantize_linear: int = 0
    dequantize_linear: int = 0
    qlinear_ops: dict[str, int] = field(default_factory=dict)
    integer_ops: dict[str, int] = field(default_factory=dict)
    dynamic_quantize_linear: int = 0
    weight_bytes: dict[str, int] = field(default_factory=dict)
    weight_fraction: dict[str, float] = field(default_factory=dict)
    float_compute_ops: dict[str, int] = field(default_factory=dict)
    op_types: dict[str, int] = field(default_factory=dict)
    size_on_disk: int = 0
    external_files: list[str] = field(default_factory=list)
    opset: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _load(path: Path) -> Any:
    import onnx

    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a regular file", path)
    if path.stat().st_size > 2 * 1024**3:
        raise InputError("larger than the 2 GiB ONNX protobuf limit", path)
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a valid ONNX model: {text[:200]}", path) from None


def _dtype_name(data_type: int) -> str:
    import onnx

    try:
        return str(onnx.TensorProto.DataType.Name(data_type))
    except ValueError:
        return f"TYPE{data_type}"


def _bits(data_type: int) -> int:
    import onnx

    try:
        np_type = onnx.helper.tensor_dtype_to_np_dtype(data_type)
        name = _dtype_name(data_type)
        if name in ("INT4", "UINT4", "FLOAT4E2M1"):
            return 4
        if name in ("INT2", "UINT2"):
            return 2
        return int(np_type.itemsize) * 8
    except Exception:
        return 0


def quant_facts(path: str | Path) -> QuantFacts:
    """Static facts: quantization operators, QDQ pairs, weight bytes per dtype, compute ops
    left in float, size on disk including external data."""
    import onnx

    from edgegate.model.scan.onnx import iter_tensors

    p = Path(path)
    model = _load(p)
    nodes = list(model.graph.node)
    for fn in model.functions:
        nodes.extend(fn.node)
    op_types = Counter(n.op_type for n in nodes)
    producers = {out: n for n in nodes for out in n.output}
    init_types = {t.name: t.data_type for t in model.graph.initializer}
    facts = QuantFacts(path=str(path), quantized=False, op_types=dict(sorted(op_types.items())))
    facts.opset = {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import}
    facts.quantize_linear = op_types.get("QuantizeLinear", 0)
    facts.dequantize_linear = op_types.get("DequantizeLinear", 0)
    facts.qdq_pairs = sum(
        1
        for n in nodes
        if n.op_type == "DequantizeLinear" and n.input and n.input[0] in producers
        and producers[n.input[0]].op_type == "QuantizeLinear"
    )
    facts.qlinear_ops = {k: v for k, v in sorted(op_types.items()) if k.startswith(QLINEAR_PREFIX)}
    facts.integer_ops = {k: v for k, v in sorted(op_types.items()) if k in INTEGER_OPS or k in BLOCK_QUANT_OPS}
    facts.dynamic_quantize_linear = op_types.get("DynamicQuantizeLinear", 0)
    dq_weights = sum(
        1 for n in nodes if n.op_type == "DequantizeLinear" and n.input and init_types.get(n.input[0]) in (
            onnx.TensorProto.INT8, onnx.TensorProto.UINT8, getattr(onnx.TensorProto, "INT4", -1),
            getattr(onnx.TensorProto, "UINT4", -1))
    )
    # Weight bytes per dtype, from dims (external data is never read).
    by_type: Counter[str] = Counter()
    external: set[Path] = set()
    base = p.resolve().parent
    for t in iter_tensors(model):
        numel = math.prod(t.dims) if t.dims else 1
        by_type[_dtype_name(t.data_type)] += (numel * _bits(t.data_type) + 7) // 8
        if t.data_location == onnx.TensorProto.EXTERNAL:
            loc = {e.key: e.value for e in t.external_data}.get("location")
            if loc:
                target = (base / loc).resolve()
                if target.is_relative_to(base) and target.is_file():
                    external.add(target)
    total = sum(by_type.values())
    facts.weight_bytes = dict(by_type.most_common())
    facts.weight_fraction = {k: round(v / total, 4) for k, v in by_type.most_common()} if total else {}
    dq_outputs = {o for n in nodes if n.op_type == "DequantizeLinear" for o in n.output}
    floats = Counter(n.op_type for n in nodes if n.op_type in COMPUTE_OPS and not any(i in dq_outputs for i in n.input))
    facts.float_compute_ops = dict(sorted(floats.items()))
    facts.size_on_disk = p.stat().st_size + sum(f.stat().st_size for f in external)
    facts.external_files = sorted(str(f.relative_to(base)) for f in external)
    schemes = []
    if facts.qdq_pairs or dq_weights:
        schemes.append("qdq")
    if facts.qlinear_ops:
        schemes.append("qoperator")
    if facts.integer_ops or facts.dynamic_quantize_linear:
        schemes.append("dynamic/integer")
    low = sum(v for k, v in by_type.items() if k in _LOW_PRECISION)
    if total and low / total >= 0.5 and not schemes:
        kinds = sorted({k for k in by_type if k in _LOW_PRECISION}, key=lambda k: -by_type[k])
        schemes.append("low-precision weights (" + ", ".join(kinds).lower() + ")")
    facts.schemes = schemes
    facts.quantized = bool(schemes)
    return facts


def is_quantized(path: str | Path) -> bool:
    """True when the ONNX model at `path` is quantized (integer or QDQ operators, or at least
    half of its weight bytes in 8-bit-or-narrower or 16-bit float types). For FinOps checks."""
    return quant_facts(path).quantized


# -- drift -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftThresholds:
    max_abs_error: float | None = None
    mean_abs_error: float | None = None
    min_cosine: float | None = 0.99
    min_top1_agreement: float | None = 0.98
    max_size_ratio: float | None = None
    max_latency_ratio: float | None = None


@dataclass
class Drift:
    max_abs_error: float
    mean_abs_error: float
    cosine: float
    top1_agreement: float | None
    samples: int
    size_ratio: float
    latency_ratio: float
    latency_ms: float
    reference_latency_ms: float


def _session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EngineError(f"onnxruntime cannot load the model: {text[:300]}", path) from None


_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


def _random_inputs(sess: Any, rng: Any) -> dict[str, Any]:

    feeds = {}
    for arg in sess.get_inputs():
        dtype = _ORT_TYPES.get(arg.type)
        if dtype is None:
            raise EngineError(f"input {arg.name!r} has type {arg.type}; give --inputs for it")
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in (arg.shape or [])]
        if dtype.startswith("float"):
            feeds[arg.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype == "bool":
            feeds[arg.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[arg.name] = rng.integers(0, 8, shape).astype(dtype)
    return feeds


def load_inputs(path: Path, names: Sequence[str]) -> list[dict[str, Any]]:
    """Inputs from a `.npz` (one array per input name), a `.npy` (single-input models) or a
    folder of `<input>.npy` files. The first axis is not split: each file is one sample."""
    import numpy as np

    def load(f: Path) -> Any:
        try:
            return np.load(f, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"cannot read inputs: {type(exc).__name__}: {exc}", f) from None

    if path.is_dir():
        samples = []
        files = sorted(path.glob("*.npz")) + sorted(path.glob("*.npy"))
        if not files:
            raise InputError("no .npz or .npy files in the inputs folder", path)
        for f in files:
            samples.extend(load_inputs(f, names))
        return samples
    if path.suffix == ".npz":
        with load(path) as data:
            missing = [n for n in names if n not in data.files]
            if missing:
                raise InputError(f"inputs file has no array named {missing[0]!r} (has: {', '.join(data.files)})", path)
            return [{n: data[n] for n in names}]
    if path.suffix == ".npy":
        if len(names) != 1:
            raise InputError(f"the model has {len(names)} inputs; use a .npz with one array per input", path)
        return [{names[0]: load(path)}]
    raise InputError("inputs must be .npz, .npy or a folder of them", path)


def measure_drift(
    model: str | Path,
    reference: str | Path,
    *,
    inputs: str | Path | None = None,
    samples: int = 16,
    runs: int = 20,
    seed: int = 0,
) -> Drift:
    """Run both models on the same inputs and compare every output."""
    import numpy as np

    from edgegate.model.scan.onnx import external_refs

    mp, rp = Path(model), Path(reference)
    for p in (mp, rp):
        proto = _load(p)  # a clear input error before onnxruntime's
        bad = [r for r in external_refs(proto, p) if r.critical]
        if bad:  # never let onnxruntime read a file outside the model's folder
            raise InputError(f"refusing to run: tensor {bad[0].tensor!r}: {bad[0].problem} ({bad[0].location!r})", p)
    sess, ref = _session(mp), _session(rp)
    names = [i.name for i in sess.get_inputs()]
    ref_names = [i.name for i in ref.get_inputs()]
    if sorted(names) != sorted(ref_names):
        raise InputError(f"the models take different inputs ({', '.join(names)} vs {', '.join(ref_names)})", mp)
    if inputs is not None:
        feeds_list = load_inputs(Path(inputs), names)
    else:
        rng = np.random.default_rng(seed)
        feeds_list = [_random_inputs(ref, rng) for _ in range(max(1, samples))]
    diffs: list[Any] = []
    a_all: list[Any] = []
    b_all: list[Any] = []
    agree = total = 0
    classifier = True
    for feeds in feeds_list:
        try:
            outs = sess.run(None, feeds)
            ref_outs = ref.run(None, feeds)
        except Exception as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EngineError(f"onnxruntime failed to run: {text[:300]}", mp) from None
        if len(outs) != len(ref_outs):
            raise InputError(f"the models have different outputs ({len(outs)} vs {len(ref_outs)})", mp)
        for o, r in zip(outs, ref_outs, strict=True):
            o, r = np.asarray(o), np.asarray(r)
            if o.shape != r.shape:
                raise InputError(f"output shapes differ: {o.shape} vs {r.shape}", mp)
            if not (np.issubdtype(o.dtype, np.number) and np.issubdtype(r.dtype, np.number)):
                continue
            a, b = o.astype(np.float64).ravel(), r.astype(np.float64).ravel()
            diffs.append(np.abs(a - b))
            a_all.append(a)
            b_all.append(b)
        first, first_ref = np.asarray(outs[0]), np.asarray(ref_outs[0])
        if first.ndim >= 1 and first.shape[-1] > 1 and np.issubdtype(first.dtype, np.floating):
            top = first.reshape(-1, first.shape[-1]).argmax(axis=1)
            top_ref = first_ref.reshape(-1, first_ref.shape[-1]).argmax(axis=1)
            agree += int((top == top_ref).sum())
            total += int(top.size)
        else:
            classifier = False
    if not diffs:
        raise InputError("no numeric outputs to compare", mp)
    d = np.concatenate(diffs)
    a, b = np.concatenate(a_all), np.concatenate(b_all)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise EngineError("a model produced NaN or infinite outputs; drift cannot be measured", mp)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    cosine = 1.0 if na == 0 and nb == 0 else (float(a @ b) / (na * nb) if na and nb else 0.0)
    lat = _median_latency(sess, feeds_list[0], runs)
    lat_ref = _median_latency(ref, feeds_list[0], runs)
    size = quant_facts(mp).size_on_disk
    size_ref = quant_facts(rp).size_on_disk
    return Drift(
        max_abs_error=float(d.max()),
        mean_abs_error=float(d.mean()),
        cosine=cosine,
        top1_agreement=(agree / total) if classifier and total else None,
        samples=len(feeds_list),
        size_ratio=size / size_ref if size_ref else math.inf,
        latency_ratio=lat / lat_ref if lat_ref > 0 else math.inf,
        latency_ms=lat * 1000,
        reference_latency_ms=lat_ref * 1000,
    )


def _median_latency(sess: Any, feeds: Mapping[str, Any], runs: int) -> float:
    sess.run(None, dict(feeds))  # warm-up
    times = []
    for _ in range(max(1, runs)):
        t0 = time.perf_counter()
        sess.run(None, dict(feeds))
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times))


# -- gate --------------------------------------------------------------------------------------


def run_quant(
    model: str | Path,
    *,
    reference: str | Path | None = None,
    inputs: str | Path | None = None,
    thresholds: DriftThresholds | None = None,
    require_quantized: bool = False,
    samples: int = 16,
    runs: int = 20,
    seed: int = 0,
) -> GateResult:
    """Facts, and with a reference the drift checks, as a `model-quant` result."""
    started = time.perf_counter()
    shown = str(model)
    facts = quant_facts(model)
    findings: list[Finding] = []
    stats: dict[str, Any] = {"quantized": facts.quantized, "facts": facts.to_dict()}
    rows: list[list[Any]] = [
        ["quantized", str(facts.quantized).lower(), "", ""],
        ["schemes", ", ".join(facts.schemes) or "none", "", ""],
        ["size on disk (bytes)", facts.size_on_disk, "", ""],
        *[[f"weight bytes {k.lower()}", v, f"{facts.weight_fraction.get(k, 0):.1%}", ""] for k, v in facts.weight_bytes.items()],
    ]
    if facts.float_compute_ops:
        rows.append(["float compute ops", ", ".join(f"{k}×{v}" for k, v in facts.float_compute_ops.items()), "", ""])
    if require_quantized and not facts.quantized:
        findings.append(
            Finding(GATE, "EGQ001", Severity.HIGH,
                    "model is not quantized (no QDQ/QLinear/integer operators, weights mostly fp32) "
                    "but quantization is required", Location(path=shown), title="Model not quantized",
                    details={"weight_fraction": facts.weight_fraction})
        )
    if reference is not None:
        t = thresholds or DriftThresholds()
        drift = measure_drift(model, reference, inputs=inputs, samples=samples, runs=runs, seed=seed)
        stats["drift"] = dict(drift.__dict__)
        checks: list[tuple[str, str, float | None, float | None, bool]] = [
            ("EGQ002", "max abs error", drift.max_abs_error, t.max_abs_error, True),
            ("EGQ003", "mean abs error", drift.mean_abs_error, t.mean_abs_error, True),
            ("EGQ004", "cosine similarity", drift.cosine, t.min_cosine, False),
            ("EGQ005", "top-1 agreement", drift.top1_agreement, t.min_top1_agreement, False),
            ("EGQ006", "size ratio", drift.size_ratio, t.max_size_ratio, True),
            ("EGQ007", "latency ratio", drift.latency_ratio, t.max_latency_ratio, True),
        ]
        for rule, what, value, limit, upper in checks:
            if value is None:
                rows.append([what, "n/a (outputs are not classifier-shaped)", "", ""])
                continue
            verdict = ""
            if limit is not None:
                ok = value <= limit if upper else value >= limit
                verdict = "pass" if ok else "FAIL"
                if not ok:
                    findings.append(
                        Finding(GATE, rule, Severity.HIGH,
                                f"{what} {value:.6g} vs reference {reference}: limit is "
                                f"{'at most' if upper else 'at least'} {limit:g}",
                                Location(path=shown), title=f"Quantization drift: {what}",
                                details={"value": value, "limit": limit, "reference": str(reference)})
                    )
            rows.append([what, round(value, 6), ("≤ " if upper else "≥ ") + f"{limit:g}" if limit is not None else "",
                         verdict])
    stats["seconds"] = round(time.perf_counter() - started, 3)
    stats["tables"] = [{"title": f"quantization: {shown}", "columns": ["fact", "value", "limit/share", "result"],
                        "rows": rows}]
    return GateResult.decide(GATE, findings, stats=stats)
