"""Issue 12's scanner bypasses, one test per class: each malicious construction is shown to run
(a defanged payload that only creates a file or folder in a temp dir) and to fail the scan."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from gguf_helpers import write_gguf_with_template

from edgegate.findings import Status
from edgegate.model.scan import analyse_pickle, classify, scan_paths
from edgegate.model.scan.imports import Verdict


def _str(s: str) -> bytes:
    raw = s.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _call_pickle(module: str, name: str, *args: str) -> bytes:
    """Protocol 4: STACK_GLOBAL(module, name) called with string arguments."""
    body = _str(module) + _str(name) + b"\x93" + b"(" + b"".join(_str(a) for a in args) + b"tR."
    return b"\x80\x04" + body


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("posixpath", "os.mkdir"),
        ("platform", "os.mkdir"),
        ("pathlib", "Path.mkdir"),
        ("shlex", "os.mkdir"),
    ],
)
def test_dotted_names_through_harmless_modules_run_and_are_dangerous(tmp_path: Path, module: str, name: str) -> None:
    target = tmp_path / "ran"
    data = _call_pickle(module, name, str(target))
    pickle.loads(data)  # defanged: the payload only creates a folder inside tmp_path
    assert target.is_dir()
    f = tmp_path / "m.pkl"
    f.write_bytes(data)
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert {x.rule_id for x in result.findings} == {"EGM001"}


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("torch", "os.system"),
        ("torch.serialization", "pickle.loads"),
        ("torch", "serialization.pickle.loads"),
        ("numpy.lib.format", "read_array"),
        ("numpy.lib._format_impl", "read_array"),
        ("joblib.numpy_pickle", "load"),
        ("joblib.numpy_pickle", "NDArrayWrapper"),
        ("joblib.numpy_pickle_compat", "ZNDArrayWrapper"),
        ("pathlib", "Path.touch"),
        ("pathlib", "PosixPath.write_bytes"),
        ("_pyio", "open"),
        ("gzip", "open"),
        ("tarfile", "TarFile.extractall"),
        ("zipfile", "ZipFile"),
        ("numpy", "memmap"),
    ],
)
def test_loaders_and_writers_are_dangerous_by_default(module: str, name: str) -> None:
    assert classify(module, name) is Verdict.DANGEROUS


def test_gzip_open_really_writes(tmp_path: Path) -> None:
    # gzip.open(path, "wb") creates the file when unpickled: a write primitive, not "unknown"
    target = tmp_path / "w.gz"
    data = _call_pickle("gzip", "open", str(target), "wb")
    pickle.loads(data)
    assert target.exists()
    f = tmp_path / "g.pkl"
    f.write_bytes(data)
    assert scan_paths([f]).status is Status.FAILED


def test_torchscript_debug_pickle_builders_are_safe() -> None:
    for name in ("build_intlist", "build_tensorlist", "build_doublelist", "build_boollist", "restore_type_tag"):
        assert classify("torch.jit._pickle", name) is Verdict.SAFE
    # the rest of torch.jit stays dangerous, and no dotted escape through the allowed name
    assert classify("torch.jit", "load") is Verdict.DANGEROUS
    assert classify("torch.jit._pickle", "build_intlist.__globals__") is Verdict.DANGEROUS
    assert classify("torch.jit._pickle", "torch.jit.load") is Verdict.DANGEROUS


def test_benign_names_stay_safe_or_unknown() -> None:
    assert classify("pathlib", "PosixPath") is Verdict.UNKNOWN
    assert classify("mypkg.models", "Outer.Inner") is Verdict.UNKNOWN
    assert classify("collections", "OrderedDict") is Verdict.SAFE
    assert classify("joblib.numpy_pickle", "NumpyArrayWrapper") is Verdict.SAFE
    assert not analyse_pickle(pickle.dumps({"a": 1})).imports


# -- NumPy: the dtype as numpy parses it, every .npz member -----------------------------------


def _npy(descr: object, payload: bytes, shape: tuple[int, ...] = (1,)) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin-1")
    pad = 64 - (10 + len(header) + 1) % 64
    header += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + payload


@pytest.mark.parametrize("descr", ["object", "|O", [("a", "object")], [("a", [("b", "<i4"), ("c", "O")])]])
def test_npy_object_dtype_spelled_any_way_runs_and_is_dangerous(tmp_path: Path, descr: object) -> None:
    import numpy as np

    target = tmp_path / "ran"
    f = tmp_path / "a.npy"
    f.write_bytes(_npy(descr, _call_pickle("os", "mkdir", str(target))))
    try:
        np.load(f, allow_pickle=True)  # defanged payload: creates a folder in tmp_path
    except Exception:
        pass  # numpy may reject the unpickled value afterwards; the payload has already run
    assert target.is_dir()
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert "EGM001" in {x.rule_id for x in result.findings}


@pytest.mark.parametrize("member", ["meta/version", "archive/data/x.npy", "archive/version", "weights"])
def test_every_npz_member_is_read_whatever_its_name(tmp_path: Path, member: str) -> None:
    import zipfile

    import numpy as np

    target = tmp_path / "ran"
    f = tmp_path / "m.npz"
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        zf.writestr(member, _npy("object", _call_pickle("os", "mkdir", str(target))))
    key = member.removesuffix(".npy")
    with np.load(f, allow_pickle=True) as npz:
        try:
            npz[key]
        except Exception:
            pass
    assert target.is_dir()
    for path in (f, tmp_path):  # the file itself and a folder walk
        result = scan_paths([path])
        assert result.status is Status.FAILED, path
        assert "EGM001" in {x.rule_id for x in result.findings}


def test_keras_config_is_read_without_metadata_or_weights(tmp_path: Path) -> None:
    import json
    import zipfile

    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Lambda", "config": {"function": {"class_name": "__lambda__", "config": {"code": "x"}}}}
    ]}}
    for extra in ({}, {"metadata.json": "{}"}, {"model.weights.h5": ""}, {"assets/x": "y"}):
        f = tmp_path / "m.keras"
        with zipfile.ZipFile(f, "w") as zf:
            zf.writestr("config.json", json.dumps(config))
            for name, text in extra.items():
                zf.writestr(name, text)
        result = scan_paths([f])
        assert result.status is Status.FAILED, extra
        assert "EGM005" in {x.rule_id for x in result.findings}


# -- ONNX: external data in model-local functions and sparse_value attributes ----------------


def _ext_tensor(name: str, loc: str):  # type: ignore[no-untyped-def]
    from onnx import TensorProto, helper

    t = helper.make_tensor(name, TensorProto.FLOAT, [4], [0.0] * 4)
    t.ClearField("float_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", loc), ("length", "16")):
        e = t.external_data.add()
        e.key, e.value = key, value
    return t


def _onnx_function_external(path: Path, loc: str) -> None:
    import onnx
    from onnx import TensorProto, helper

    const = helper.make_node("Constant", [], ["c"], value=_ext_tensor("fc", loc))
    ident = helper.make_node("Identity", ["c"], ["y"])
    fn = helper.make_function("local", "F", [], ["y"], [const, ident], [helper.make_opsetid("", 17)])
    call = helper.make_node("F", [], ["out"], domain="local")
    g = helper.make_graph([call], "g", [], [helper.make_tensor_value_info("out", TensorProto.FLOAT, [4])])
    onnx.save(helper.make_model(g, functions=[fn], opset_imports=[helper.make_opsetid("", 17),
                                                                    helper.make_opsetid("local", 1)]), path)


def _onnx_sparse_value_external(path: Path, loc: str) -> None:
    import onnx
    from onnx import TensorProto, helper

    sp = helper.make_sparse_tensor(_ext_tensor("sv", loc), helper.make_tensor("si", TensorProto.INT64, [4],
                                                                                [0, 1, 2, 3]), [4])
    node = helper.make_node("Constant", [], ["out"], sparse_value=sp)
    g = helper.make_graph([node], "g", [], [helper.make_tensor_value_info("out", TensorProto.FLOAT, [4])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.mark.parametrize("build", [_onnx_function_external, _onnx_sparse_value_external])
def test_onnx_external_data_in_functions_and_sparse_values(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    from onnx.external_data_helper import _get_all_tensors

    folder = tmp_path / "m"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    f = folder / "model.onnx"
    build(f, "../secret.bin")
    import onnx

    if build is _onnx_function_external:
        # the peer: onnx's own external-data walk reaches function-local tensors (it loads them)
        proto = onnx.load(str(f), load_external_data=False)
        assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in _get_all_tensors(proto))
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert {x.rule_id for x in result.findings} == {"EGM004"}
    # inside the folder it is fine
    (folder / "w.bin").write_bytes(b"\0" * 16)
    build(f, "w.bin")
    assert scan_paths([f]).status is Status.PASSED


# -- GGUF chat templates: what jinja2's sandbox would refuse, however it is spelled -------------

_EVIL_TEMPLATES = [
    "{{ ''.__class__ }}",
    "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "{% set u = '_' ~ '_' %}{{ '' | attr(u ~ 'class' ~ u) }}",
    "{% set u = '_' %}{{ '' | attr(u ~ u ~ 'class' ~ u ~ u) }}",
    "{{ '' | attr(['_', '_class_', '_'] | join) }}",
    "{% set n = '_' ~ '_cla' ~ 'ss_' ~ '_' %}{{ ''[n] }}",
    "{{ '' | attr('%c%cclass%c%c' | format(95, 95, 95, 95)) }}",
    "{% for m in messages %}{{ m.content }}{% endfor %}{{ ''|attr('_'*2 ~ 'class' ~ '_'*2) }}",
]
_BENIGN_TEMPLATES = [
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('roles must alternate') }}{% endif %}{% if message['role'] == 'user' %}"
    "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{% endfor %}",
    "{% set ns = namespace(found=false) %}{% for m in messages %}{% if messages[loop.index0 - 1] %}"
    "{% set ns.found = true %}{% endif %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + "
    "m['content'] | trim + '<|eot_id|>' }}{% endfor %}",
]


def _render(template: str, sandboxed: bool) -> str:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment() if sandboxed else jinja2.Environment()

    def raise_exception(msg: str) -> None:
        raise ValueError(msg)

    return env.from_string(template).render(
        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
        bos_token="<s>", eos_token="</s>", add_generation_prompt=True, raise_exception=raise_exception,
    )


@pytest.mark.parametrize("template", _EVIL_TEMPLATES)
def test_gguf_template_reaching_python_internals_is_critical(tmp_path: Path, template: str) -> None:
    from jinja2.exceptions import SecurityError

    # the peer: a plain Environment hands out the str class (the first step to os); the sandbox
    # refuses the attribute (an undefined value or a SecurityError)
    assert "<class 'str'>" in _render(template, sandboxed=False)
    try:
        assert "<class" not in _render(template, sandboxed=True)
    except SecurityError:
        pass
    f = tmp_path / "m.gguf"
    write_gguf_with_template(f, template)
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert "EGM008" in {x.rule_id for x in result.findings}


@pytest.mark.parametrize("template", _BENIGN_TEMPLATES)
def test_gguf_benign_templates_pass(tmp_path: Path, template: str) -> None:
    assert _render(template, sandboxed=True) == _render(template, sandboxed=False)
    f = tmp_path / "m.gguf"
    write_gguf_with_template(f, template)
    result = scan_paths([f])
    assert result.status is Status.PASSED
    assert {x.rule_id for x in result.findings} == {"EGM007"}


def test_gguf_unparsable_template_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "m.gguf"
    write_gguf_with_template(f, "{% for m in messages %}{{ m.content }")
    assert scan_paths([f]).status is Status.ERROR


# -- joblib: array bytes skipped exactly as joblib reads them -----------------------------------


def _p0(s: str) -> bytes:
    return f"S'{s}'\n".encode()


def _dtype_p0(code: str, state: bytes | None = None) -> bytes:
    out = b"cnumpy\ndtype\n(" + _p0(code) + b"I00\nI01\ntR"
    return out + (state + b"b" if state else b"")


def _wrapper_state(shape: int, dtype: bytes, alignment: bytes) -> bytes:
    return (b"}(" + _p0("shape") + b"(I%d\nt" % shape + _p0("dtype") + dtype + _p0("order") + _p0("C")
            + _p0("subclass") + b"cnumpy\nndarray\n" + _p0("numpy_array_alignment_bytes") + alignment + b"u")


def _payload(target: Path) -> bytes:
    return b"cos\nmkdir\n(" + _p0(str(target)) + b"tR0"


def _joblib_obj_wrapper(target: Path) -> bytes:
    # OBJ (not NEWOBJ) builds the wrapper; 5 raw bytes 'B'+len swallow the payload for a scanner
    # that does not skip them, joblib steps over them and runs the payload
    payload = _payload(target)
    raw = b"B" + len(payload).to_bytes(4, "little")
    return (b"\x80\x02(cjoblib.numpy_pickle\nNumpyArrayWrapper\no" + _wrapper_state(5, _dtype_p0("u1"), b"N")
            + b"b" + raw + payload + b".")


def _joblib_alignment_zero(target: Path) -> bytes:
    # alignment 0 is not None: joblib reads a padding byte (5) and 5 pad bytes before the data
    payload = _payload(target)
    raw = bytes([5]) + b"B" + (1 + len(payload)).to_bytes(4, "little") + b"\x00"
    return (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81" + _wrapper_state(1, _dtype_p0("u1"), b"I0\n")
            + b"b" + raw + payload + b".")


def _joblib_itemsize_from_state(target: Path) -> bytes:
    # dtype V1 whose BUILD state says elsize 6: joblib reads 6 bytes, np.dtype('V1') says 1
    payload = _payload(target)
    state = b"(I3\n" + _p0("|") + b"NNNI6\nI1\nI0\nt"
    raw = b"\x00" + b"B" + len(payload).to_bytes(4, "little")
    return (b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81"
            + _wrapper_state(1, _dtype_p0("V1", state), b"N") + b"b" + raw + payload + b".")


def _joblib_ndarray_wrapper(target: Path) -> bytes:
    return (b"\x80\x02cjoblib.numpy_pickle_compat\nNDArrayWrapper\n)\x81}(" + _p0("filename") + _p0("x.npy")
            + _p0("subclass") + b"cnumpy\nndarray\n" + _p0("allow_mmap") + b"I00\nub.")


@pytest.mark.parametrize("build", [_joblib_obj_wrapper, _joblib_alignment_zero, _joblib_itemsize_from_state,
                                   _joblib_ndarray_wrapper])
def test_joblib_constructions_run_under_joblib_and_fail_the_scan(tmp_path: Path, build) -> None:  # type: ignore[no-untyped-def]
    import joblib

    target = tmp_path / "ran"
    f = tmp_path / "m.joblib"
    f.write_bytes(build(target))
    (tmp_path / "x.npy").write_bytes(_npy("object", _call_pickle("os", "mkdir", str(target))))
    try:
        joblib.load(f)  # defanged: the payload creates a folder in tmp_path
    except Exception:
        pass
    assert target.is_dir()
    result = scan_paths([f])
    assert result.status is Status.FAILED, result.errors
    assert "EGM001" in {x.rule_id for x in result.findings}


def test_joblib_structured_arrays_with_object_fields_are_clean(tmp_path: Path) -> None:
    import joblib
    import numpy as np

    nested = np.dtype([("a", "i4"), ("b", [("c", "O"), ("d", "f8")])])
    values = {
        "s": np.array([(1, "x"), (2, None)], dtype=[("a", "i4"), ("b", "O")]),
        "n": np.array([(1, ("y", 2.0))], dtype=nested),
        "plain": np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        "f": np.arange(7.0),
        "o": np.array([None, "z"], dtype=object),
    }
    for compress in (0, 3):
        f = tmp_path / f"s{compress}.joblib"
        joblib.dump(values, f, compress=compress)
        result = scan_paths([f])
        assert result.status is Status.PASSED, (compress, result.errors, [x.message for x in result.findings])
        assert joblib.load(f)["n"][0]["b"]["c"] == "y"


def test_joblib_build_on_an_unidentified_object_is_an_error(tmp_path: Path) -> None:
    # a wrapper reached through an object edgegate cannot identify: joblib might read raw bytes
    data = (b"\x80\x04\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93\x94)\x81\x94"
            b"0N}b.")  # BUILD on None after importing the wrapper
    f = tmp_path / "u.joblib"
    f.write_bytes(data)
    assert scan_paths([f]).status is Status.ERROR


# -- folder walks decide by content ------------------------------------------------------------


def _p0_payload(target: Path) -> bytes:
    return b"cos\nmkdir\n(" + _p0(str(target)) + b"tR."


@pytest.mark.parametrize("name", ["model.sav", "model.model", "notes.txt", "weights", "config.cfg"])
def test_protocol0_pickle_with_any_name_is_scanned_in_a_walk(tmp_path: Path, name: str) -> None:
    target = tmp_path / "ran"
    data = _p0_payload(target)
    pickle.loads(data)  # defanged: creates a folder in tmp_path
    assert target.is_dir()
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / name).write_bytes(data)
    result = scan_paths([folder])
    assert result.status is Status.FAILED
    assert "EGM001" in {x.rule_id for x in result.findings}


@pytest.mark.parametrize("name", ["model.sav", "weights", "model.pkl.gz", "clf.joblib"])
def test_gzipped_pickle_is_scanned_in_a_walk(tmp_path: Path, name: str) -> None:
    import gzip

    import joblib

    target = tmp_path / "ran"
    folder = tmp_path / "m"
    folder.mkdir()
    f = folder / name
    f.write_bytes(gzip.compress(_p0_payload(target)))
    try:
        joblib.load(f)  # joblib detects the compression by its magic bytes; defanged payload
    except Exception:
        pass
    assert target.is_dir()
    result = scan_paths([folder])
    assert result.status is Status.FAILED
    assert "EGM001" in {x.rule_id for x in result.findings}


def _legacy_tar(path: Path, main_pickle: bytes, storages: bytes | None = None) -> None:
    import io
    import tarfile

    members = {
        "sys_info": pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2),
        "pickle": main_pickle,
        "storages": storages if storages is not None else pickle.dumps(0, protocol=2),
        "tensors": pickle.dumps(0, protocol=2),
    }
    with tarfile.open(path, "w:") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("name", ["model.tar", "model.pt", "pytorch_model.bin", "ckpt"])
def test_torch_legacy_tar_is_scanned_in_a_walk(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    _legacy_tar(folder / name, _call_pickle("os", "system", "true"))
    result = scan_paths([folder])
    assert result.status is Status.FAILED
    assert "EGM001" in {x.rule_id for x in result.findings}


def test_torch_legacy_tar_storages_layout(tmp_path: Path) -> None:
    import struct

    # one FloatStorage of 2 elements: (key, location, type) pickle, int64 count, 8 raw bytes,
    # then a second item whose pickle calls os.system: found after the raw bytes
    item = pickle.dumps(("0", "cpu", 0), protocol=2).replace(b"K\x00", b"ctorch\nFloatStorage\n")
    evil = _call_pickle("os", "system", "true")
    storages = pickle.dumps(2, protocol=2) + item + struct.pack("<q", 2) + b"\0" * 8 + evil
    f = tmp_path / "m.tar"
    _legacy_tar(f, pickle.dumps({"a": 1}, protocol=2), storages)
    result = scan_paths([f])
    assert "EGM001" in {x.rule_id for x in result.findings}
    benign = pickle.dumps(1, protocol=2) + item + struct.pack("<q", 2) + b"\0" * 8
    _legacy_tar(f, pickle.dumps({"a": 1}, protocol=2), benign)
    assert scan_paths([f]).status is Status.PASSED
    _legacy_tar(f, pickle.dumps({"a": 1}, protocol=2), benign + b"junk")
    assert scan_paths([f]).status is Status.ERROR


def test_random_bytes_are_not_pickles(tmp_path: Path) -> None:
    import random

    rng = random.Random(1234)
    folder = tmp_path / "m"
    folder.mkdir()
    suffixes = [".bin", ".dat", ".data", ".txt", ".model", "", ".sav", ".cfg"]
    for i in range(400):
        size = rng.choice([16, 64, 512, 4096, 65536])
        (folder / f"r{i}{suffixes[i % len(suffixes)]}").write_bytes(rng.randbytes(size))
    (folder / "real.pkl").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=4))
    result = scan_paths([folder])
    assert result.findings == [] and result.errors == [], (result.errors[:3], result.findings[:3])
    assert result.status is Status.PASSED


# -- archive views: read zips the way the loaders do --------------------------------------------

def _evil() -> bytes:
    return _call_pickle("os", "system", "true")


def _torch_like_zip(pkl: bytes, compress: int = 0) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compress) as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/version", "3\n")
    return buf.getvalue()


def _python_view(data: bytes) -> list[bytes] | str:
    """What Python's zipfile reads from every member (or why it cannot)."""
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return [zf.read(i) for i in zf.infolist()]
    except Exception as exc:
        return type(exc).__name__


