"""Scanner behaviour on crafted inputs: each format's checks, lying lengths, nested and bomb
archives, ONNX external-data escapes, and the CLI's exit codes."""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgegate.findings import Status
from edgegate.model.scan import ScanOptions, analyse_pickle, classify, scan_paths
from edgegate.model.scan.imports import Verdict


def _rules(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.rule_id for f in result.findings}


# -- pickle ------------------------------------------------------------------------------------


def test_all_protocols_find_the_import(tmp_path: Path) -> None:
    for proto in range(6):
        data = pickle.dumps(os.system, protocol=proto)  # pickling a reference only, never loading
        analysis = analyse_pickle(data)
        assert [i.qualname for i in analysis.imports] in (["posix.system"], ["nt.system"], ["os.system"]), proto
        assert analysis.complete


def test_stack_global_through_memo_and_non_literal_operands() -> None:
    # SHORT_BINUNICODE 'os' MEMOIZE, SHORT_BINUNICODE 'system' MEMOIZE, BINGET 0, BINGET 1, STACK_GLOBAL
    data = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x8c\x02id\x85R."
    analysis = analyse_pickle(data)
    assert [(i.module, i.name, i.called) for i in analysis.imports] == [("os", "system", True)]
    # an int where the module name should be: unresolvable → dangerous
    bad = b"\x80\x04K\x01\x8c\x06system\x93N\x85R."
    imp = analyse_pickle(bad).imports[0]
    assert not imp.resolved
    assert classify(imp.module, imp.name, resolved=imp.resolved) is Verdict.DANGEROUS


