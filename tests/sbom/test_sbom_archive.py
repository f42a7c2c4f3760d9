"""edgegate.io.archive: safe names, bounds and corrupt-input errors for tar and zip."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from sbom_helpers import E, layer_tar

from edgegate.errors import InputError
from edgegate.io.archive import (
    ArchiveBombError,
    ArchiveError,
    ArchiveLimits,
    TarIndex,
    iter_tar,
    iter_zip,
    link_escapes,
    normalize_member_path,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("./etc/passwd", ("etc/passwd", None)),
        ("usr//lib/./x/", ("usr/lib/x", None)),
        ("./", ("", None)),
        ("/etc/shadow", (None, "absolute path")),
        ("a/../../b", (None, "path traversal (..)")),
        ("..", (None, "path traversal (..)")),
    ],
)
def test_normalize_member_path(name: str, expected: tuple) -> None:
    assert normalize_member_path(name) == expected


@pytest.mark.parametrize(
    ("path", "target", "escapes"),
    [
        ("etc/os-release", "../usr/lib/os-release", False),
        ("etc/os-release", "../../etc/passwd", True),
        ("a/b/c", "/usr/lib/x", False),
        ("a/b/c", "/../../x", True),
        ("lib", "usr/lib", False),
    ],
)
def test_link_escapes(path: str, target: str, escapes: bool) -> None:
    assert link_escapes(path, target) is escapes


def test_iter_tar_gzip_and_limits() -> None:
    raw = layer_tar([E("a", data="x" * 100), E("b", data="y" * 100), E("c/", "dir")])
    entries = [(e.path, e.kind, e.size) for e in iter_tar(io.BytesIO(gzip.compress(raw)), where="t")]
    assert entries == [("a", "file", 100), ("b", "file", 100), ("c", "dir", 0)]
    with pytest.raises(ArchiveBombError, match="more than 2 members"):
        list(iter_tar(io.BytesIO(raw), where="t", limits=ArchiveLimits(max_members=2)))
    with pytest.raises(ArchiveBombError, match="declares more than 150 bytes"):
        list(iter_tar(io.BytesIO(raw), where="t", limits=ArchiveLimits(max_total_bytes=150)))
    with pytest.raises(ArchiveBombError):
        for e in iter_tar(io.BytesIO(raw), where="t", limits=ArchiveLimits(max_member_read=50)):
            e.read()


def test_iter_tar_member_bytes_are_read_once_and_only_while_current() -> None:
    raw = layer_tar([E("a", data="x" * 100), E("d/", "dir"), E("b", data="y" * 700), E("c", data="z")])
    walk = iter_tar(io.BytesIO(raw), where="t")
    a = next(walk)
    assert a.read() == b"x" * 100
    with pytest.raises(ArchiveError, match="member a was read already or the stream moved on"):
        a.read()
    next(walk)  # the directory
    b = next(walk)
    with pytest.raises(ArchiveError, match="member a was read already"):
        a.read()
    c = next(walk)  # b left unread: its bytes are skipped
    with pytest.raises(ArchiveError, match="member b was read already or the stream moved on"):
        b.read()
    assert c.read() == b"z"
    assert next(walk, None) is None


def test_iter_tar_truncated_and_corrupt() -> None:
    raw = layer_tar([E("a", data="x" * 5000), E("b", data="y" * 5000)])
    with pytest.raises(ArchiveError, match="truncated"):
        list(iter_tar(io.BytesIO(raw[:3000]), where="t"))
    with pytest.raises(ArchiveError, match="Compressed file ended before the end-of-stream marker"):
        list(iter_tar(io.BytesIO(gzip.compress(raw)[:-30]), where="t"))  # trailer cut
    big = layer_tar([E("a", data=bytes(range(256)) * 4000)])
    with pytest.raises(ArchiveError, match="corrupt or truncated"):  # cut after the first member
        list(iter_tar(io.BytesIO(gzip.compress(big + b"\0" * 200_000, compresslevel=0)[:-100]), where="t"))
    corrupt = bytearray(gzip.compress(raw))
    corrupt[-8] ^= 0xFF  # CRC32 of the trailer
    with pytest.raises(ArchiveError, match="CRC"):
        list(iter_tar(io.BytesIO(bytes(corrupt)), where="t"))
    with pytest.raises(ArchiveError):
        list(iter_tar(io.BytesIO(b"\x1f\x8bnot gzip at all" * 10), where="t"))
    with pytest.raises(ArchiveError):  # zstd magic, garbage after it
        list(iter_tar(io.BytesIO(b"\x28\xb5\x2f\xfd" + b"\0" * 100), where="t"))


def test_iter_tar_zstd() -> None:
    from edgegate.io.archive import _zstd_module

    zstd = _zstd_module()
    if zstd is None:
        pytest.skip("no zstd module (Python 3.14 compression.zstd or backports.zstd)")
    raw = layer_tar([E("etc/x", data="hello" * 100)])
    entries = [(e.path, e.read()) for e in iter_tar(io.BytesIO(zstd.compress(raw)), where="t")]
    assert entries == [("etc/x", b"hello" * 100)]
    with pytest.raises(ArchiveError):
        list(iter_tar(io.BytesIO(zstd.compress(raw)[:-10]), where="t"))


def test_tar_index_truncated_member_and_missing(tmp_path: Path) -> None:
    p = tmp_path / "o.tar"
    with tarfile.open(p, "w") as tf:
        for name, size in (("a.json", 10), ("big", 100_000)):
            info = tarfile.TarInfo(name)
            info.size = size
            tf.addfile(info, io.BytesIO(b"z" * size))
    with TarIndex(p) as idx:
        assert idx.read("a.json", 100) == b"z" * 10
        with pytest.raises(ArchiveError, match="no member"):
            idx.open("../a.json")
        with pytest.raises(ArchiveBombError):
            idx.read("big", 1000)
    p.write_bytes(p.read_bytes()[:60_000])
    with pytest.raises(ArchiveError, match="truncated"):
        TarIndex(p)
    with pytest.raises(InputError, match="no such file"):
        TarIndex(tmp_path / "absent.tar")


def test_iter_zip_names_and_bomb(tmp_path: Path) -> None:
    p = tmp_path / "z.zip"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ok.txt", "hello")
        zf.writestr("../evil.txt", "x")
        zf.writestr("/abs.txt", "x")
    got = {(e.name, e.path, e.problem) for e in iter_zip(p)}
    assert got == {
        ("ok.txt", "ok.txt", None),
        ("../evil.txt", None, "path traversal (..)"),
        ("/abs.txt", None, "absolute path"),
    }
    assert next(e for e in iter_zip(p) if e.name == "ok.txt").read() == b"hello"
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", b"\0" * (50 * 1024 * 1024))
    with pytest.raises(ArchiveBombError, match="compression ratio"):
        list(iter_zip(bomb))
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ArchiveError):
        list(iter_zip(tmp_path / "bad.zip"))
