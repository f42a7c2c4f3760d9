"""Float compute ops are the ops fed by float weights — through Cast/Transpose, beside a
DequantizeLinear activation, inside If/Loop subgraphs — and top-1 is for classifier outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgegate.model.quant import quant_facts


def _model(path: Path, nodes, inputs, outputs, inits, opset: int = 17) -> Path:  # type: ignore[no-untyped-def]
    import onnx
    from onnx import helper, numpy_helper

    graph = helper.make_graph(nodes, "g", inputs, outputs,
                              initializer=[numpy_helper.from_array(a, n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _vi(name: str, dims, elem: int = 1):  # type: ignore[no-untyped-def]
    from onnx import helper

    return helper.make_tensor_value_info(name, elem, dims)


def test_float_weight_beside_a_dequantized_activation_is_counted(tmp_path: Path) -> None:
    """ddddocr's shape: activations go through QuantizeLinear/DequantizeLinear, the LSTM and
    MatMul weights stay fp32 — those ops are float compute, and their bytes are reported."""
    from onnx import helper

    rng = np.random.default_rng(0)
    inits = {
        "s": np.array(0.05, np.float32), "z": np.array(0, np.uint8),
        "W": rng.standard_normal((1, 32, 8)).astype(np.float32),
        "R": rng.standard_normal((1, 32, 8)).astype(np.float32),
        "w2": rng.standard_normal((8, 4)).astype(np.float32),
        "ax": np.array([1], np.int64),
    }
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
        helper.make_node("LSTM", ["xd", "W", "R"], ["y", "", ""], hidden_size=8),
        helper.make_node("Squeeze", ["y", "ax"], ["y2"]),
        helper.make_node("MatMul", ["y2", "w2"], ["out"]),
    ]
    path = _model(tmp_path / "lstm.onnx", nodes, [_vi("x", [5, 1, 8])], [_vi("out", [5, 1, 4])], inits)
    facts = quant_facts(path)
    assert facts.float_compute_ops == {"LSTM": 1, "MatMul": 1}
    assert "qdq" in facts.schemes  # the model is (partly) quantized ...
    weights = sum(a.nbytes for k, a in inits.items() if k in ("W", "R", "w2"))
    total = sum(a.nbytes for a in inits.values())
    assert facts.float_compute_weight_bytes == weights  # ... but nearly all its weight bytes are float
    assert facts.float_compute_weight_fraction == pytest.approx(weights / total, abs=1e-4)


def test_weights_through_cast_and_transpose_count_activation_products_do_not(tmp_path: Path) -> None:
    from onnx import helper

    rng = np.random.default_rng(1)
    inits = {"w16": rng.standard_normal((8, 8)).astype(np.float16), "wt": rng.standard_normal((8, 8)).astype(np.float32),
             "wq": rng.integers(-8, 8, (8, 8)).astype(np.int8), "s": np.array(0.1, np.float32)}
    nodes = [
        helper.make_node("Cast", ["w16"], ["w32"], to=1),
        helper.make_node("MatMul", ["x", "w32"], ["a"]),                 # fp16 weight, cast: float
        helper.make_node("Transpose", ["wt"], ["wtt"], perm=[1, 0]),
        helper.make_node("Gemm", ["a", "wtt"], ["b"]),                   # transposed fp32 weight: float
        helper.make_node("Transpose", ["b"], ["bt"], perm=[1, 0]),
        helper.make_node("MatMul", ["b", "bt"], ["c"]),                  # activation x activation: not a weight
        helper.make_node("DequantizeLinear", ["wq", "s"], ["wd"]),
        helper.make_node("MatMul", ["c", "wd"], ["out"]),                # int8 weight behind DQ: quantized
    ]
    path = _model(tmp_path / "mix.onnx", nodes, [_vi("x", [8, 8])], [_vi("out", [8, 8])], inits)
    facts = quant_facts(path)
    assert facts.float_compute_ops == {"Gemm": 1, "MatMul": 1}
    assert facts.float_compute_weight_bytes == inits["w16"].nbytes + inits["wt"].nbytes


def test_subgraphs_are_walked(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 4)).astype(np.float32)
    then_g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["t"])], "then", [], [_vi("t", [2, 4])])
    else_g = helper.make_graph([helper.make_node("Relu", ["x"], ["e"])], "else", [], [_vi("e", [2, 4])])
    nodes = [helper.make_node("If", ["cond"], ["out"], then_branch=then_g, else_branch=else_g)]
    path = _model(tmp_path / "if.onnx", nodes, [_vi("cond", [], TensorProto.BOOL), _vi("x", [2, 4])],
                  [_vi("out", [2, 4])], {"w": w})
    facts = quant_facts(path)
    assert facts.op_types == {"If": 1, "MatMul": 1, "Relu": 1}
    assert facts.float_compute_ops == {"MatMul": 1}  # the weight comes from the outer scope
    assert facts.subgraphs == 2


def _head(tmp_path: Path, name: str, nodes, out_dims, inits, opset: int = 17) -> Path:  # type: ignore[no-untyped-def]
    return _model(tmp_path / name, nodes, [_vi("x", ["n", 6])], [_vi("y", out_dims)], inits, opset)


def test_top1_only_for_classifier_outputs(tmp_path: Path) -> None:
    from onnx import helper

    from edgegate.model.drift import measure_drift

    rng = np.random.default_rng(3)
    w = {"w": rng.standard_normal((6, 12)).astype(np.float32)}
    w2 = {"w": (w["w"] + rng.normal(0, 0.2, (6, 12))).astype(np.float32)}
    shape = {"shape": np.array([-1, 1, 3, 4], np.int64)}

    def pair(name: str, nodes, dims, extra=None, opset: int = 17):  # type: ignore[no-untyped-def]
        a = _head(tmp_path, f"{name}.a.onnx", nodes, dims, {**w, **(extra or {})}, opset)
        b = _head(tmp_path, f"{name}.b.onnx", nodes, dims, {**w2, **(extra or {})}, opset)
        return a, b

    mm = helper.make_node("MatMul", ["x", "w"], ["l"])
    cases = {
        # a softmax over the last axis, a rank-2 linear head: classifiers
        "softmax": (pair("softmax", [mm, helper.make_node("Softmax", ["l"], ["y"])], ["n", 12]), True),
        "logits": (pair("logits", [helper.make_node("MatMul", ["x", "w"], ["y"])], ["n", 12]), True),
        "spelled": (pair("spelled", [mm, helper.make_node("Exp", ["l"], ["e"]),
                                     helper.make_node("ReduceSum", ["e"], ["s"], keepdims=1),
                                     helper.make_node("Div", ["e", "s"], ["y"])], ["n", 12]), True),
        # a detector/segmentation-like map: sigmoid, rank 4, and a softmax over a non-last axis
        "sigmoid": (pair("sigmoid", [mm, helper.make_node("Reshape", ["l", "shape"], ["r"]),
                                     helper.make_node("Sigmoid", ["r"], ["y"])], ["n", 1, 3, 4], shape), False),
        "softmax1": (pair("softmax1", [mm, helper.make_node("Reshape", ["l", "shape"], ["r"]),
                                       helper.make_node("Softmax", ["r"], ["y"], axis=2)], ["n", 1, 3, 4], shape),
                     False),
    }
    for name, ((a, b), classifier) in cases.items():
        drift = measure_drift(a, b, samples=4, runs=1)
        assert (drift.top1_agreement is not None) is classifier, name
        assert drift.top1_outputs == (["y"] if classifier else []), name
        assert 0 < drift.cosine < 1 and drift.max_abs_error > 0, name
    (a, b), _ = cases["sigmoid"]
    forced = measure_drift(a, b, samples=4, runs=1, top1_outputs=["y"])
    assert forced.top1_agreement is not None and forced.top1_outputs == ["y"]
    # an independent computation of the same top-1 agreement on the softmax pair
    (a, b), _ = cases["softmax"]
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    drift = measure_drift(a, b, inputs=tmp_path / "x.npz", runs=1)

    def softmax(z):  # type: ignore[no-untyped-def]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    ya, yb = softmax(x @ w["w"]), softmax(x @ w2["w"])
    assert drift.top1_agreement == pytest.approx(float((ya.argmax(1) == yb.argmax(1)).mean()))
    assert drift.max_abs_error == pytest.approx(float(np.abs(ya - yb).max()), rel=1e-4)