def _scan_bytes(tmp_path: Path, data: bytes, name: str = "model.pt"):  # type: ignore[no-untyped-def]
    f = tmp_path / name
    f.write_bytes(data)
    return scan_paths([f])


def test_two_central_directories_back_to_back(tmp_path: Path) -> None:
    import struct
    import zipfile

    benign = pickle.dumps({"w": 1}, protocol=2)
    evil = _evil()

    def local(name: bytes, data: bytes) -> bytes:
        import zlib

        return struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, zlib.crc32(data), len(data),
                           len(data), len(name), 0) + name + data

    def central(name: bytes, data: bytes, offset: int) -> bytes:
        import zlib

        return struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, 0, 0, 0, zlib.crc32(data), len(data),
                           len(data), len(name), 0, 0, 0, 0, 0, offset) + name

    name = b"archive/data.pkl"
    l_evil = local(name, evil)
    l_benign = local(name, benign)
    body = l_evil + l_benign
    cd_loader = central(name, evil, 0)  # at the end record's offset: the malicious member
    # Python reads the directory that ends at the end record and shifts offsets by its distance
    concat = len(cd_loader)
    cd_python = central(name, benign, len(l_evil) - concat)
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(cd_python), len(body), 0)
    data = body + cd_loader + cd_python + eocd
    assert _python_view(data) == [benign]  # the peer: Python's zipfile sees only the benign pickle
    result = _scan_bytes(tmp_path, data)
    assert result.status is Status.FAILED
    rules = {x.rule_id for x in result.findings if x.blocking}
    assert {"EGM001", "EGM011"} <= rules
    assert zipfile.is_zipfile(tmp_path / "model.pt")


