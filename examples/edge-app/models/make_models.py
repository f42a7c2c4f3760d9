"""Regenerate the example model pair and predictions file (deterministic, offline).

    .venv/bin/python examples/edge-app/models/make_models.py

Writes, next to this script:
- classifier.fp32.onnx: a 16→32→4 MLP classifier built with onnx.helper (seeded weights);
- classifier.int8.onnx: the same model quantized with onnxruntime.quantization.quantize_dynamic;
- predictions.csv: 400 synthetic scored predictions (label, score, prediction, group) from two
  groups with similar error rates, for `edgegate model bias`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent


def build_mlp(path: Path, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.4, (16, 32)).astype(np.float32)
    b1 = rng.normal(0, 0.1, (32,)).astype(np.float32)
    w2 = rng.normal(0, 0.4, (32, 4)).astype(np.float32)
    b2 = rng.normal(0, 0.1, (4,)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "edge-classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        initializer=[numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgegate-example")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def write_predictions(path: Path, n: int = 400, seed: int = 11) -> None:
    rng = np.random.default_rng(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "region", "label", "score", "prediction"])
        for i in range(n):
            region = "north" if i % 2 == 0 else "south"
            label = int(rng.random() < 0.4)
            score = float(np.clip(rng.normal(0.68 if label else 0.32, 0.15), 0, 1))
            out.writerow([i + 1, region, label, f"{score:.4f}", int(score >= 0.5)])


def main() -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = HERE / "classifier.fp32.onnx"
    int8 = HERE / "classifier.int8.onnx"
    build_mlp(fp32)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    write_predictions(HERE / "predictions.csv")
    for p in (fp32, int8, HERE / "predictions.csv"):
        print(f"wrote {p.name} ({p.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
