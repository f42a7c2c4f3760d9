"""Yardsticks: real ONNX models shipped in PyPI wheels (rapidocr-onnxruntime's text-direction
classifier and text detector, magika's content-type classifier; Apache-2.0), quantized here
with onnxruntime.quantization. edgegate's facts and drift are compared with an independent
computation in the test (onnx + numpy for the facts, the test's own onnxruntime runs for drift).
The packages are in the [test] extra; locally a missing one skips, in CI it fails."""

from __future__ import annotations

import importlib.metadata
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgegate.model.drift import measure_drift
from edgegate.model.quant import quant_facts, run_quant

RAPIDOCR = "rapidocr-onnxruntime"
CLS = "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"
DET = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"
MAGIKA = "magika"
MAGIKA_MODEL = "magika/models/standard_v3_3/model.onnx"


def _wheel_model(dist: str, rel: str) -> Path:
    """A model file inside an installed distribution, found without importing the package."""
    try:
        path = Path(str(importlib.metadata.distribution(dist).locate_file(rel)))
    except importlib.metadata.PackageNotFoundError:
        if os.environ.get("CI"):
            pytest.fail(f"{dist} is in the [test] extra but not installed")
        pytest.skip(f"{dist} is not installed (pip install {dist}); CI installs it from the lock")
    if not path.is_file():
        pytest.fail(f"{dist} no longer ships {rel}")
    return path


