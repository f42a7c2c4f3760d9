"""`model quant` never reports on a model it cannot judge, and never lets bad input pass:
empty files, ModelProtos without a graph, broken external data, sparse files, huge inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgegate.errors import InputError
from edgegate.model.quant import quant_facts

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _save(model, path: Path) -> Path:  # type: ignore[no-untyped-def]
    path.write_bytes(model.SerializeToString())
    return path


def _external(onnx_models: dict[str, Path], folder: Path) -> Path:
    import onnx

    folder.mkdir(exist_ok=True)
    target = folder / "ext.onnx"
    onnx.save_model(onnx.load(str(onnx_models["mlp"])), str(target), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="ext.data", size_threshold=0)
    return target


def _set_location(path: Path, location: str) -> None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for t in model.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = location
    onnx.save(model, str(path))


def test_unjudgeable_models_are_exit_2_with_and_without_reference(
        onnx_models: dict[str, Path], tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import onnx
    from onnx import helper

    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    no_graph = _save(helper.make_model_gen_version(onnx.GraphProto(), opset_imports=[helper.make_opsetid("", 17)]),
                     tmp_path / "nograph.onnx")
    proto = onnx.ModelProto()
    proto.ir_version = 8
    proto.opset_import.add(version=17)
    bare = _save(proto, tmp_path / "bare.onnx")  # a valid ModelProto without a graph field
    no_nodes = _save(helper.make_model(helper.make_graph([], "g", [], [])), tmp_path / "nonodes.onnx")
    missing = _external(onnx_models, tmp_path / "missing")
    (missing.parent / "ext.data").unlink()
    short = _external(onnx_models, tmp_path / "short")
    data = short.parent / "ext.data"
    data.write_bytes(data.read_bytes()[:100])
    absolute = _external(onnx_models, tmp_path / "absolute")
    _set_location(absolute, str(absolute.parent / "ext.data"))
    dotdot = _external(onnx_models, tmp_path / "dotdot")
    _set_location(dotdot, "../dotdot/ext.data")  # resolves to the same, real file: still refused
    cases = {empty: "empty file", no_graph: "no nodes", bare: "no graph", no_nodes: "no nodes",
             missing: "missing", short: "exceeds the file", absolute: "absolute", dotdot: "leaves the model folder"}
    for path, why in cases.items():
        with pytest.raises(InputError, match=why):
            quant_facts(path)
        for extra in ([], ["--reference", str(onnx_models["mlp"]), "--runs", "1", "--samples", "1"]):
            res = cli("model", "quant", path, *extra)
            assert res.exit_code == 2, (path, extra, res.stdout)
            assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    # the same models as the reference are refused too
    res = cli("model", "quant", onnx_models["mlp"], "--reference", empty)
    assert res.exit_code == 2
    # and the FinOps link cannot count an empty file as a quantized model
    from edgegate.model.quant import is_quantized

    with pytest.raises(InputError):
        is_quantized(empty)


def test_protobuf_framing_refuses_garbage_without_reading_it(tmp_path: Path, onnx_models: dict[str, Path]) -> None:
    good = onnx_models["mlp"].read_bytes()
    cases = {
        "zeros.onnx": b"\x00" * 4096,
        "truncated.onnx": good[: len(good) // 2],
        "random.onnx": bytes(range(7, 250)) * 20,
        "graph-of-zeros.onnx": b"\x08\x08\x3a\x80\x08" + b"\x00" * 1024,  # ir_version 8; graph of 1024 zero bytes
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match="not a valid ONNX model"):
            quant_facts(tmp_path / name)


def _child_peak_rss_mb(args: list[str], env: dict[str, str] | None = None) -> tuple[int, int]:
    """Exit code and peak RSS (MiB) of `python -m edgegate ARGS` run by a fresh parent."""
    code = ("import resource, subprocess, sys; "
            "rc = subprocess.run([sys.executable, '-m', 'edgegate', *sys.argv[1:]], capture_output=True).returncode; "
            "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env,
                         timeout=300)
    rc, rss = out.stdout.split()
    return int(rc), int(rss)


def test_sparse_gigabyte_onnx_is_refused_without_being_read(tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.onnx"
    with sparse.open("wb") as fh:
        fh.truncate(1024**3)
    framed = tmp_path / "framed.onnx"  # a plausible header, then a 1 GiB graph of zeros
    size = 1024**3
    header = b"\x08\x08\x3a" + bytes(_varint(size - 16))
    with framed.open("wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + size - 16)
    nested = tmp_path / "nested.onnx"  # ... and a graph whose one 1 GiB initializer is all zeros
    inner = 1024**3
    tensor_field = b"\x2a" + bytes(_varint(inner))
    graph = b"\x3a" + bytes(_varint(len(tensor_field) + inner))
    with nested.open("wb") as fh:
        fh.write(b"\x08\x08" + graph + tensor_field)
        fh.truncate(2 + len(graph) + len(tensor_field) + inner)
    for path in (sparse, framed, nested):
        rc, rss = _child_peak_rss_mb(["model", "quant", str(path)])
        assert rc == 2
        assert rss < 512, f"{path.name}: peak RSS {rss} MiB: the file was read"


def _varint(n: int) -> list[int]:
    out = []
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return out


def _model_with_input(path: Path, dims: list[int | str]) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_huge_declared_input_is_an_input_error(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    big = _model_with_input(tmp_path / "big.onnx", [1024, 1024, 1024, 1792])  # 7 TiB of float32
    res = cli("model", "quant", big, "-r", big, "--samples", "1", "--runs", "1")
    assert res.exit_code == 2 and "limit for random inputs" in res.stderr and "MemoryError" not in res.stderr
    dyn = _model_with_input(tmp_path / "dyn.onnx", ["n", 3])
    res = cli("model", "quant", dyn, "-r", dyn, "--shape", "x=100000000x3", "--samples", "1", "--runs", "1")
    assert res.exit_code == 2 and "limit for random inputs" in res.stderr


def test_inputs_and_shapes_need_a_reference(onnx_models: dict[str, Path], tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    np.savez(tmp_path / "in.npz", x=np.zeros((1, 16), np.float32))
    for extra in (["--inputs", str(tmp_path / "in.npz")], ["--shape", "x=2x16"], ["--top1-output", "logits"]):
        res = cli("model", "quant", onnx_models["mlp_dynamic"], *extra)
        assert res.exit_code == 2 and "--reference" in res.stderr, extra


def test_shapes_set_dynamic_dimensions(onnx_models: dict[str, Path], cli) -> None:  # type: ignore[no-untyped-def]
    from edgegate.model.drift import measure_drift

    drift = measure_drift(onnx_models["conv_qdq"], onnx_models["conv"], samples=2, runs=1,
                          shapes={"img": (3, 3, 8, 8)})
    assert drift.defaulted_dims == {} and drift.inputs == "random" and drift.samples == 2
    default = measure_drift(onnx_models["conv_qdq"], onnx_models["conv"], samples=2, runs=1)
    assert default.defaulted_dims == {"img": [0]}
    for bad, why in (("img=3x8x8", "3 dimensions"), ("img=1x4x8x8", "fixed at 3"), ("nope=1", "names no input"),
                     ("img=0x3x8x8", "positive"), ("img", "NAME=DIMS")):
        res = cli("model", "quant", onnx_models["conv_qdq"], "-r", onnx_models["conv"], "--shape", bad,
                  "--runs", "1", "--samples", "1")
        assert res.exit_code == 2 and why in res.stderr, bad


def test_random_inputs_are_reported_as_random(onnx_models: dict[str, Path], cli) -> None:  # type: ignore[no-untyped-def]
    import json

    res = cli("model", "quant", onnx_models["mlp_qdq"], "-r", onnx_models["mlp"], "--samples", "5", "--runs", "1",
              "-f", "json")
    drift = json.loads(res.stdout)["gates"][0]["stats"]["drift"]
    assert drift["inputs"] == "random" and drift["samples"] == 5 and drift["seed"] == 0
    assert drift["defaulted_dims"] == {"x": [0]}
    text = cli("model", "quant", onnx_models["mlp_qdq"], "-r", onnx_models["mlp"], "--samples", "5", "--runs", "1")
    assert "random: 5 samples (seed 0)" in text.stdout


def test_model_that_cannot_run_on_random_inputs_says_so(tmp_path: Path, cli_subprocess) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # Reshape to a fixed 2x8: runs on real [1, 16] inputs, fails on the random [1, 1] the dynamic axis defaults to
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "s"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])],
        initializer=[numpy_helper.from_array(np.array([2, 8], np.int64), "s")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "reshape.onnx"
    onnx.save(model, str(path))
    res = cli_subprocess("model", "quant", path, "-r", path, "--samples", "1", "--runs", "1")
    assert res.exit_code == 2
    assert "cannot run on random inputs" in res.stderr and "--inputs" in res.stderr and "--shape" in res.stderr
    assert "\x1b[" not in res.stderr  # onnxruntime's own coloured log line does not leak
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    ok = cli_subprocess("model", "quant", path, "-r", path, "--shape", "x=1x16", "--samples", "1", "--runs", "1")
    assert ok.exit_code == 0, ok.stderr


def test_onnxruntime_leaves_home_alone(onnx_models: dict[str, Path], tmp_path: Path, cli_subprocess) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    home.mkdir()
    # onnxruntime writes nothing when it sees a CI variable (CI=true in .ci/run), which would make
    # the control below vacuous: both runs get an environment without them
    ci_vars = ("CI", "GITHUB_ACTIONS", "CONTINUOUS_INTEGRATION", "TF_BUILD")
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CACHE_HOME", "ORT_DISABLE_TELEMETRY", *ci_vars)}
    env["HOME"] = str(home)
    res = cli_subprocess("model", "quant", onnx_models["mlp_qdq"], "-r", onnx_models["mlp"], "--samples", "1",
                         "--runs", "1", env=env)
    assert res.exit_code == 0, res.stderr
    assert list(home.rglob("*")) == []
    # the control: onnxruntime itself does write there, so the check above can fail
    probe = f"import onnxruntime as o; o.InferenceSession(r'{onnx_models['mlp']}', providers=['CPUExecutionProvider'])"
    subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True, timeout=120)
    assert list(home.rglob("deviceid")), "onnxruntime no longer writes a device id: drop this control"


def test_config_shapes_top1_and_inputs_without_reference(onnx_models: dict[str, Path], tmp_path: Path,
                                                          cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    conv, qdq = onnx_models["conv"], onnx_models["conv_qdq"]
    monkeypatch.setenv("EDGEGATE_ALLOWED_PATHS", str(conv.parent))  # the models live outside the project
    (tmp_path / "edgegate.toml").write_text(f"""
[model.quant]
samples = 2
runs = 1
min-top1-agreement = 0.0

[[model.quant.models]]
path = "{qdq}"
reference = "{conv}"
shapes = {{ img = [2, 3, 8, 8] }}
top1-outputs = ["scores"]
""")
    res = cli("check", tmp_path, "-f", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    drift = json.loads(res.stdout)["gates"][0]["stats"]["drift"]
    assert drift["defaulted_dims"] == {} and drift["top1_outputs"] == ["scores"] and drift["inputs"] == "random"
    (tmp_path / "edgegate.toml").write_text(f"""
[[model.quant.models]]
path = "{qdq}"
inputs = "{tmp_path / 'in.npz'}"
""")
    res = cli("check", tmp_path, "-f", "json")
    gate = json.loads(res.stdout)["gates"][0]
    assert res.exit_code == 2 and gate["status"] == "error" and "--reference" in gate["errors"][0]
