"""ML-BOMs from real model files written in the test (safetensors, ONNX, GGUF, NumPy), a model
card, and a Hugging Face cache used offline through huggingface_hub."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from edgegate.sbom.api import model_sbom
from edgegate.sbom.bom import validate_file
from edgegate.sbom.mlbom import BrokenHeaderError, scan_model

CARD = """---
license: apache-2.0
base_model: google-bert/bert-base-uncased
datasets:
- stanfordnlp/imdb
pipeline_tag: text-classification
language: en
library_name: transformers
---
# tiny classifier
"""


def _write_model(d: Path) -> None:
    import gguf
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import save_file

    d.mkdir(parents=True, exist_ok=True)
    save_file(
        {"w": np.zeros((4, 3), np.float32), "b": np.zeros((3,), np.float16)}, str(d / "model.safetensors")
    )
    # same format, misleading name: detected from content
    save_file({"emb": np.zeros((10, 2), np.float32)}, str(d / "weights.bin"))
    w = numpy_helper.from_array(np.ones((3, 2), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [w],
    )
    onnx.save(helper.make_model(graph, producer_name="edgegate-test"), str(d / "model.onnx"))
    writer = gguf.GGUFWriter(str(d / "model.gguf.part"), "llama")
    writer.add_name("tiny")
    writer.add_context_length(128)
    writer.add_tensor("tok", np.zeros((8, 4), np.float32))
    writer.add_tensor("out", np.zeros((4,), np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    np.save(d / "scale.npy", np.zeros((2, 5), np.int8))
    (d / "README.md").write_text(CARD)
    (d / "config.json").write_text(
        '{"architectures": ["BertForSequenceClassification"], "model_type": "bert"}'
    )


def _files(doc: dict) -> dict[str, dict[str, str]]:
    out = {}
    for c in doc["components"]:
        props = {p["name"]: p["value"] for p in c.get("properties", [])}
        props["sha256"] = c["hashes"][0]["content"]
        out[c["name"]] = props
    return out


def test_model_directory_ml_bom(tmp_path: Path) -> None:
    d = tmp_path / "tiny-model"
    _write_model(d)
    out = tmp_path / "ml.json"
    result = model_sbom(str(d), out, progress=False)
    assert result.status.value == "passed"
    assert validate_file(out) is None
    doc = json.loads(out.read_text())
    files = _files(doc)
    assert set(files) == {
        "model.safetensors",
        "weights.bin",
        "model.onnx",
        "model.gguf.part",
        "scale.npy",
        "README.md",
        "config.json",
    }
    for name, props in files.items():
        assert props["sha256"] == hashlib.sha256((d / name).read_bytes()).hexdigest()
    assert files["model.safetensors"]["edgegate:file:format"] == "safetensors"
    assert files["model.safetensors"]["edgegate:file:parameters"] == "15"
    assert files["model.safetensors"]["edgegate:file:dtypes"] == "F16:3,F32:12"
    assert files["weights.bin"]["edgegate:file:format"] == "safetensors"
    assert files["weights.bin"]["edgegate:file:parameters"] == "20"
    assert files["model.onnx"]["edgegate:file:format"] == "onnx"
    assert files["model.onnx"]["edgegate:file:parameters"] == "6"
    assert files["model.onnx"]["edgegate:file:tensors"] == "1"
    assert files["model.onnx"]["edgegate:file:dtypes"] == "F32:6"
    assert files["scale.npy"]["edgegate:file:dtypes"] == "I8:10"
    assert files["model.gguf.part"]["edgegate:file:format"] == "gguf"
    assert files["model.gguf.part"]["edgegate:file:parameters"] == "36"
    assert files["model.gguf.part"]["edgegate:file:general.architecture"] == "llama"
    assert files["model.gguf.part"]["edgegate:file:llama.context_length"] == "128"
    assert files["model.gguf.part"]["edgegate:file:dtypes"] == "F16:4,F32:32"
    assert files["scale.npy"]["edgegate:file:parameters"] == "10"
    model = doc["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    mprops = {p["name"]: p["value"] for p in model["properties"]}
    assert mprops["edgegate:model:parameters"] == str(15 + 20 + 6 + 36 + 10)
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert model["pedigree"]["ancestors"][0]["name"] == "google-bert/bert-base-uncased"
    card = model["modelCard"]["modelParameters"]
    assert card["task"] == "text-classification"
    assert card["datasets"] == [{"type": "dataset", "name": "stanfordnlp/imdb"}]
    assert card["modelArchitecture"] == "BertForSequenceClassification"
    assert card["architectureFamily"] == "bert"


def test_single_file(tmp_path: Path) -> None:
    d = tmp_path / "m"
    _write_model(d)
    model = scan_model(str(d / "model.onnx"), progress=False)
    assert [(f.path, f.format, f.parameters) for f in model.files] == [("model.onnx", "onnx", 6)]


def _broken(tmp_path: Path, header: bytes, declared: int | None = None) -> Path:
    d = tmp_path / "broken"
    d.mkdir(exist_ok=True)
    n = len(header) if declared is None else declared
    (d / "model.safetensors").write_bytes(struct.pack("<Q", n) + header + b"\0" * 16)
    return d


@pytest.mark.parametrize(
    ("header", "declared", "why"),
    [
        (b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]', None, "not JSON"),
        (b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', 10**12, "declares"),
        (b'{"w": {"dtype": "F32", "shape": [400], "data_offsets": [0, 1600]}}', None, "outside the file"),
        (b'{"w": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}}', None, "does not match"),
    ],
)
def test_broken_safetensors_header_is_exit_2_and_no_sbom(tmp_path: Path, cli, header, declared, why) -> None:
    d = _broken(tmp_path, header, declared)
    with pytest.raises(BrokenHeaderError, match=why):
        scan_model(str(d), progress=False)
    out = tmp_path / "o.json"
    r = cli("sbom", "model", d, "--sbom-output", out)
    assert r.exit_code == 2
    assert r.stderr.startswith("edgegate: error: ") and r.stderr.count("\n") == 1
    assert "broken safetensors header" in r.stderr
    assert not out.exists()


def _hf_cache(cache: Path, repo: str, model_dir: Path) -> str:
    commit = hashlib.sha1(repo.encode()).hexdigest()
    base = cache / ("models--" + repo.replace("/", "--"))
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    snap = base / "snapshots" / commit
    snap.mkdir(parents=True)
    (base / "blobs").mkdir()
    for f in model_dir.iterdir():
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.copy(f, base / "blobs" / digest)
        os.symlink(f"../../blobs/{digest}", snap / f.name)
    return commit


def test_hugging_face_repo_from_offline_cache(tmp_path: Path, cli_subprocess) -> None:
    src = tmp_path / "src"
    _write_model(src)
    cache = tmp_path / "hf-cache"
    commit = _hf_cache(cache, "edgegate-test/tiny-model", src)
    env = {
        **os.environ,
        "HF_HUB_CACHE": str(cache),
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": "http://127.0.0.1:9",
    }
    out = tmp_path / "hf.json"
    r = cli_subprocess("sbom", "model", "edgegate-test/tiny-model", "--sbom-output", out, "--no-progress", env=env)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(out.read_text())
    model = doc["metadata"]["component"]
    assert model["name"] == "edgegate-test/tiny-model"
    assert model["version"] == commit
    assert model["purl"] == f"pkg:huggingface/edgegate-test/tiny-model@{commit}"
    assert (
        _files(doc)["model.safetensors"]["sha256"]
        == hashlib.sha256((src / "model.safetensors").read_bytes()).hexdigest()
    )
    # a repo that is not in the cache, offline: exit 2, one line
    r = cli_subprocess("sbom", "model", "edgegate-test/absent", "--sbom-output", tmp_path / "x.json", env=env)
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "Hugging Face Hub" in r.stderr, r.stderr


def test_missing_model_path(tmp_path: Path, cli) -> None:
    r = cli("sbom", "model", tmp_path / "nope", "--sbom-output", tmp_path / "x.json")
    assert r.exit_code == 2
    assert "no such file or directory" in r.stderr


def test_weak_content_guess_under_another_name_is_a_warning(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    # 8-byte length + "{" but not a safetensors header, in a file not named .safetensors
    (d / "blob.bin").write_bytes(struct.pack("<Q", 5) + b"{oops" + b"\0" * 8)
    (d / "model.onnx").write_bytes(b"")
    with pytest.raises(BrokenHeaderError):
        scan_model(str(d), progress=False)  # the .onnx name claims ONNX: must parse
    (d / "model.onnx").unlink()
    model = scan_model(str(d), progress=False)
    assert [(f.path, f.format) for f in model.files] == [("blob.bin", "other")]
    assert any("looks like safetensors" in w for w in model.warnings)


def test_real_pytorch_pickle_and_numpy_files_from_shared(shared_dir: Path, tmp_path: Path) -> None:
    """Formats from content on picklescan's real files; object arrays are never unpickled."""
    src = shared_dir / "data" / "model-scan" / "picklescan"
    d = tmp_path / "m"
    d.mkdir()
    for sub, name in (
        ("data", "pytorch_model.bin"),
        ("data", "new_pytorch_model.bin"),
        ("data", "bad_pytorch.pt"),
        ("data", "benign0_v3.pkl"),
        ("data2", "int_array.npy"),
        ("data2", "int_arrays_compressed.npz"),
        ("data2", "object_array.npy"),
    ):
        shutil.copy(src / sub / name, d / name)
    model = scan_model(str(d), progress=False)
    got = {f.path: (f.format, f.parameters, f.dtypes) for f in model.files}
    assert got["pytorch_model.bin"][0] == "pytorch-legacy"
    assert got["new_pytorch_model.bin"][0] == "pytorch"
    assert got["bad_pytorch.pt"][0] == "other"  # a PNG named .pt
    assert got["benign0_v3.pkl"][0] == "pickle"
    assert got["int_array.npy"] == ("numpy", 4, {"I32": 4})
    assert got["int_arrays_compressed.npz"] == ("numpy-npz", 6, {"I32": 6})
    assert got["object_array.npy"] == ("numpy", 4, {"OBJECT": 4})


def test_broken_gguf_header(tmp_path: Path, cli) -> None:
    src = tmp_path / "src"
    _write_model(src)
    data = (src / "model.gguf.part").read_bytes()
    d = tmp_path / "broken"
    d.mkdir()
    (d / "model.gguf").write_bytes(data[:40])  # cut inside the metadata
    with pytest.raises(BrokenHeaderError, match="truncated"):
        scan_model(str(d), progress=False)
    (d / "model.gguf").write_bytes(b"GGUF" + struct.pack("<I", 99) + b"\0" * 64)
    r = cli("sbom", "model", d, "--sbom-output", tmp_path / "o.json")
    assert r.exit_code == 2 and "unsupported GGUF version 99" in r.stderr
    (d / "model.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 2**40))  # absurd kv count
    with pytest.raises(BrokenHeaderError, match="out of range"):
        scan_model(str(d), progress=False)
