"""False passes where the scanner's view of a file differed from the loader's: each construction
is shown to run under the real loader (a defanged payload that only writes a marker inside
tmp_path) where the loader is installed, and to fail the scan."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from edgegate.findings import Status
from edgegate.model.scan import ScanOptions, classify, scan_paths
from edgegate.model.scan.imports import Verdict


def _s(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _write_marker(target: Path) -> str:
    return f"open({str(target)!r}, 'w').write('ran')"


def _lookup_then_call(module: str, name: str, key: str, arg: str) -> bytes:
    """Protocol 4: STACK_GLOBAL(module, name)(key)(arg), e.g. `builtins.__dict__.get('exec')(code)`."""
    return (b"\x80\x04" + _s(module) + _s(name) + b"\x93" + _s(key) + b"\x85R" + _s(arg) + b"\x85R.")


def _rules(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.rule_id for f in result.findings if f.blocking}


# -- 1. dunders and module aliases anywhere in a dotted name ------------------------------------


@pytest.mark.parametrize(("module", "name"), [("builtins", "__dict__.get"), ("numpy.dtypes", "__builtins__.get")])
def test_dunder_in_the_first_attribute_step_runs_and_is_dangerous(tmp_path: Path, module: str, name: str) -> None:
    target = tmp_path / "ran"
    data = _lookup_then_call(module, name, "exec", _write_marker(target))
    pickle.loads(data)  # defanged: writes a marker inside tmp_path
    assert target.read_text() == "ran"
    f = tmp_path / "m.pkl"
    f.write_bytes(data)
    for strict in (False, True):
        result = scan_paths([f], ScanOptions(strict=strict))
        assert result.status is Status.FAILED
        assert "EGM001" in _rules(result)


def test_module_aliases_in_a_dotted_name_run_and_are_dangerous(tmp_path: Path) -> None:
    target = tmp_path / "made"
    data = b"\x80\x04" + _s("argparse") + _s("_os.mkdir") + b"\x93" + _s(str(target)) + b"\x85R."
    pickle.loads(data)  # defanged: creates a folder inside tmp_path
    assert target.is_dir()
    f = tmp_path / "m.pkl"
    f.write_bytes(data)
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert "EGM001" in _rules(result)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("numpy.dtypes", "__builtins__"), ("numpy.dtypes", "Float64DType.__init__"),
        ("numpy.dtypes", "os"), ("builtins", "__dict__"), ("enum", "bltns.exec"), ("argparse", "_sys.modules"),
        ("inspect", "builtins"), ("posixpath", "os"), ("collections", "_sys"), ("tokenize", "_builtin_open"),
        ("mypkg", "Model.__reduce__"), ("torch._utils", "__builtins__"),
    ],
)
def test_dunders_and_module_aliases_are_never_safe(module: str, name: str) -> None:
    assert classify(module, name) is Verdict.DANGEROUS


def test_numpy_dtype_classes_and_copyreg_constructors_stay_safe() -> None:
    for name in ("Float64DType", "Int8DType", "StringDType", "VoidDType", "ObjectDType"):
        assert classify("numpy.dtypes", name) is Verdict.SAFE
    assert classify("numpy.dtypes", "NotADType") is Verdict.UNKNOWN
    assert classify("numpy.dtypesx", "Float64DType") is Verdict.UNKNOWN  # exact module, not a prefix
    assert classify("copyreg", "__newobj__") is Verdict.SAFE
    assert classify("datetime", "time") is Verdict.SAFE
    assert classify("mypkg.models", "Outer.Inner") is Verdict.UNKNOWN
    import numpy as np

    data = pickle.dumps(type(np.dtype("f8")), protocol=4)
    assert pickle.loads(data) is type(np.dtype("f8"))


# -- 2. joblib array bytes sized from the dtype numpy really builds -----------------------------


def _g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _dtype_state(elsize: int) -> bytes:
    """A version-3 dtype state tuple: (3, '|', None, None, None, elsize, 1, 0)."""
    return b"(K\x03" + _s("|") + b"NNNK" + bytes([elsize]) + b"K\x01K\x00t"


def _joblib_hiding_after(dtype: bytes, shape: int, skipped_by_loader: int, wrong: int, target: Path) -> bytes:
    """A NumpyArrayWrapper whose raw data is `skipped_by_loader` bytes; a scanner that sizes it as
    `wrong` bytes reads a SHORT_BINBYTES there that swallows the payload joblib then runs."""
    wrapper = (b"\x80\x04" + _g("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81}(" + _s("subclass")
               + _g("numpy", "ndarray") + _s("shape") + b"K" + bytes([shape]) + b"\x85" + _s("order") + _s("C")
               + _s("dtype") + dtype + _s("allow_mmap") + b"\x89" + _s("numpy_array_alignment_bytes") + b"Nub")
    payload = _g("builtins", "exec") + b"(" + _s(_write_marker(target)) + b"tR"
    gap = skipped_by_loader - wrong - 2
    raw = b"\x00" * wrong + b"C" + bytes([gap + len(payload)]) + b"\x00" * gap
    assert len(raw) == skipped_by_loader
    return wrapper + raw + payload + b"0."


def _check_joblib(tmp_path: Path, data: bytes, target: Path) -> None:
    import joblib

    f = tmp_path / "m.joblib"
    f.write_bytes(data)
    try:
        joblib.load(f)  # defanged: the payload writes a marker inside tmp_path
    except Exception:
        pass  # the wrapper's array is junk; the payload after it has already run
    assert target.read_text() == "ran"
    result = scan_paths([f])
    assert result.status is Status.FAILED, (result.errors, [x.message for x in result.findings])
    assert "EGM001" in _rules(result)


def test_dtype_built_twice_is_sized_by_its_last_state(tmp_path: Path) -> None:
    import numpy as np

    dtype = _g("numpy", "dtype") + _s("V8") + b"\x89\x88\x87R" + _dtype_state(8) + b"b" + _dtype_state(16) + b"b"
    assert pickle.loads(b"\x80\x04" + dtype + b".").itemsize == 16  # numpy: the last BUILD wins
    assert np.dtype("V8").itemsize == 8
    target = tmp_path / "ran"
    _check_joblib(tmp_path, _joblib_hiding_after(dtype, 2, 32, 16, target), target)


def test_aligned_dtype_is_sized_with_its_alignment(tmp_path: Path) -> None:
    import numpy as np

    assert (np.dtype("i1,i8", True).itemsize, np.dtype("i1,i8").itemsize) == (16, 9)
    dtype = _g("numpy", "dtype") + _s("i1,i8") + b"\x88\x88\x87R"  # np.dtype('i1,i8', True, True)
    target = tmp_path / "ran"
    _check_joblib(tmp_path, _joblib_hiding_after(dtype, 2, 32, 18, target), target)


def test_dtype_with_a_non_literal_align_is_an_error(tmp_path: Path) -> None:
    # np.dtype('i1,i8', <something built at load time>): its itemsize cannot be known, never clean
    dtype = _g("numpy", "dtype") + _s("i1,i8") + _g("mypkg", "flag") + b")R\x88\x87R"
    wrapper = (b"\x80\x04" + _g("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81}(" + _s("shape")
               + b"K\x01\x85" + _s("dtype") + dtype + _s("numpy_array_alignment_bytes") + b"Nub" + b"\x00" * 9 + b".")
    f = tmp_path / "m.joblib"
    f.write_bytes(wrapper)
    assert scan_paths([f], ScanOptions(allow=frozenset({"mypkg.flag"}))).status is Status.ERROR


# -- 3. zip member names as Python's zipfile reads them (cut at the first NUL) -------------------

_LAMBDA_CONFIG = {"class_name": "Functional", "config": {"layers": [
    {"class_name": "InputLayer", "config": {"name": "x"}},
    {"class_name": "Lambda", "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}}},
]}}


def _zip_with_names(entries: dict[str, bytes]) -> bytes:
    """A stored zip; a name may hold NUL bytes (written in the local header and the directory)."""
    import io
    import zipfile

    buf = io.BytesIO()
    placeholders: dict[bytes, bytes] = {}
    with zipfile.ZipFile(buf, "w") as zf:
        for i, (name, data) in enumerate(entries.items()):
            stand_in = name.replace("\x00", chr(0x41 + i))
            placeholders[stand_in.encode()] = name.encode()
            zf.writestr(stand_in, data)
    raw = buf.getvalue()
    for stand_in, name in placeholders.items():
        if stand_in != name:
            assert raw.count(stand_in) == 2
            raw = raw.replace(stand_in, name)
    return raw


def test_keras_config_whose_name_has_a_nul_is_read_as_config_json(tmp_path: Path) -> None:
    import json
    import zipfile

    f = tmp_path / "m.keras"
    f.write_bytes(_zip_with_names({"config.json\x00": json.dumps(_LAMBDA_CONFIG).encode(), "metadata.json": b"{}"}))
    # keras.saving.load_model (keras/src/saving/saving_lib.py) reads the archive with Python's
    # zipfile and opens `config.json` by name; zipfile's ZipInfo cuts a name at its first NUL,
    # so the member named 'config.json\0' is the config keras deserializes (and runs the Lambda of)
    with zipfile.ZipFile(f) as zf:
        assert "config.json" in zf.namelist()
        assert json.loads(zf.read("config.json")) == _LAMBDA_CONFIG
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert "EGM005" in _rules(result)


def test_zip_names_cut_at_nul_collide_with_the_real_name(tmp_path: Path) -> None:
    import zipfile

    f = tmp_path / "m.pt"
    f.write_bytes(_zip_with_names({"archive/data.pkl": pickle.dumps({"w": 1}, protocol=2),
                                   "archive/data.pkl\x00x": pickle.dumps({"w": 2}, protocol=2)}))
    with zipfile.ZipFile(f) as zf:
        assert zf.namelist() == ["archive/data.pkl", "archive/data.pkl"]
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert "EGM011" in _rules(result)


# -- 4. the Keras config walk never stops early and calls it clean ------------------------------


def _keras_zip(path: Path, config: object) -> Path:
    import json

    path.write_bytes(_zip_with_names({"config.json": json.dumps(config).encode(), "metadata.json": b"{}"}))
    return path


def test_lambda_after_a_huge_padding_array_is_found(tmp_path: Path) -> None:
    # popped before the layers: a million scalars used to exhaust the walk's budget
    config = {**_LAMBDA_CONFIG, "zz_padding": [0] * 1_000_001}
    result = scan_paths([_keras_zip(tmp_path / "m.keras", config)])
    assert result.status is Status.FAILED
    assert "EGM005" in _rules(result)


def test_keras_config_over_the_walk_limit_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgegate.model.scan import formats

    monkeypatch.setattr(formats, "KERAS_MAX_NODES", 50)
    config = {**_LAMBDA_CONFIG, "zz_padding": [{"a": [{}]} for _ in range(100)]}
    f = _keras_zip(tmp_path / "m.keras", config)
    result = scan_paths([f])
    assert result.status is Status.ERROR, [x.message for x in result.findings]
    assert any("config.json" in e and "50" in e for e in result.errors)
    # the other members of the archive are still scanned
    import zipfile

    with zipfile.ZipFile(f, "a") as zf:
        zf.writestr("evil.pkl", _lookup_then_call("builtins", "getattr", "x", "y"))
    again = scan_paths([f])
    assert again.status is Status.ERROR and "EGM001" in _rules(again)


# -- 7. Keras `module`: exact Keras packages; builtins and denied modules are dangerous ----------
# keras.saving.load_model resolves every {"module", "class_name"} object with
# keras/src/saving/serialization_lib.py `_retrieve_class_or_fn`: `importlib.import_module(module)`,
# then `vars(mod).get(name)` (and `registered_name`); for `class_name: "function"` the name is
# `config`, and module "builtins" is searched in Keras' own built-in modules first, then in
# Python's builtins. Keras is not installed here, so these configs are judged by that reading.


def _layer_with(obj: dict[str, object]) -> dict[str, object]:
    return {"class_name": "Functional", "module": "keras.src.models.functional", "config": {"layers": [
        {"class_name": "Dense", "module": "keras.layers", "config": {"units": 2, "activation": obj}},
    ]}}


@pytest.mark.parametrize("module", ["keras_evil", "kerasx.payload", "tf_keras_evil", "tensorflow.kerasy"])
def test_keras_lookalike_modules_are_custom_objects(tmp_path: Path, module: str) -> None:
    f = _keras_zip(tmp_path / "m.keras", _layer_with({"module": module, "class_name": "Act", "config": {}}))
    result = scan_paths([f])
    assert {x.rule_id for x in result.findings} == {"EGM006"}
    assert scan_paths([f], ScanOptions(strict=True)).status is Status.FAILED


@pytest.mark.parametrize(
    "obj",
    [
        {"module": "builtins", "class_name": "function", "config": "exec", "registered_name": None},
        {"module": "builtins", "class_name": "function", "config": "relu", "registered_name": "eval"},
        {"module": "builtins", "class_name": "getattr", "config": {}},
        {"module": "os", "class_name": "function", "config": "system", "registered_name": None},
        {"module": "subprocess", "class_name": "Popen", "config": {}},
        {"module": "posixpath", "class_name": "function", "config": "os.system"},
    ],
)
def test_keras_objects_from_builtins_or_denied_modules_are_dangerous(tmp_path: Path, obj: dict[str, object]) -> None:
    f = _keras_zip(tmp_path / "m.keras", _layer_with(obj))
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert "EGM006" in _rules(result)


def test_keras_builtin_functions_and_keras_modules_stay_clean(tmp_path: Path) -> None:
    for obj in (
        {"module": "builtins", "class_name": "function", "config": "mean_squared_error", "registered_name": "function"},
        {"module": "keras.activations", "class_name": "function", "config": "relu", "registered_name": None},
        {"module": "keras", "class_name": "Sequential", "config": {}},
        {"module": "tf_keras.src.layers", "class_name": "Dense", "config": {}},
    ):
        f = _keras_zip(tmp_path / "m.keras", _layer_with(obj))
        result = scan_paths([f], ScanOptions(strict=True))
        assert result.status is Status.PASSED, (obj, [x.message for x in result.findings])
        assert not result.findings


# -- 5. torch's legacy tar: the members legacy_load reads by name are pickles whatever they start with


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _no_proto_exec(target: Path) -> bytes:
    """A pickle without a PROTO opcode that starts with SHORT_BINUNICODE: builtins.exec(code)."""
    return _s("builtins") + _s("exec") + b"\x93" + _s(_write_marker(target)) + b"\x85R."


@pytest.mark.parametrize("member", ["pickle", "sys_info"])
def test_legacy_tar_member_without_proto_is_parsed_as_a_pickle(tmp_path: Path, member: str) -> None:
    # torch.serialization legacy_load: tar.extractfile("pickle") goes to an Unpickler whatever its
    # first byte; torch is not installed here, so the member is shown live under pickle.loads
    target = tmp_path / "ran"
    evil = _no_proto_exec(target)
    pickle.loads(evil)
    assert target.read_text() == "ran"
    members = {"sys_info": pickle.dumps({"little_endian": True}, protocol=2), "pickle": pickle.dumps({}, protocol=2),
               "storages": pickle.dumps(0, protocol=2), "tensors": pickle.dumps(0, protocol=2), member: evil}
    f = _tar(tmp_path / "legacy.pt", members)
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert "EGM001" in _rules(result)


def test_legacy_tar_storages_in_another_protocol_and_its_storage_views(tmp_path: Path) -> None:
    # legacy_load reads `storages` by name: a count, the items, then one more pickle, storage_views
    evil = b"\x80\x04" + _no_proto_exec(tmp_path / "ran")[:-1] + b"."
    members = {"pickle": pickle.dumps({}, protocol=2), "tensors": pickle.dumps(0, protocol=2)}
    for storages in (pickle.dumps(0, protocol=4) + evil, b"K\x00." + evil, pickle.dumps(0, protocol=2) + evil):
        f = _tar(tmp_path / "legacy.pt", {**members, "storages": storages})
        result = scan_paths([f])
        assert result.status is Status.FAILED, (storages[:8], result.errors)
        assert "EGM001" in _rules(result)
    f = _tar(tmp_path / "legacy.pt", {**members, "storages": pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2)})
    assert scan_paths([f]).status is Status.PASSED


def test_unclassified_archive_members_are_reported_as_skipped(tmp_path: Path) -> None:
    import zipfile

    f = tmp_path / "m.zip"
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("weights.pkl", pickle.dumps({"w": 1}, protocol=4))
        zf.writestr("notes/readme.md", "# hello\n")
    t = _tar(tmp_path / "m.tar", {"weights.pkl": pickle.dumps({"w": 1}, protocol=4), "blob": b"\x00\x01\x02\x03"})
    for path, member in ((f, "notes/readme.md"), (t, "blob")):
        result = scan_paths([path])
        assert result.status is Status.PASSED
        assert result.stats["skipped"] == 1
        skipped = next(tb for tb in result.stats["tables"] if tb["title"] == "skipped files")
        assert [row[0] for row in skipped["rows"]] == [f"{path}!{member}"]


@pytest.mark.parametrize("name", ["model.sav", "weights", "clf.model"])
def test_pickle_without_proto_starting_with_a_binary_opcode_is_found_in_a_walk(tmp_path: Path, name: str) -> None:
    target = tmp_path / "ran"
    evil = _no_proto_exec(target)
    pickle.loads(evil)  # pickle.load needs no PROTO: any opcode may come first
    assert target.read_text() == "ran"
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / name).write_bytes(evil)
    (folder / "ok.pkl").write_bytes(pickle.dumps({"w": 1}))
    result = scan_paths([folder])
    assert result.status is Status.FAILED
    assert "EGM001" in _rules(result)


# -- 6. an HDF5 model that cannot be inspected fails; inside an archive it is inspected ------------


def _keras_h5(config: object) -> bytes:
    import io
    import json

    h5py = pytest.importorskip("h5py")
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
    return buf.getvalue()


def test_keras_h5_inside_a_zip_is_inspected(tmp_path: Path) -> None:
    import zipfile

    f = tmp_path / "bundle.zip"
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("model/lam.h5", _keras_h5(_LAMBDA_CONFIG))
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert "EGM005" in _rules(result)
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("model/ok.h5", _keras_h5({"class_name": "Sequential", "config": {"layers": []}}))
    assert scan_paths([f]).status is Status.PASSED


def test_hdf5_not_inspected_fails_alone_and_in_an_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import zipfile

    data = _keras_h5(_LAMBDA_CONFIG)
    monkeypatch.setitem(sys.modules, "h5py", None)  # an environment without h5py
    alone = tmp_path / "m.h5"
    alone.write_bytes(data)
    inside = tmp_path / "bundle.zip"
    with zipfile.ZipFile(inside, "w") as zf:
        zf.writestr("model/lam.h5", data)
    for path in (alone, inside):
        result = scan_paths([path])
        assert result.status is Status.FAILED, path
        assert _rules(result) == {"EGM009"}


def test_keras_lambda_object_anywhere_is_a_lambda(tmp_path: Path) -> None:
    # keras/src/saving/serialization_lib.py deserialize_keras_object: a {"class_name":
    # "__lambda__"} object anywhere (here a Dense activation) is `python_utils.func_load`ed,
    # i.e. its marshalled bytecode runs, once safe_mode is off, exactly like a Lambda layer
    obj = {"class_name": "__lambda__", "config": {"value": ["4wEAAAAA", None, None]}}
    result = scan_paths([_keras_zip(tmp_path / "m.keras", _layer_with(obj))])
    assert result.status is Status.FAILED
    assert "EGM005" in _rules(result)


def test_zip_directory_entry_holding_data_is_scanned(tmp_path: Path) -> None:
    import io
    import zipfile

    import numpy as np

    target = tmp_path / "made"
    header = repr({"descr": "|O", "fortran_order": False, "shape": (1,)}).encode()
    header += b" " * (64 - (10 + len(header) + 1) % 64) + b"\n"
    payload = b"\x80\x04" + _s("os") + _s("mkdir") + b"\x93" + _s(str(target)) + b"\x85R."
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + payload
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("weights.npy", _plain_npy())
        zf.writestr(zipfile.ZipInfo("extra/"), npy)  # a "directory" entry with data
    f = tmp_path / "m.npz"
    f.write_bytes(buf.getvalue())
    with np.load(f, allow_pickle=True) as npz:
        try:
            npz["extra/"]  # zipfile opens a directory entry like any member: the payload runs
        except Exception:
            pass
    assert target.is_dir()
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert "EGM001" in _rules(result)


def _plain_npy() -> bytes:
    import io

    import numpy as np

    out = io.BytesIO()
    np.save(out, np.zeros(2))
    return out.getvalue()
