"""The layer walker's tar header reader (`edgegate.io.tarstream`) against `tarfile` and GNU tar,
member by member, on archives in every header format; corrupt streams are errors."""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from sbom_helpers import tar_kind

from edgegate.io.archive import ArchiveError, iter_tar


def _theirs(data: bytes) -> list[tuple[str, str, int, str, bytes | None]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        for m in tf.getmembers():
            fh = tf.extractfile(m) if m.isreg() else None
            body = fh.read() if fh is not None else None
            out.append((m.name.rstrip("/") or m.name, tar_kind(m), m.size if m.isreg() else 0, m.linkname, body))
    return out


def _ours(data: bytes) -> list[tuple[str, str, int, str, bytes | None]]:
    out = []
    for e in iter_tar(io.BytesIO(data), where="t"):
        body = e.read() if e.kind == "file" else None
        out.append((e.name, e.kind, e.size, e.linkname, body))
    return out


def _random_members(rng: random.Random, short: bool) -> list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]:
    """Random members; `short` keeps names, links and ids within what ustar can hold."""
    members: list = []
    seg, link = (12, 90) if short else (60, 150)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_.äöü日本"
    for i in range(rng.randint(1, 40)):
        depth = rng.randint(0, 3 if short else 6)
        parts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, seg))) for _ in range(depth + 1)]
        name = "/".join(parts) + f"-{i}"
        info = tarfile.TarInfo(name)
        info.mtime = rng.randint(0, 2**33)
        info.uid = rng.choice([0, 1000] if short else [0, 1000, 2**21 + 5])
        kind = rng.choice(["file", "file", "file", "dir", "symlink", "hardlink", "fifo"])
        if kind == "file":
            body = os.urandom(rng.choice([0, 1, 511, 512, 513, 4096, 70_000]))
            info.size = len(body)
            members.append((info, body))
            continue
        if kind == "dir":
            info.type = tarfile.DIRTYPE
        elif kind == "symlink":
            info.type = tarfile.SYMTYPE
            info.linkname = "../" * rng.randint(0, 3) + "x" * rng.randint(1, link)
        elif kind == "hardlink":
            info.type = tarfile.LNKTYPE
            info.linkname = (name + "-target" * rng.randint(1, 20))[: link if short else None]
        else:
            info.type = tarfile.FIFOTYPE
        members.append(info)
    return members


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_same_members_as_tarfile(fmt: int) -> None:
    rng = random.Random(fmt)
    checked = 0
    for _ in range(60):
        buf = io.BytesIO()
        try:
            with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
                if fmt == tarfile.PAX_FORMAT and rng.random() < 0.3:
                    tf.pax_headers = {"comment": "global"}
                for m in _random_members(rng, short=fmt == tarfile.USTAR_FORMAT):
                    if isinstance(m, tuple):
                        tf.addfile(m[0], io.BytesIO(m[1]))
                    else:
                        tf.addfile(m)
        except ValueError:
            continue  # ustar cannot hold that name: nothing to compare
        data = buf.getvalue()
        assert _ours(data) == _theirs(data)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("fmt", ["gnu", "posix", "ustar", "v7"])
def test_same_members_as_gnu_tar(tmp_path: Path, fmt: str) -> None:
    if shutil.which("tar") is None:
        pytest.skip("no tar binary")
    root = tmp_path / "root"
    seg = 30 if fmt == "v7" else 60  # v7: names up to 99 bytes; ustar: split at a '/' (prefix)
    deep = root / ("d" * seg) / ("e" * seg) / "f"
    deep.mkdir(parents=True)
    (deep / "file.txt").write_text("deep")
    (root / "plain").write_bytes(os.urandom(1000))
    os.link(root / "plain", root / "hard")
    (root / "sym").symlink_to("plain")
    (root / "empty").write_bytes(b"")
    if fmt != "v7":
        os.mkfifo(root / "fifo")
        (root / "ünï.txt").write_text("utf-8")
    if fmt in ("gnu", "posix"):
        (root / ("n" * 120)).write_text("long name")
        (root / "lnk").symlink_to("t" * 150)
    out = tmp_path / "a.tar"
    proc = subprocess.run(
        ["tar", f"--format={fmt}", "--sort=name", "-C", str(root), "-cf", str(out), "."],
        capture_output=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"tar --format={fmt} refused the tree: {proc.stderr.decode()[:200]}")
    data = out.read_bytes()
    ours = _ours(data)
    assert ours == _theirs(data)
    names = {n for n, *_ in ours}
    assert any(n.endswith("hard") for n in names) and any(k == "hardlink" for _, k, *_ in ours)


def test_corrupt_streams_are_archive_errors() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("a" * 150)
        info.size = 3000
        tf.addfile(info, io.BytesIO(b"x" * 3000))
        tf.addfile(tarfile.TarInfo("b"), io.BytesIO(b""))
    data = buf.getvalue()
    bad_sum = bytearray(data)
    bad_sum[1024 + 10] ^= 0x01  # inside the real header after the long-name blocks
    cases = {
        "bad checksum": bytes(bad_sum),
        "truncated data": data[: 1024 + 512 + 1000],
        "truncated header": data[: 1024 + 100],
        "empty": b"",
        "not a tar": b"PK\x03\x04" + os.urandom(2000),
    }
    for label, blob in cases.items():
        with pytest.raises(ArchiveError):
            _ours(blob)
        with pytest.raises(tarfile.TarError), tarfile.open(fileobj=io.BytesIO(blob), mode="r|") as tf:
            for m in tf:  # tarfile refuses each of them too
                if m.isreg():
                    tf.extractfile(m).read()  # type: ignore[union-attr]
        assert label


def _many_members(n: int) -> bytes:
    """A gzip tar of `n` empty files, headers made by tarfile (one `tobuf` per distinct length)."""
    import gzip

    out = bytearray()
    for j in range(n):
        out += tarfile.TarInfo(f"d{j // 1000}/f{j}").tobuf(tarfile.GNU_FORMAT)
    out += bytes(1024)
    return gzip.compress(bytes(out), compresslevel=1)


def _walk_peak(data: bytes, max_members: int) -> tuple[int, int, str]:
    import tracemalloc

    from edgegate.io.archive import ArchiveLimits

    tracemalloc.start()
    seen = 0
    error = ""
    try:
        for _ in iter_tar(io.BytesIO(data), where="big", limits=ArchiveLimits(max_members=max_members)):
            seen += 1
    except ArchiveError as exc:
        error = str(exc)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seen, peak, error


def test_member_count_cap_and_flat_memory() -> None:
    """Members past the cap are refused after the cap is read; the walk's memory does not grow with
    the member count (tarfile's stream mode kept every TarInfo: 1.4 GB at 2,000,001 members)."""
    small, big = _many_members(2_000), _many_members(20_001)
    _, peak_small, _ = _walk_peak(small, 1_000_000)
    seen, peak_big, error = _walk_peak(big, 20_000)
    assert seen == 20_000 and "more than 20000 members" in error
    assert peak_big < peak_small * 1.5 + 256 * 1024, (peak_small, peak_big)
