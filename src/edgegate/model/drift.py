"""Output drift of a quantized ONNX model against its fp32 reference, run in onnxruntime.

Inputs are the user's (`--inputs`) or seeded random tensors shaped from the graph, with dynamic
dimensions from `--shape NAME=1x3x224x224` (else 1); the report says which. Top-1 agreement is
measured only on classifier-shaped outputs (a class axis after Softmax/LogSoftmax, a rank-2
linear head, or the outputs named with `--top1-output`); every numeric output is compared by
abs error and cosine similarity.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import EngineError, InputError
from edgegate.io.files import human_size

MAX_RANDOM_INPUT_BYTES = 256 * 1024**2
"""Largest random tensor generated for one input of one sample."""
MAX_INPUT_FILE_BYTES = 1024**3
"""Largest `--inputs` file (or `.npz` member) read."""

_ORT_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}
_SOFTMAX = frozenset({"Softmax", "LogSoftmax"})
_LINEAR = frozenset({"Gemm", "MatMul", "FusedMatMul", "FusedGemm"})
_THROUGH = frozenset({"Identity", "Reshape", "Flatten", "Squeeze", "Cast", "QuantizeLinear", "DequantizeLinear"})


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
    inputs: str = "random"
    """'random' (seeded, shaped from the graph) or the `--inputs` path."""
    seed: int | None = None
    defaulted_dims: dict[str, list[int]] = field(default_factory=dict)
    """Random inputs: dynamic dimensions (by input, axis) that no `--shape` set, so were 1."""
    top1_outputs: list[str] = field(default_factory=list)


def ort() -> Any:
    """onnxruntime, imported with its telemetry (and the device-id file it writes under
    `$XDG_CACHE_HOME` / `~/.cache/Microsoft`) disabled and its own logging silenced."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    onnxruntime.set_default_logger_severity(4)
    return onnxruntime


def _session(path: Path) -> Any:
    rt = ort()
    opts = rt.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 4
    try:
        return rt.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise EngineError(f"onnxruntime cannot load the model: {text[:300]}", path) from None


def parse_shapes(values: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """`NAME=1x3x224x224` (repeatable) → {NAME: (1, 3, 224, 224)}."""
    out: dict[str, tuple[int, ...]] = {}
    for v in values:
        name, sep, dims = v.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x")) if sep and name else ()
        except ValueError:
            shape = ()
        if not shape or any(d < 1 for d in shape):
            raise InputError(f"--shape {v!r}: expected NAME=DIMS with positive dimensions, e.g. x=1x3x224x224")
        if name in out:
            raise InputError(f"--shape given twice for input {name!r}")
        out[name] = shape
    return out


def _input_shapes(sess: Any, shapes: Mapping[str, Sequence[int]]) -> tuple[dict[str, tuple[str, list[int]]],
                                                                             dict[str, list[int]]]:
    """(name → (dtype, concrete shape), name → axes defaulted to 1), every size bounded."""
    args = {a.name: a for a in sess.get_inputs()}
    unknown = sorted(set(shapes) - set(args))
    if unknown:
        raise InputError(f"--shape names no input of the model: {unknown[0]!r} (inputs: {', '.join(args)})")
    out: dict[str, tuple[str, list[int]]] = {}
    defaulted: dict[str, list[int]] = {}
    for name, arg in args.items():
        dtype = _ORT_TYPES.get(arg.type)
        if dtype is None:
            raise InputError(f"input {name!r} has type {arg.type}: random inputs cannot be made; pass --inputs")
        declared = list(arg.shape or [])
        given = shapes.get(name)
        if given is not None:
            if len(given) != len(declared):
                raise InputError(f"--shape {name}: {len(given)} dimensions, the model declares {len(declared)}")
            for axis, (d, g) in enumerate(zip(declared, given, strict=True)):
                if isinstance(d, int) and d > 0 and d != g:
                    raise InputError(f"--shape {name}: axis {axis} is fixed at {d} in the model, not {g}")
            shape = [int(g) for g in given]
        else:
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in declared]
            dyn = [i for i, d in enumerate(declared) if not (isinstance(d, int) and d > 0)]
            if dyn:
                defaulted[name] = dyn
        import numpy as np

        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if nbytes > MAX_RANDOM_INPUT_BYTES:
            raise InputError(
                f"input {name!r} of shape {'x'.join(map(str, shape))} would be {human_size(nbytes)} per sample, "
                f"over the {human_size(MAX_RANDOM_INPUT_BYTES)} limit for random inputs; pass --inputs or --shape"
            )
        out[name] = (dtype, shape)
    return out, defaulted