def _patch_version(data: bytes, version: int) -> bytes:
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 4), (b"PK\x01\x02", 6)):
        i = out.find(sig)
        while i >= 0:
            out[i + off] = version
            i = out.find(sig, i + 4)
    return bytes(out)


def _patch_crc(data: bytes) -> bytes:
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        i = out.find(sig)
        out[i + off] ^= 0xFF
    return bytes(out)


def _patch_flags(data: bytes, bits: int) -> bytes:
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = out.find(sig)
        out[i + off] |= bits
    return bytes(out)


def _patch_extra(data: bytes) -> bytes:
    # a central extra field declaring 10 bytes with 2 present (Python's zipfile: "Corrupt extra field")
    import struct

    i = data.find(b"PK\x01\x02")
    name_len = struct.unpack_from("<H", data, i + 28)[0]
    extra = struct.pack("<2H", 0xCAFE, 10) + b"\0\0"
    head = bytearray(data[i : i + 46])
    struct.pack_into("<H", head, 30, len(extra))
    end = i + 46 + name_len
    fixed = bytearray(data[:i] + bytes(head) + data[i + 46 : end] + extra + data[end:])
    j = fixed.rfind(b"PK\x05\x06")
    struct.pack_into("<L", fixed, j + 12, struct.unpack_from("<L", fixed, j + 12)[0] + len(extra))
    return bytes(fixed)


