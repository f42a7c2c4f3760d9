"""Issue 12's scanner bypasses, one test per class: each malicious construction is shown to run
(a defanged payload that only creates a file or folder in a temp dir) and to fail the scan."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

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
