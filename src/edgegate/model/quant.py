"""`edgegate model quant`: static quantization facts of an ONNX model and, against an fp32
reference, the output drift and the size and latency ratios measured with onnxruntime."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
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
    """Compute ops (MatMul, Gemm, Conv, LSTM, …) with a float weight input, by op type."""
    float_compute_weight_bytes: int = 0
    """Bytes of the float initializers those ops read."""
    float_compute_weight_fraction: float = 0.0
    subgraphs: int = 0
    qdq_weights_stored_float: int = 0
    """QDQ weights kept as float on disk (QuantizeLinear of a float initializer/Constant)."""
    qdq_weights_stored_float_bytes: int = 0
    op_types: dict[str, int] = field(default_factory=dict)
    size_on_disk: int = 0
    external_files: list[str] = field(default_factory=list)
    opset: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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


def _nbytes(t: Any) -> int:
    """Bytes of a tensor from its dims and type (its data is never read)."""
    numel = math.prod(t.dims) if t.dims else 1
    return (numel * _bits(t.data_type) + 7) // 8


def quant_facts(path: str | Path) -> QuantFacts:
    """Static facts: quantization operators, QDQ pairs, weight bytes per dtype, compute ops
    left in float (main graph, subgraphs, functions), size on disk including external data.
    An empty file, a model without a graph or nodes, or broken or escaping external data is an
    `InputError`: nothing is reported about a model that cannot be judged."""
    from edgegate.model.onnx_model import external_files, load_model
    from edgegate.model.quant_graph import analyse, text
    from edgegate.model.scan.onnx import iter_tensors

    p = Path(path)
    model = load_model(p)
    g = analyse(model)
    op_types = g.op_types
    facts = QuantFacts(path=str(path), quantized=False, op_types=dict(sorted(op_types.items())))
    facts.opset = {(text(o.domain) or "ai.onnx"): int(o.version) for o in model.opset_import}
    facts.quantize_linear = op_types.get("QuantizeLinear", 0)
    facts.dequantize_linear = op_types.get("DequantizeLinear", 0)
    facts.qdq_pairs = g.qdq_pairs
    facts.qlinear_ops = {k: v for k, v in sorted(op_types.items()) if k.startswith(QLINEAR_PREFIX)}
    facts.integer_ops = {k: v for k, v in sorted(op_types.items()) if k in INTEGER_OPS or k in BLOCK_QUANT_OPS}
    facts.dynamic_quantize_linear = op_types.get("DynamicQuantizeLinear", 0)
    facts.subgraphs = g.subgraphs
    facts.qdq_weights_stored_float = len(g.float_stored_qdq)
    facts.qdq_weights_stored_float_bytes = sum(_nbytes(t) for t in g.float_stored_qdq.values())
    # Weight bytes per dtype, from dims (external data is never read).
    by_type: Counter[str] = Counter()
    for t in iter_tensors(model):
        by_type[_dtype_name(t.data_type)] += _nbytes(t)
    total = sum(by_type.values())
    facts.weight_bytes = dict(by_type.most_common())
    facts.weight_fraction = {k: round(v / total, 4) for k, v in by_type.most_common()} if total else {}
    facts.float_compute_ops = dict(sorted(g.float_compute_ops.items()))
    facts.float_compute_weight_bytes = sum(_nbytes(t) for t in g.float_weights.values())
    facts.float_compute_weight_fraction = round(facts.float_compute_weight_bytes / total, 4) if total else 0.0
    base = p.resolve().parent
    ext = external_files(model, p)
    facts.size_on_disk = p.stat().st_size + sum(f.stat().st_size for f in ext)
    facts.external_files = [str(f.relative_to(base)) for f in ext]
    schemes = []
    if facts.qdq_pairs or g.dq_weights:
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
    shapes: Mapping[str, Sequence[int]] | None = None,
    top1_outputs: Sequence[str] | None = None,
) -> GateResult:
    """Facts, and with a reference the drift checks, as a `model-quant` result. `inputs`,
    `shapes` and `top1_outputs` feed the comparison, so without a reference they are an error."""
    started = time.perf_counter()
    shown = str(model)
    if reference is None:
        given = [n for n, v in (("--inputs", inputs), ("--shape", shapes), ("--top1-output", top1_outputs)) if v]
        if given:
            raise InputError(f"{given[0]} is only used to compare against a reference; add --reference FP32.onnx")
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
        rows.append(["float compute ops", ", ".join(f"{k}×{v}" for k, v in facts.float_compute_ops.items()),
                     f"{facts.float_compute_weight_fraction:.1%} of weight bytes", ""])
    if facts.qdq_weights_stored_float:
        rows.append(["QDQ weights stored as float", facts.qdq_weights_stored_float,
                     f"{facts.qdq_weights_stored_float_bytes} bytes", ""])
    if require_quantized and not facts.quantized:
        findings.append(
            Finding(GATE, "EGQ001", Severity.HIGH,
                    "model is not quantized (no QDQ/QLinear/integer operators, weights mostly fp32) "
                    "but quantization is required", Location(path=shown), title="Model not quantized",
                    details={"weight_fraction": facts.weight_fraction})
        )
    if reference is not None:
        t = thresholds or DriftThresholds()
        from edgegate.model.drift import measure_drift

        drift = measure_drift(model, reference, inputs=inputs, samples=samples, runs=runs, seed=seed,
                              shapes=shapes, top1_outputs=top1_outputs)
        stats["drift"] = dict(drift.__dict__)
        if drift.inputs == "random":
            dims = "; ".join(f"{k} axes {v} set to 1" for k, v in drift.defaulted_dims.items())
            source = f"random: {drift.samples} samples (seed {drift.seed})" + (f"; {dims}" if dims else "")
            findings.append(
                Finding(GATE, "EGQ008", Severity.INFO,
                        f"drift was measured on {drift.samples} seeded random input samples"
                        + (f" ({dims})" if dims else "") + ", not on real data; pass --inputs for a verdict "
                        "on the inputs the model will see", Location(path=shown), title="Random inputs",
                        details={"samples": drift.samples, "seed": drift.seed, "defaulted_dims": drift.defaulted_dims},
                        blocking=False)
            )
        else:
            source = f"{drift.inputs}: {drift.samples} samples"
        rows.append(["inputs", source, "", ""])
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
                rows.append([what, "not measured (no classifier-shaped output; see --top1-output)", "", ""])
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


def __getattr__(name: str) -> Any:
    """`measure_drift`, `Drift` and `load_inputs` live in `edgegate.model.drift` (onnxruntime)."""
    if name in ("measure_drift", "Drift", "load_inputs"):
        from edgegate.model import drift

        return getattr(drift, name)
    raise AttributeError(name)
