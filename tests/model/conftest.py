"""Real ONNX models for the model-gate tests: an MLP and a small conv net built with
onnx.helper, quantized with onnxruntime.quantization (dynamic, and static in QDQ format)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# onnxruntime writes a device id under ~/.cache/Microsoft at import unless this is set; the
# tests import it directly (quantization, independent runs), so keep the test user's HOME clean.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def build_mlp(path: Path, seed: int = 0, width: int = 32) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    arrays = {
        "w1": rng.normal(0, 0.3, (16, width)).astype(np.float32),
        "b1": rng.normal(0, 0.1, (width,)).astype(np.float32),
        "w2": rng.normal(0, 0.3, (width, 5)).astype(np.float32),
        "b2": rng.normal(0, 0.1, (5,)).astype(np.float32),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])],
        initializer=[numpy_helper.from_array(a, n) for n, a in arrays.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_convnet(path: Path, seed: int = 1) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    arrays = {
        "cw": rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
        "cb": rng.normal(0, 0.1, (8,)).astype(np.float32),
        "fw": rng.normal(0, 0.3, (8, 4)).astype(np.float32),
        "fb": rng.normal(0, 0.1, (4,)).astype(np.float32),
        "shape": np.array([-1, 8], dtype=np.int64),
    }
    nodes = [
        helper.make_node("Conv", ["img", "cw", "cb"], ["c0"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c0"], ["c1"]),
        helper.make_node("GlobalAveragePool", ["c1"], ["p0"]),
        helper.make_node("Reshape", ["p0", "shape"], ["p1"]),
        helper.make_node("Gemm", ["p1", "fw", "fb"], ["scores"]),
    ]
    graph = helper.make_graph(
        nodes,
        "convnet",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 4])],
        initializer=[numpy_helper.from_array(a, n) for n, a in arrays.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


class _Calibration:
    """A CalibrationDataReader over seeded random batches."""

    def __init__(self, name: str, shape: tuple[int, ...], n: int = 8) -> None:
        rng = np.random.default_rng(42)
        self._items = iter([{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(n)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def quantize_dynamic(src: Path, dst: Path) -> Path:
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as qd

    qd(str(src), str(dst), weight_type=QuantType.QInt8)
    return dst


def quantize_static_qdq(src: Path, dst: Path, name: str, shape: tuple[int, ...]) -> Path:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    quantize_static(
        str(src),
        str(dst),
        _Calibration(name, shape),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    return dst


@pytest.fixture(scope="session")
def onnx_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """fp32 MLP and conv net, each quantized dynamically and statically (QDQ)."""
    d = tmp_path_factory.mktemp("onnx-models")
    mlp = build_mlp(d / "mlp.fp32.onnx")
    conv = build_convnet(d / "conv.fp32.onnx")
    return {
        "mlp": mlp,
        "mlp_dynamic": quantize_dynamic(mlp, d / "mlp.dynamic.onnx"),
        "mlp_qdq": quantize_static_qdq(mlp, d / "mlp.qdq.onnx", "x", (4, 16)),
        "conv": conv,
        "conv_dynamic": quantize_dynamic(conv, d / "conv.dynamic.onnx"),
        "conv_qdq": quantize_static_qdq(conv, d / "conv.qdq.onnx", "img", (2, 3, 8, 8)),
    }