def test_truncated_pickle_is_an_error(tmp_path: Path) -> None:
    data = pickle.dumps({"a": np.arange(3)}, protocol=4)
    f = tmp_path / "model.pkl"
    f.write_bytes(data[: len(data) // 2])
    result = scan_paths([f])
    assert result.status is Status.ERROR
    assert "parsing failed" in result.errors[0] or "STOP" in result.errors[0]


def test_huge_declared_length_is_bounded(tmp_path: Path) -> None:
    # BINBYTES8 claiming 2**62 bytes: nothing is allocated, the scan reports the truncation
    f = tmp_path / "huge.pkl"
    f.write_bytes(b"\x80\x05\x8e" + struct.pack("<Q", 1 << 62) + b"abc")
    result = scan_paths([f])
    assert result.status is Status.ERROR


def test_numpy_arrays_and_classification() -> None:
    data = pickle.dumps(np.arange(4, dtype=np.float32), protocol=2)
    imports = analyse_pickle(data).imports
    assert imports and all(classify(i.module, i.name) is Verdict.SAFE for i in imports)
    assert classify("__builtin__", "eval") is Verdict.DANGEROUS
    assert classify("torch.serialization", "load") is Verdict.DANGEROUS
    assert classify("torch", "serialization.load") is Verdict.DANGEROUS
    assert classify("os.path", "join") is Verdict.DANGEROUS
    assert classify("sklearn.linear_model", "LogisticRegression") is Verdict.UNKNOWN
    assert classify("collections", "OrderedDict") is Verdict.SAFE
    assert classify("torch._utils", "_rebuild_tensor.__globals__.get") is Verdict.DANGEROUS
    assert classify("mypkg", "Outer.Inner") is Verdict.UNKNOWN


def test_legacy_torch_stops_at_raw_storage(tmp_path: Path) -> None:
    # magic, protocol, sys info, object, storage keys, then raw bytes that are not a pickle
    parts = [pickle.dumps(0x1950A86A20F9469CFC6C, 2), pickle.dumps(1001, 2), pickle.dumps({}, 2),
             pickle.dumps({"w": 1}, 2), pickle.dumps(["0"], 2)]
    raw = b"".join(parts) + struct.pack("<q", 4) + b"c\x00\xff\x13" * 4
    analysis = analyse_pickle(raw)
    assert analysis.torch_legacy and analysis.pickles == 5 and analysis.error is None
    f = tmp_path / "legacy.pt"
    f.write_bytes(raw)
    assert scan_paths([f]).status is Status.PASSED


def test_allow_and_deny_options(tmp_path: Path) -> None:
    f = tmp_path / "m.pkl"
    f.write_bytes(b"\x80\x04\x8c\x07sklearn\x8c\x05Model\x93)R.")
    assert _rules(scan_paths([f])) == {"EGM002"}
    assert scan_paths([f], ScanOptions(allow=frozenset({"sklearn.Model"}))).findings == []
    denied = scan_paths([f], ScanOptions(deny=frozenset({"sklearn"})))
    assert denied.status is Status.FAILED and _rules(denied) == {"EGM001"}


# -- numpy -------------------------------------------------------------------------------------


def test_npy_plain_object_and_truncated(tmp_path: Path) -> None:
    plain = tmp_path / "plain.npy"
    np.save(plain, np.arange(10))
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    short = tmp_path / "short.npy"
    short.write_bytes(plain.read_bytes()[:-16])
    assert scan_paths([plain]).status is Status.PASSED
    assert scan_paths([obj]).status is Status.PASSED
    assert scan_paths([short]).status is Status.ERROR
    evil = tmp_path / "evil.npy"
    header = obj.read_bytes()[:128]
    evil.write_bytes(header[: obj.read_bytes().index(b"\n") + 1] + pickle.dumps(os.system, protocol=2))
    assert "EGM001" in _rules(scan_paths([evil]))


# -- safetensors -------------------------------------------------------------------------------


def _safetensors(header: dict, data: bytes) -> bytes:  # type: ignore[type-arg]
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def test_safetensors_valid_and_lying(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    good = tmp_path / "good.safetensors"
    save_file({"w": np.ones((2, 3), np.float32), "b": np.zeros(3, np.float16)}, str(good))
    assert scan_paths([good]).status is Status.PASSED

    cases = {
        "huge.safetensors": struct.pack("<Q", 10 * 1024**3) + b"{}",
        "past_end.safetensors": _safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
        "wrong_size.safetensors": _safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 8),
        "overlap.safetensors": _safetensors(
            {"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
             "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, b"\0" * 6),
        "not_json.safetensors": struct.pack("<Q", 4) + b"{{{{",
        "truncated.safetensors": b"\x01\x02",
    }
    for name, data in cases.items():
        f = tmp_path / name
        f.write_bytes(data)
        result = scan_paths([f])
        assert result.status is Status.ERROR, name
        assert result.errors and name in result.errors[0]


# -- GGUF --------------------------------------------------------------------------------------


def _gguf(kvs: list[tuple[str, int, bytes]], tensors: int = 0) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", 3, tensors, len(kvs))
    for key, vtype, payload in kvs:
        out += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", vtype) + payload
    return out


def _gstr(s: str) -> bytes:
    return struct.pack("<Q", len(s.encode())) + s.encode()


def test_gguf_chat_template_and_bad_headers(tmp_path: Path) -> None:
    ok = tmp_path / "ok.gguf"
    ok.write_bytes(_gguf([("general.architecture", 8, _gstr("llama")),
                          ("tokenizer.chat_template", 8, _gstr("{% for m in messages %}{{ m.content }}{% endfor %}"))]))
    res = scan_paths([ok])
    assert res.status is Status.PASSED and "EGM007" in _rules(res)

    evil = tmp_path / "evil.gguf"
    evil.write_bytes(_gguf([("tokenizer.chat_template", 8,
                             _gstr("{{ self.__init__.__globals__.__builtins__.__import__('os').popen('id') }}"))]))
    res = scan_paths([evil])
    assert res.status is Status.FAILED and "EGM008" in _rules(res)

    for name, data in {
        "counts.gguf": b"GGUF" + struct.pack("<IQQ", 3, 1 << 60, 1 << 60),
        "string.gguf": _gguf([("k", 8, struct.pack("<Q", 1 << 40))]),
        "version.gguf": b"GGUF" + struct.pack("<IQQ", 99, 0, 0),
        "cut.gguf": b"GGUF\x03\x00",
    }.items():
        f = tmp_path / name
        f.write_bytes(data)
        assert scan_paths([f]).status is Status.ERROR, name


# -- archives ----------------------------------------------------------------------------------


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_nested_archives_are_scanned_and_bounded(tmp_path: Path) -> None:
    evil = pickle.dumps(os.system, protocol=2)
    nested = _zip({"inner.zip": _zip({"deep/weights.pkl": evil}, zipfile.ZIP_DEFLATED)})
    f = tmp_path / "outer.zip"
    f.write_bytes(nested)
    res = scan_paths([f])
    assert res.status is Status.FAILED
    hit = next(x for x in res.findings if x.rule_id == "EGM001")
    assert hit.location.path == str(f)  # the file on disk; the member is named in details
    assert hit.details["member"] == "inner.zip!deep/weights.pkl"
    assert hit.message.startswith("inner.zip!deep/weights.pkl: ")
    rows = {r[0]: r for r in res.stats["tables"][0]["rows"]}
    assert rows[str(f)][-1] == "dangerous" and rows[str(f)][3] == 1  # the archive row sums its members
    assert res.stats["dangerous"] == 1

    deep = evil
    for i in range(6):
        deep = _zip({f"l{i}.zip" if i else "w.pkl": deep})
    d = tmp_path / "deep.zip"
    d.write_bytes(deep)
    res = scan_paths([d])
    assert res.status is Status.ERROR and any("nested deeper" in e for e in res.errors)


def test_zip_bomb_member_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "bomb.zip"
    f.write_bytes(_zip({"data.pkl": b"\x80\x02" + b"N" * (8 * 1024 * 1024) + b"."}, zipfile.ZIP_DEFLATED))
    res = scan_paths([f], ScanOptions(max_member_bytes=1024 * 1024))
    assert res.status is Status.ERROR and any("limit" in e for e in res.errors)


def test_keras_lambda_and_custom_objects(tmp_path: Path) -> None:
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "module": "keras.layers", "config": {}},
        {"class_name": "Lambda", "module": "keras.layers", "config": {"function": "4wEAAAAA"}},
        {"class_name": "MyLayer", "module": "evil_pkg.layers", "config": {}},
    ]}}
    f = tmp_path / "model.keras"
    f.write_bytes(_zip({"config.json": json.dumps(config).encode(), "metadata.json": b"{}",
                        "model.weights.h5": b"\x89HDF\r\n\x1a\n"}))
    res = scan_paths([f])
    assert res.status is Status.FAILED
    assert _rules(res) == {"EGM005", "EGM006"}
    lam = next(x for x in res.findings if x.rule_id == "EGM005")
    assert lam.location.pointer == "/config/layers/1"