def _random_feeds(specs: Mapping[str, tuple[str, list[int]]], rng: Any) -> dict[str, Any]:
    feeds = {}
    for name, (dtype, shape) in specs.items():
        if dtype.startswith("float"):
            feeds[name] = rng.standard_normal(shape).astype(dtype)
        elif dtype == "bool":
            feeds[name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[name] = rng.integers(0, 8, shape).astype(dtype)
    return feeds


def load_inputs(path: Path, names: Sequence[str]) -> list[dict[str, Any]]:
    """Inputs from a `.npz` (one array per input name), a `.npy` (single-input models) or a
    folder of them. The first axis is not split: each file is one sample."""
    import numpy as np

    def load(f: Path) -> Any:
        if not f.is_file():
            raise InputError("no such file" if not f.exists() else "not a regular file", f)
        if f.stat().st_size > MAX_INPUT_FILE_BYTES:
            raise InputError(f"inputs file is larger than the {human_size(MAX_INPUT_FILE_BYTES)} limit", f)
        try:
            return np.load(f, allow_pickle=False)
        except Exception as exc:
            raise InputError(f"cannot read inputs: {type(exc).__name__}: {str(exc)[:200]}", f) from None

    if path.is_dir():
        files = sorted(path.glob("*.npz")) + sorted(path.glob("*.npy"))
        if not files:
            raise InputError("no .npz or .npy files in the inputs folder", path)
        return [s for f in files for s in load_inputs(f, names)]
    if path.suffix == ".npz":
        with load(path) as data:
            missing = [n for n in names if n not in data.files]
            if missing:
                raise InputError(f"inputs file has no array named {missing[0]!r} (has: {', '.join(data.files)})", path)
            for n in names:
                info = data.zip.getinfo(n if n + ".npy" not in data.zip.namelist() else n + ".npy")
                if info.file_size > MAX_INPUT_FILE_BYTES:
                    raise InputError(f"array {n!r} is larger than the {human_size(MAX_INPUT_FILE_BYTES)} limit", path)
            try:
                return [{n: data[n] for n in names}]
            except Exception as exc:
                raise InputError(f"cannot read inputs: {type(exc).__name__}: {str(exc)[:200]}", path) from None
    if path.suffix == ".npy":
        if len(names) != 1:
            raise InputError(f"the model has {len(names)} inputs; use a .npz with one array per input", path)
        return [{names[0]: load(path)}]
    if not path.exists():
        raise InputError("no such file", path)
    raise InputError("inputs must be .npz, .npy or a folder of them", path)


def _softmax_axis(node: Any, opset: int) -> int:
    for attr in node.attribute:
        if attr.name == "axis":
            return int(attr.i)
    return -1 if opset >= 13 else 1


def classifier_outputs(proto: Any) -> dict[str, tuple[str, int | None]]:
    """Output name → ('softmax', axis) or ('linear', None) for outputs that look like class
    scores (axis None: not known, judged only on rank-2 outputs); others are absent."""
    producers = {o: n for n in proto.graph.node for o in n.output}
    opset = next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
    out: dict[str, tuple[str, int | None]] = {}
    for o in proto.graph.output:
        name, node, hops = o.name, producers.get(o.name), 0
        while node is not None and node.op_type in _THROUGH and node.input and hops < 50:
            node, hops = producers.get(node.input[0]), hops + 1
        if node is None:
            continue
        if node.op_type in _SOFTMAX:
            out[name] = ("softmax", _softmax_axis(node, opset))
        elif node.op_type == "Div" and node.input and _through(producers, node.input[0]) == "Exp":
            out[name] = ("softmax", None)  # exp(x) / sum(exp(x)) spelled out (jax2tf, tf2onnx)
        elif node.op_type in _LINEAR or (node.op_type == "Add" and any(
                (p := producers.get(i)) is not None and p.op_type in _LINEAR for i in node.input)):
            out[name] = ("linear", None)
    return out


def _through(producers: Mapping[str, Any], name: str) -> str | None:
    node, hops = producers.get(name), 0
    while node is not None and node.op_type in _THROUGH and node.input and hops < 50:
        node, hops = producers.get(node.input[0]), hops + 1
    return None if node is None else str(node.op_type)


def _is_class_axis_last(kind: tuple[str, int | None], rank: int) -> bool:
    if rank < 2:
        return False
    if kind[0] == "softmax" and kind[1] is not None:
        return kind[1] % rank == rank - 1
    return rank == 2  # a linear head or a spelled-out softmax: [batch, classes]


def _check_models(mp: Path, rp: Path) -> tuple[Any, Any]:
    from edgegate.model.onnx_model import load_model

    return load_model(mp), load_model(rp)  # refuses external data leaving the folder, before onnxruntime


def measure_drift(
    model: str | Path,
    reference: str | Path,
    *,
    inputs: str | Path | None = None,
    samples: int = 16,
    runs: int = 20,
    seed: int = 0,
    shapes: Mapping[str, Sequence[int]] | None = None,
    top1_outputs: Sequence[str] | None = None,
) -> Drift:
    """Run both models on the same inputs and compare every numeric output."""
    import numpy as np

    from edgegate.model.onnx_model import size_on_disk

    mp, rp = Path(model), Path(reference)
    proto, ref_proto = _check_models(mp, rp)
    sess, ref = _session(mp), _session(rp)
    names = [i.name for i in sess.get_inputs()]
    ref_names = [i.name for i in ref.get_inputs()]
    if sorted(names) != sorted(ref_names):
        raise InputError(f"the models take different inputs ({', '.join(names)} vs {', '.join(ref_names)})", mp)
    out_names = [o.name for o in ref.get_outputs()]
    kinds = classifier_outputs(ref_proto)
    if top1_outputs:
        missing = [n for n in top1_outputs if n not in out_names]
        if missing:
            raise InputError(f"--top1-output {missing[0]!r} is not an output of the model (outputs: "
                             f"{', '.join(out_names)})", rp)
        kinds = {n: ("softmax", -1) for n in top1_outputs}
    defaulted: dict[str, list[int]] = {}
    if inputs is not None:
        if shapes:
            raise InputError("--shape applies to random inputs only; the --inputs arrays have their own shapes")
        feeds_list = load_inputs(Path(inputs), names)
        source = str(inputs)
    else:
        specs, defaulted = _input_shapes(ref, shapes or {})
        rng = np.random.default_rng(seed)
        feeds_list = [_random_feeds(specs, rng) for _ in range(max(1, samples))]
        source = "random"
    diffs: list[Any] = []
    a_all: list[Any] = []
    b_all: list[Any] = []
    agree = total = 0
    used: set[str] = set()
    for feeds in feeds_list:
        outs, ref_outs = _run(sess, ref, feeds, mp, source, defaulted)
        if len(outs) != len(ref_outs):
            raise InputError(f"the models have different outputs ({len(outs)} vs {len(ref_outs)})", mp)
        for name, o, r in zip(out_names, outs, ref_outs, strict=True):
            o, r = np.asarray(o), np.asarray(r)
            if o.shape != r.shape:
                raise InputError(f"output {name!r} shapes differ: {o.shape} vs {r.shape}", mp)
            if not (np.issubdtype(o.dtype, np.number) and np.issubdtype(r.dtype, np.number)):
                continue
            a, b = o.astype(np.float64).ravel(), r.astype(np.float64).ravel()
            diffs.append(np.abs(a - b))
            a_all.append(a)
            b_all.append(b)
            kind = kinds.get(name)
            if kind is None or (not top1_outputs and not _is_class_axis_last(kind, o.ndim)):
                continue
            if o.ndim < 1 or o.shape[-1] < 2:
                if top1_outputs:
                    raise InputError(f"--top1-output {name!r} has shape {o.shape}: no class axis", rp)
                continue
            top = o.reshape(-1, o.shape[-1]).argmax(axis=1)
            top_ref = r.reshape(-1, r.shape[-1]).argmax(axis=1)
            agree += int((top == top_ref).sum())
            total += int(top.size)
            used.add(name)
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
    size, size_ref = size_on_disk(proto, mp), size_on_disk(ref_proto, rp)
    return Drift(
        max_abs_error=float(d.max()),
        mean_abs_error=float(d.mean()),
        cosine=cosine,
        top1_agreement=(agree / total) if total else None,
        samples=len(feeds_list),
        size_ratio=size / size_ref if size_ref else math.inf,
        latency_ratio=lat / lat_ref if lat_ref > 0 else math.inf,
        latency_ms=lat * 1000,
        reference_latency_ms=lat_ref * 1000,
        inputs=source,
        seed=seed if source == "random" else None,
        defaulted_dims=defaulted,
        top1_outputs=[n for n in out_names if n in used],
    )


def _run(sess: Any, ref: Any, feeds: Mapping[str, Any], mp: Path, source: str,
         defaulted: Mapping[str, list[int]]) -> tuple[list[Any], list[Any]]:
    rt = ort()
    opts = rt.RunOptions()
    opts.log_severity_level = 4
    try:
        return sess.run(None, dict(feeds), opts), ref.run(None, dict(feeds), opts)
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if source != "random":
            raise EngineError(f"onnxruntime failed to run on the inputs from {source}: {text[:300]}", mp) from None
        dims = "; ".join(f"{k} axes {v}" for k, v in defaulted.items())
        hint = f" (dynamic dimensions set to 1: {dims}; set them with --shape NAME=DIMS)" if dims else ""
        raise EngineError(f"the model cannot run on random inputs{hint}: {text[:300]}; pass real samples with "
                          "--inputs", mp) from None


def _median_latency(sess: Any, feeds: Mapping[str, Any], runs: int) -> float:
    sess.run(None, dict(feeds))  # warm-up
    times = []
    for _ in range(max(1, runs)):
        t0 = time.perf_counter()
        sess.run(None, dict(feeds))
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times))