class _Calibration:
    def __init__(self, name: str, shape: tuple[int, ...], n: int = 4) -> None:
        rng = np.random.default_rng(7)
        self._items = iter([{name: rng.random(shape).astype(np.float32)} for _ in range(n)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def _static_qdq(src: Path, dst: Path, shape: tuple[int, ...]) -> Path:
    from onnxruntime.quantization import QuantFormat, quantize_static

    quantize_static(str(src), str(dst), _Calibration("x", shape), quant_format=QuantFormat.QDQ)
    return dst


# -- the independent computations ------------------------------------------------------------


def _all_nodes(graph: Any) -> list[Any]:
    out = []
    for node in graph.node:
        out.append(node)
        for attr in node.attribute:
            for g in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                out.extend(_all_nodes(g))
    return out


def _independent_facts(path: Path) -> dict[str, Any]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    nodes = _all_nodes(model.graph)
    tensors = list(model.graph.initializer) + [a.t for n in nodes for a in n.attribute if a.HasField("t")]
    weight_bytes: Counter[str] = Counter()
    for t in tensors:
        weight_bytes[onnx.TensorProto.DataType.Name(t.data_type)] += numpy_helper.to_array(t).nbytes
    return {"op_types": dict(Counter(n.op_type for n in nodes)), "weight_bytes": dict(weight_bytes)}


def _independent_drift(model: Path, reference: Path, x: np.ndarray) -> dict[str, Any]:
    import onnxruntime as ort

    a = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(reference), providers=["CPUExecutionProvider"])
    name = b.get_inputs()[0].name
    ya = [np.asarray(o, np.float64) for o in a.run(None, {name: x})]
    yb = [np.asarray(o, np.float64) for o in b.run(None, {name: x})]
    fa, fb = np.concatenate([o.ravel() for o in ya]), np.concatenate([o.ravel() for o in yb])
    top = [(p.reshape(-1, p.shape[-1]).argmax(1) == q.reshape(-1, q.shape[-1]).argmax(1)) for p, q in zip(ya, yb, strict=True)]
    return {"max": float(np.abs(fa - fb).max()), "mean": float(np.abs(fa - fb).mean()),
            "cosine": float(fa @ fb / (np.linalg.norm(fa) * np.linalg.norm(fb))),
            "top1": float(np.concatenate(top).mean())}


def _check_facts(path: Path) -> Any:
    facts = quant_facts(path)
    ind = _independent_facts(path)
    assert facts.op_types == ind["op_types"]
    assert facts.weight_bytes == ind["weight_bytes"]
    assert facts.size_on_disk == path.stat().st_size
    return facts


@pytest.fixture(scope="module")
def rapidocr_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    cls, det = _wheel_model(RAPIDOCR, CLS), _wheel_model(RAPIDOCR, DET)
    d = tmp_path_factory.mktemp("rapidocr")
    return {"cls": cls, "det": det,
            "cls_qdq": _static_qdq(cls, d / "cls.qdq.onnx", (1, 3, 48, 192)),
            "det_qdq": _static_qdq(det, d / "det.qdq.onnx", (1, 3, 64, 64))}


def test_rapidocr_classifier(rapidocr_models: dict[str, Path], tmp_path: Path) -> None:
    fp32 = _check_facts(rapidocr_models["cls"])
    assert not fp32.quantized and fp32.float_compute_ops == {"Conv": 53, "MatMul": 1}
    qdq = _check_facts(rapidocr_models["cls_qdq"])
    assert qdq.quantized and qdq.schemes == ["qdq"] and qdq.float_compute_ops == {}
    # this model keeps its weights in Constant nodes: the quantizer leaves them float on disk,
    # quantized by QuantizeLinear when the model is loaded — reported, not hidden
    assert qdq.qdq_weights_stored_float > 0
    assert qdq.weight_bytes["FLOAT"] / sum(qdq.weight_bytes.values()) > 0.9
    x = np.random.default_rng(1).random((4, 3, 48, 192)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    drift = measure_drift(rapidocr_models["cls_qdq"], rapidocr_models["cls"], inputs=tmp_path / "x.npz", runs=1)
    ind = _independent_drift(rapidocr_models["cls_qdq"], rapidocr_models["cls"], x)
    assert drift.top1_outputs == ["save_infer_model/scale_0.tmp_1"]  # Softmax → Identity: a classifier
    assert drift.top1_agreement == pytest.approx(ind["top1"])
    assert drift.max_abs_error == pytest.approx(ind["max"], rel=1e-6)
    assert drift.mean_abs_error == pytest.approx(ind["mean"], rel=1e-6)
    assert drift.cosine == pytest.approx(ind["cosine"], rel=1e-9)


def test_rapidocr_detector_is_not_judged_by_top1(rapidocr_models: dict[str, Path], tmp_path: Path) -> None:
    qdq = _check_facts(rapidocr_models["det_qdq"])
    assert qdq.quantized and qdq.float_compute_ops == {}
    assert _check_facts(rapidocr_models["det"]).float_compute_ops == {"Conv": 62, "ConvTranspose": 2}
    x = np.random.default_rng(2).random((1, 3, 64, 64)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    drift = measure_drift(rapidocr_models["det_qdq"], rapidocr_models["det"], inputs=tmp_path / "x.npz", runs=1)
    ind = _independent_drift(rapidocr_models["det_qdq"], rapidocr_models["det"], x)
    assert drift.top1_agreement is None and drift.top1_outputs == []  # a [N, 1, H, W] sigmoid map
    assert drift.cosine == pytest.approx(ind["cosine"], rel=1e-9)
    assert drift.max_abs_error == pytest.approx(ind["max"], rel=1e-6)
    # dynamic H and W: random inputs need --shape, and say they were random
    res = run_quant(rapidocr_models["det_qdq"], reference=rapidocr_models["det"], samples=2, runs=1,
                    shapes={"x": (1, 3, 64, 64)})
    assert res.stats["drift"]["inputs"] == "random" and res.stats["drift"]["defaulted_dims"] == {}
    rows = {r[0]: r for r in res.stats["tables"][0]["rows"]}
    assert rows["top-1 agreement"][1].startswith("not measured")


def test_magika_dynamic_quantization(tmp_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src = _wheel_model(MAGIKA, MAGIKA_MODEL)
    dst = tmp_path / "magika.dyn.onnx"
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QUInt8)
    fp32 = _check_facts(src)
    assert not fp32.quantized and fp32.float_compute_ops == {"Conv": 1, "MatMul": 2}
    q = _check_facts(dst)
    assert q.quantized and q.schemes == ["dynamic/integer"] and q.float_compute_ops == {}
    x = np.random.default_rng(3).integers(0, 257, (8, 2048)).astype(np.int32)  # byte values and padding
    np.savez(tmp_path / "bytes.npz", bytes=x)
    drift = measure_drift(dst, src, inputs=tmp_path / "bytes.npz", runs=1)
    ind = _independent_drift(dst, src, x)
    assert drift.top1_outputs == ["target_label"]  # exp(x) / sum(exp(x)) spelled out by jax2tf
    assert drift.top1_agreement == pytest.approx(ind["top1"])
    assert drift.cosine == pytest.approx(ind["cosine"], rel=1e-9)
    assert drift.max_abs_error == pytest.approx(ind["max"], rel=1e-6)