def test_hdf5_without_h5py_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # was a passing low note: a file that could not be inspected is never a pass, so EGM009
    # now blocks whether or not --strict is given
    import sys

    monkeypatch.setitem(sys.modules, "h5py", None)  # an environment without h5py
    f = tmp_path / "model.h5"
    f.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    for strict in (False, True):
        res = scan_paths([f], ScanOptions(strict=strict))
        assert res.status is Status.FAILED and _rules(res) == {"EGM009"}
        assert res.findings[0].blocking


# -- ONNX external data --------------------------------------------------------------------------


def _onnx_with_external(folder: Path, location: str) -> Path:
    import onnx
    from onnx import TensorProto, helper

    t = TensorProto()
    t.name, t.data_type = "w", TensorProto.FLOAT
    t.dims.extend([4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "16")):
        e = t.external_data.add()
        e.key, e.value = k, v
    node = helper.make_node("Add", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], initializer=[t])
    model = helper.make_model(graph)
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("location", ["/etc/passwd", "../secret.bin", "sub/../../secret.bin", "C:\\Windows\\x"])
def test_onnx_external_data_escape_is_critical(tmp_path: Path, location: str) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    res = scan_paths([_onnx_with_external(folder, location)])
    assert res.status is Status.FAILED
    assert "EGM004" in _rules(res)


def test_onnx_external_data_symlink_escape_and_ok(tmp_path: Path) -> None:
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"\0" * 16)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "link.bin").symlink_to(outside)
    res = scan_paths([_onnx_with_external(folder, "link.bin")])
    assert "EGM004" in _rules(res)

    ok_folder = tmp_path / "ok"
    ok_folder.mkdir()
    (ok_folder / "weights.bin").write_bytes(b"\0" * 16)
    assert scan_paths([_onnx_with_external(ok_folder, "weights.bin")]).status is Status.PASSED

    short = tmp_path / "short"
    short.mkdir()
    (short / "weights.bin").write_bytes(b"\0" * 4)
    assert scan_paths([_onnx_with_external(short, "weights.bin")]).status is Status.ERROR


