"""Quantization facts and drift on real models quantized by onnxruntime.quantization."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgegate.findings import Status
from edgegate.model.quant import DriftThresholds, is_quantized, measure_drift, quant_facts, run_quant


def test_fp32_models_are_not_quantized(onnx_models: dict[str, Path]) -> None:
    for key in ("mlp", "conv"):
        facts = quant_facts(onnx_models[key])
        assert facts.quantized is False
        assert facts.schemes == []
        assert set(facts.weight_fraction) <= {"FLOAT", "INT64"}
        assert facts.weight_fraction["FLOAT"] > 0.9
        assert not is_quantized(onnx_models[key])
    assert quant_facts(onnx_models["mlp"]).float_compute_ops == {"MatMul": 2}
    assert quant_facts(onnx_models["conv"]).float_compute_ops == {"Conv": 1, "Gemm": 1}


def test_dynamic_quantization_facts(onnx_models: dict[str, Path]) -> None:
    facts = quant_facts(onnx_models["mlp_dynamic"])
    assert facts.quantized and "dynamic/integer" in facts.schemes
    assert facts.integer_ops == {"MatMulInteger": 2}
    assert facts.dynamic_quantize_linear >= 1
    assert facts.float_compute_ops == {}
    assert facts.weight_fraction["INT8"] > 0.5
    assert facts.size_on_disk == onnx_models["mlp_dynamic"].stat().st_size
    conv = quant_facts(onnx_models["conv_dynamic"])
    assert conv.quantized and "ConvInteger" in conv.integer_ops


def test_static_qdq_facts(onnx_models: dict[str, Path]) -> None:
    for key in ("mlp_qdq", "conv_qdq"):
        facts = quant_facts(onnx_models[key])
        assert facts.quantized and "qdq" in facts.schemes
        assert facts.qdq_pairs >= 1  # activations: QuantizeLinear → DequantizeLinear
        assert facts.dequantize_linear > facts.quantize_linear  # weights are stored int8 + DQ
        assert facts.float_compute_ops == {}  # every MatMul/Conv/Gemm is fed by DequantizeLinear
        assert facts.weight_bytes.get("INT8", 0) > 0
        assert is_quantized(onnx_models[key])


def test_drift_against_reference(onnx_models: dict[str, Path]) -> None:
    drift = measure_drift(onnx_models["mlp_dynamic"], onnx_models["mlp"], samples=8, runs=3)
    assert 0 < drift.max_abs_error < 0.5
    assert drift.mean_abs_error <= drift.max_abs_error
    assert drift.cosine > 0.99
    assert drift.top1_agreement is not None and drift.top1_agreement >= 0.75
    assert drift.samples == 8
    assert 0 < drift.size_ratio < 1
    assert drift.latency_ratio > 0
    same = measure_drift(onnx_models["mlp"], onnx_models["mlp"], samples=4, runs=2)
    assert same.max_abs_error == 0 and same.cosine == pytest.approx(1.0) and same.top1_agreement == 1.0


def test_drift_thresholds_fail_the_gate(onnx_models: dict[str, Path]) -> None:
    strict = DriftThresholds(max_abs_error=1e-9, min_cosine=0.99, min_top1_agreement=0.5)
    res = run_quant(onnx_models["conv_qdq"], reference=onnx_models["conv"], thresholds=strict, samples=4, runs=2)
    assert res.status is Status.FAILED
    assert [f.rule_id for f in res.findings] == ["EGQ008", "EGQ002"]  # EGQ008: informational, random inputs
    assert not res.findings[0].blocking
    assert res.stats["quantized"] is True and res.stats["drift"]["samples"] == 4
    loose = run_quant(onnx_models["conv_qdq"], reference=onnx_models["conv"], samples=4, runs=2,
                      thresholds=DriftThresholds(max_abs_error=10.0, min_top1_agreement=0.0))
    assert loose.status is Status.PASSED


def test_inputs_from_npz(onnx_models: dict[str, Path], tmp_path: Path) -> None:
    x = np.random.default_rng(3).standard_normal((6, 16)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", x=x)
    drift = measure_drift(onnx_models["mlp_qdq"], onnx_models["mlp"], inputs=tmp_path / "inputs.npz", runs=2)
    assert drift.samples == 1 and drift.top1_agreement is not None
    np.savez(tmp_path / "wrong.npz", y=x)
    from edgegate.errors import InputError

    with pytest.raises(InputError, match="no array named 'x'"):
        measure_drift(onnx_models["mlp_qdq"], onnx_models["mlp"], inputs=tmp_path / "wrong.npz", runs=1)


def test_require_quantized(onnx_models: dict[str, Path]) -> None:
    res = run_quant(onnx_models["mlp"], require_quantized=True)
    assert res.status is Status.FAILED and res.findings[0].rule_id == "EGQ001"
    assert run_quant(onnx_models["mlp_dynamic"], require_quantized=True).status is Status.PASSED


def test_cli_json_and_bad_input(onnx_models: dict[str, Path], cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    res = cli("model", "quant", onnx_models["mlp_qdq"], "--reference", onnx_models["mlp"], "--samples", "4",
              "--runs", "2", "-f", "json")
    assert res.exit_code == 0, res.stderr
    gate = json.loads(res.stdout)["gates"][0]
    assert gate["stats"]["quantized"] is True
    assert gate["stats"]["drift"]["cosine"] > 0.99
    res = cli("model", "quant", onnx_models["mlp"], "--require-quantized", "-f", "json")
    assert res.exit_code == 1 and json.loads(res.stdout)["gates"][0]["stats"]["quantized"] is False
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"\x08" + b"\xff" * 64)
    res = cli("model", "quant", fake)
    assert res.exit_code == 2 and "not a valid ONNX model" in res.stderr and "Traceback" not in res.stderr
    res = cli("model", "quant", tmp_path / "missing.onnx")
    assert res.exit_code == 2 and "no such file" in res.stderr
    res = cli("model", "quant", onnx_models["mlp"], "--reference", onnx_models["conv"], "--runs", "1")
    assert res.exit_code == 2 and "different inputs" in res.stderr


def test_external_data_counts_in_size(onnx_models: dict[str, Path], tmp_path: Path) -> None:
    import onnx

    model = onnx.load(str(onnx_models["mlp"]))
    target = tmp_path / "ext.onnx"
    onnx.save_model(model, str(target), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.onnx.data", size_threshold=0)
    facts = quant_facts(target)
    data = tmp_path / "ext.onnx.data"
    assert facts.external_files == ["ext.onnx.data"]
    assert facts.size_on_disk == target.stat().st_size + data.stat().st_size
    assert facts.weight_bytes == quant_facts(onnx_models["mlp"]).weight_bytes
    drift = measure_drift(onnx_models["mlp_dynamic"], target, samples=2, runs=1)
    assert drift.size_ratio == pytest.approx(
        onnx_models["mlp_dynamic"].stat().st_size / facts.size_on_disk)


def test_cli_help_does_not_import_engines(root_dir: Path) -> None:
    import subprocess
    import sys

    code = ("import sys, edgegate.model.cli; "
            "print(sorted(m for m in ('onnx', 'onnxruntime', 'numpy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root_dir)
    assert out.stdout.strip() == "[]"


def test_drift_refuses_external_data_outside_the_folder(onnx_models: dict[str, Path], tmp_path: Path) -> None:
    import onnx

    from edgegate.errors import InputError

    model = onnx.load(str(onnx_models["mlp"]))
    folder = tmp_path / "m"
    folder.mkdir()
    target = folder / "mlp.onnx"
    onnx.save_model(model, str(target), save_as_external_data=True, location="w.data", size_threshold=0)
    evil = onnx.load(str(target), load_external_data=False)
    for t in evil.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../secret.data"
    (tmp_path / "secret.data").write_bytes((folder / "w.data").read_bytes())
    onnx.save(evil, str(target))
    with pytest.raises(InputError, match="leaves the model folder"):
        measure_drift(target, onnx_models["mlp"], samples=1, runs=1)
    with pytest.raises(InputError, match="leaves the model folder"):  # without --reference too
        quant_facts(target)