@pytest.mark.parametrize(
    ("patch", "python_error"),
    [
        (lambda d: _patch_version(d, 70), "NotImplementedError"),
        (_patch_crc, "BadZipFile"),
        (lambda d: _patch_flags(d, 0x1), "RuntimeError"),
        (_patch_extra, "BadZipFile"),
    ],
    ids=["version-7.0", "crc", "encrypted-flag", "corrupt-extra"],
)
def test_zips_python_refuses_are_read_like_the_loader(tmp_path: Path, patch, python_error: str) -> None:  # type: ignore[no-untyped-def]
    data = patch(_torch_like_zip(_evil()))
    assert _python_view(data) == python_error  # the peer refuses; torch's reader does not look
    result = _scan_bytes(tmp_path, data)
    assert result.status is Status.FAILED, result.errors
    assert "EGM001" in {x.rule_id for x in result.findings}
    # and in a folder walk the other files are still scanned and reported
    folder = tmp_path / "walk"
    folder.mkdir()
    (folder / "a.pt").write_bytes(data)
    (folder / "b.pkl").write_bytes(_evil())
    walk = scan_paths([folder])
    assert {f.location.path for f in walk.findings if f.rule_id == "EGM001"} == {str(folder / "a.pt"),
                                                                                 str(folder / "b.pkl")}