def test_onnx_that_is_not_onnx(tmp_path: Path) -> None:
    f = tmp_path / "fake.onnx"
    f.write_bytes(b"\xff" * 100)
    res = scan_paths([f])
    assert res.status is Status.ERROR and "not a valid ONNX" in res.errors[0]


# -- CLI -----------------------------------------------------------------------------------------


def test_cli_exit_codes(tmp_path: Path, cli, root_dir: Path) -> None:  # type: ignore[no-untyped-def]
    models = root_dir / "examples" / "edge-app" / "models"
    ok = cli("model", "scan", str(models))
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(os.system, protocol=4))
    bad = cli("model", "scan", str(evil), "-f", "json")
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["gates"][0]["findings"][0]["rule_id"] == "EGM001"
    missing = cli("model", "scan", str(tmp_path / "nope.pt"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    png = tmp_path / "x.pt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    res = cli("model", "scan", str(png))
    assert res.exit_code == 2 and "Traceback" not in res.stderr + res.stdout


def test_pickletools_never_executes(tmp_path: Path) -> None:
    # a payload that would create a file if it were ever unpickled
    marker = tmp_path / "pwned"
    payload = (b"cbuiltins\nexec\n(Vopen(" + repr(str(marker)).encode() + b", 'w').write('x')\ntR.")
    pickletools.dis(payload, out=io.StringIO())  # well-formed
    f = tmp_path / "evil.pkl"
    f.write_bytes(payload)
    res = scan_paths([f])
    assert res.status is Status.FAILED
    assert not marker.exists()


# -- joblib --------------------------------------------------------------------------------------


def test_joblib_raw_arrays_nested_object_pickles_and_compression(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    data = {"w": np.arange(1000, dtype=np.float64), "f": np.ones((3, 4), order="F"),
            "o": np.array(["x", None], dtype=object), "v": np.zeros(3, dtype=[("a", "i4"), ("b", "f8")])}
    plain = tmp_path / "arrays.joblib"
    joblib.dump(data, plain)
    res = scan_paths([plain])
    assert res.status is Status.PASSED, res.errors
    for kind in ("zlib", "gzip", "bz2", "xz", "lzma"):
        f = tmp_path / f"arrays_{kind}.joblib"
        joblib.dump(data, f, compress=(kind, 3))
        assert scan_paths([f]).status is Status.PASSED, kind

    # a dangerous reference inside an object array: joblib pickles it as a nested stream
    evil = tmp_path / "evil.joblib"
    joblib.dump({"w": np.arange(3.0), "o": np.array([os.system], dtype=object)}, evil)
    res = scan_paths([evil])
    assert res.status is Status.FAILED and "EGM001" in _rules(res)

    cut = tmp_path / "cut.joblib"
    cut.write_bytes(plain.read_bytes()[:600])
    assert scan_paths([cut]).status is Status.ERROR


def test_compressed_bomb_is_bounded(tmp_path: Path) -> None:
    import zlib

    f = tmp_path / "bomb.pkl"
    f.write_bytes(zlib.compress(b"\x80\x02" + b"N" * (2 * 1024 * 1024) + b"."))
    res = scan_paths([f], ScanOptions(max_member_bytes=1024 * 1024))
    assert res.status is Status.ERROR and "limit" in res.errors[0]


def test_folder_walk_skips_onnx_external_data(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    # raw tensor bytes that happen to start like a protocol-0 pickle GLOBAL of an unknown name
    (folder / "weights.bin").write_bytes(b"cabc\ndef\n" + b"\0" * 7)
    _onnx_with_external(folder, "weights.bin")
    res = scan_paths([folder])
    assert res.status is Status.PASSED, (res.errors, res.findings)
    assert scan_paths([folder / "weights.bin"]).status is Status.ERROR  # named explicitly: scanned
    # hiding a real pickle behind an ONNX external-data reference does not hide it
    (folder / "weights.bin").write_bytes(b"cos\nsystem\n" + b"\0" * 5)
    assert "EGM001" in _rules(scan_paths([folder]))


def test_torch_zip_any_folder_name_skips_raw_storage(tmp_path: Path) -> None:
    state = pickle.dumps({"w": 1}, protocol=2)
    raw = b"\x80\x02cos\nsystem\nq\x00."  # raw tensor bytes that look like a pickle: never unpickled
    f = tmp_path / "model.pt"
    f.write_bytes(_zip({"my-model_v2/data.pkl": state, "my-model_v2/data/0": raw, "my-model_v2/version": b"3\n"}))
    res = scan_paths([f])
    assert res.status is Status.PASSED, res.findings
    assert res.stats["tables"][0]["rows"][-1][1] == "pytorch zip"
    f.write_bytes(_zip({"my-model_v2/data.pkl": pickle.dumps(os.system, protocol=2), "my-model_v2/data/0": b""}))
    assert "EGM001" in _rules(scan_paths([f]))


def test_7z_members_are_scanned_and_bounded(tmp_path: Path) -> None:
    py7zr = pytest.importorskip("py7zr")
    f = tmp_path / "model.7z"
    with py7zr.SevenZipFile(f, "w") as archive:
        archive.writestr(pickle.dumps(os.system, protocol=4), "weights/evil.pkl")
        archive.writestr(b"\x80\x04N." + b"\0" * 4096, "weights/big.bin")
    res = scan_paths([f])
    assert "EGM001" in _rules(res)
    small = scan_paths([f], ScanOptions(max_member_bytes=1024))
    assert small.status is Status.ERROR and any("limit" in e for e in small.errors)


def test_hdf5_keras_model_config_with_h5py(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Dense", "config": {}},
        {"class_name": "Lambda", "config": {"function": ["4wEAAAAA", None, None]}},
    ]}}
    f = tmp_path / "model.h5"
    with h5py.File(f, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
        h5.create_dataset("w", data=np.zeros(4))
    res = scan_paths([f])
    assert res.status is Status.FAILED and _rules(res) == {"EGM005"}
    clean = tmp_path / "clean.h5"
    with h5py.File(clean, "w") as h5:
        h5.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": []}})
    assert scan_paths([clean]).status is Status.PASSED
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    assert scan_paths([broken]).status is Status.ERROR


def test_gguf_written_by_the_gguf_library(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    f = tmp_path / "model.gguf"
    w = gguf.GGUFWriter(str(f), "llama")
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    w.add_tensor("w", np.ones((4, 8), dtype=np.float32))
    w.add_tensor("v", np.ones((3,), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    res = scan_paths([f])
    assert res.status is Status.PASSED and _rules(res) == {"EGM007"}
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(f.read_bytes()[:-40])  # into the last tensor (the writer pads to 32)
    res = scan_paths([cut])
    assert res.status is Status.ERROR and "past the end" in res.errors[0]


def test_large_inline_payload_is_stepped_over(tmp_path: Path) -> None:
    # a protocol-5 pickle with a 40 MB inline BINBYTES8 (bigger than the in-memory limit) and a
    # dangerous import after it: found without holding the payload in memory
    from edgegate.model.scan import pickle as scan_pickle

    payload = b"\x80\x05\x8e" + struct.pack("<Q", 40 * 1024 * 1024) + b"\0" * (40 * 1024 * 1024) + b"0"
    evil = pickle.dumps(os.system, protocol=5)[2:]
    f = tmp_path / "big.pkl"
    f.write_bytes(payload + evil)
    assert f.stat().st_size > scan_pickle.IN_MEMORY_BYTES
    res = scan_paths([f])
    assert "EGM001" in _rules(res), res.errors
    cut = tmp_path / "cut.pkl"
    with f.open("rb") as src, cut.open("wb") as dst:
        dst.write(src.read(35 * 1024 * 1024))
    assert scan_paths([cut]).status is Status.ERROR


def test_bounded_reader_reads_and_skips() -> None:
    from edgegate.model.scan.pickle import LARGE_ARGUMENT, _Reader

    data = b"abc\nde" + b"\0" * (LARGE_ARGUMENT + 5) + b"XYZ"
    r = _Reader(io.BytesIO(data), len(data))
    assert r.readline() == b"abc\n" and r.read(2) == b"de"
    assert len(r.read(LARGE_ARGUMENT + 5)) == LARGE_ARGUMENT + 5
    assert r.read(10) == b"XYZ" and r.tell() == len(data) and r.at_eof()
