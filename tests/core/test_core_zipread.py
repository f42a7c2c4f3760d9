"""io/zipread: the one zip reader (model scan, ML-BOM, iter_zip) reads zips as the loaders do."""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgegate.io import zipread
from edgegate.io.archive import ArchiveError, iter_zip


def _npz(tmp_path: Path) -> Path:
    f = tmp_path / "w.npz"
    np.savez(f, a=np.zeros((2, 3), dtype=np.float32), b=np.arange(4))
    return f


def _version_70(data: bytes) -> bytes:
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 4), (b"PK\x01\x02", 6)):
        i = out.find(sig)
        while i >= 0:
            out[i + off] = 70
            i = out.find(sig, i + 4)
    return bytes(out)


def test_reads_what_python_reads(tmp_path: Path) -> None:
    f = _npz(tmp_path)
    data = f.read_bytes()
    view = zipread.read_zip(io.BytesIO(data), len(data))
    assert view.problems == []
    with zipfile.ZipFile(f) as zf:
        assert {m.name: zipread.read_member(io.BytesIO(data), m, 1 << 20) for m in view.members} == {
            i.filename: zf.read(i) for i in zf.infolist()
        }


def test_version_70_is_read_by_iter_zip_and_the_mlbom(tmp_path: Path) -> None:
    from edgegate.sbom.mlbom import ModelFile, detect_format, read_npz

    f = tmp_path / "v.npz"
    f.write_bytes(_version_70(_npz(tmp_path).read_bytes()))
    with pytest.raises(NotImplementedError):
        zipfile.ZipFile(f)  # the peer refuses it
    assert sorted(e.name for e in iter_zip(f)) == ["a.npy", "b.npy"]
    assert next(e for e in iter_zip(f) if e.name == "b.npy").read().startswith(b"\x93NUMPY")
    assert detect_format(f, f.read_bytes()[:64]) == "numpy-npz"
    mf = ModelFile("v.npz", f.stat().st_size)
    read_npz(f, mf)
    assert (mf.tensors, mf.parameters) == (2, 10)


def test_disagreeing_views_are_an_archive_error_for_iter_zip(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.json", b"{}")
        zf.writestr("b.json", b"[]")
    data = bytearray(buf.getvalue())
    j = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)
    struct.pack_into("<L", data, j + 42, 0)  # b.json's entry points at a.json's local header
    f = tmp_path / "x.zip"
    f.write_bytes(bytes(data))
    with pytest.raises(ArchiveError):
        list(iter_zip(f))


def test_member_stream_is_bounded(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("z", b"\0" * (4 << 20))
        zf.writestr("p.pkl", pickle.dumps([1, 2]))
    data = buf.getvalue()
    view = zipread.read_zip(io.BytesIO(data), len(data))
    z = next(m for m in view.members if m.name == "z")
    with pytest.raises(zipread.MemberTooLarge):
        zipread.read_member(io.BytesIO(data), z, 1 << 20)
    assert zipread.read_member(io.BytesIO(data), z, 1 << 20, head=16) == b"\0" * 16