def test_version_70_benign_zip_is_scanned_not_an_internal_error(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    data = _patch_version(_torch_like_zip(pickle.dumps({"w": 1}, protocol=2)), 70)
    f = tmp_path / "m.pt"
    f.write_bytes(data)
    res = cli("model", "scan", f)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "internal error" not in res.stdout + res.stderr


def test_local_and_central_names_disagree(tmp_path: Path) -> None:
    data = _torch_like_zip(pickle.dumps({"w": 1}, protocol=2))
    i = data.find(b"PK\x03\x04")
    patched = data[: i + 30] + b"archive/data.pkX" + data[i + 30 + 16 :]
    result = _scan_bytes(tmp_path, patched)
    assert result.status is Status.FAILED
    assert any(x.rule_id == "EGM011" and x.severity.value == "critical" for x in result.findings)


def test_overlapping_members_are_critical(tmp_path: Path) -> None:
    import struct

    data = _torch_like_zip(pickle.dumps({"w": 1}, protocol=2))
    # point the second central entry at the first member's local header
    i = data.find(b"PK\x01\x02")
    j = data.find(b"PK\x01\x02", i + 4)
    patched = bytearray(data)
    struct.pack_into("<L", patched, j + 42, 0)
    result = _scan_bytes(tmp_path, bytes(patched))
    assert result.status is Status.FAILED
    assert any("overlap" in x.message or "local header" in x.message for x in result.findings if x.blocking)


def test_zip_bomb_is_a_finding_and_streamed(tmp_path: Path) -> None:
    import zipfile

    pkl = pickle.dumps({"w": 1}, protocol=2)
    # a valid pickle followed by 40 MiB of zeros: torch reads only to STOP, a bomb all the same
    data = _torch_like_zip(pkl + b"\0" * (40 * 1024 * 1024), compress=zipfile.ZIP_DEFLATED)
    assert len(data) < 100_000
    result = _scan_bytes(tmp_path, data)
    assert result.status is Status.FAILED
    assert any("zip bomb" in x.message for x in result.findings if x.blocking)


def test_torchscript_layout_with_debug_pickles_is_clean(tmp_path: Path) -> None:
    # the members torch.jit.save writes: data.pkl, constants.pkl, code/*.py and code/*.debug_pkl
    # (whose pickles call torch.jit._pickle.build_intlist); only the medium TorchScript note remains
    import zipfile

    debug = (b"\x80\x02ctorch.jit._pickle\nbuild_intlist\n](K\x01K\x02e\x85R\x85.")
    f = tmp_path / "scripted.pt"
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("scripted/data.pkl", b"\x80\x02ctorch.jit._pickle\nrestore_type_tag\n}X\x04\x00\x00\x00Dict\x86R.")
        zf.writestr("scripted/constants.pkl", pickle.dumps((), protocol=2))
        zf.writestr("scripted/code/__torch__/m.py", "def forward(self, x):\n    return x\n")
        zf.writestr("scripted/code/__torch__/m.py.debug_pkl", debug)
        zf.writestr("scripted/version", "3\n")
    assert [i.qualname for i in analyse_pickle(debug).imports] == ["torch.jit._pickle.build_intlist"]
    result = scan_paths([f])
    assert result.status is Status.PASSED, [x.message for x in result.findings]
    assert {x.rule_id for x in result.findings} == {"EGM010"}


def test_text_that_reads_as_an_unmarked_call_is_not_a_pickle(tmp_path: Path) -> None:
    # "cat\ndog\nother\n" parses as GLOBAL at.dog then OBJ with no MARK: the real unpickler stops
    # there ("could not find MARK") before calling anything, so a labels file in a model folder
    # is skipped, not an error that fails the folder
    import io

    calls: list[str] = []

    class _Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            return lambda *a: calls.append(f"{module}.{name}")

    with pytest.raises(pickle.UnpicklingError):
        _Recording(io.BytesIO(b"cat\ndog\nother\n")).load()
    assert calls == []
    _Recording(io.BytesIO(b"(cat\ndog\no.")).load()
    assert calls == ["at.dog"]  # the defanged twin with a MARK is called
    model = tmp_path / "model"
    model.mkdir()
    (model / "labels.txt").write_bytes(b"cat\ndog\nother\n")
    (model / "weights.pkl").write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    result = scan_paths([model])
    assert result.status is Status.PASSED, (result.errors, result.findings)
    assert not result.findings
    # with the MARK the same import is called, and the stream is reported as a pickle
    (model / "labels.txt").write_bytes(b"(cat\ndog\no.")
    again = scan_paths([model])
    assert [(f.rule_id, f.details["module"]) for f in again.findings] == [("EGM002", "at")]
