"""The layer walker's tar reader (`edgegate.io.tarstream` through `iter_tar`: the short path for
plain members, the general path for the rest) against `tarfile`, the peer, on crafted archives
(ustar, GNU long names and links, pax names, links, sizes and mtimes, hard links, symlinks,
directories, whiteouts, odd and base-256 sizes, signed checksums, truncations) and on archives
whose header fields are overwritten with random values.

Where `tarfile` reads an archive to a clean end (a zero block or the end of the data at a header
boundary), edgegate yields the same members: name, kind, size, link target and bytes, or refuses
it for one of the `_STRICTER` reasons. Wherever edgegate refuses an archive it is with
`ArchiveError`, never another exception.

Not compared: a GNU long name or link whose header's size is shorter than the text in its blocks
(tarfile reads to the first NUL of the blocks, edgegate and GNU tar read `size` bytes), so the
random values never go to the size of an ``L``/``K`` header.
"""

from __future__ import annotations

import io
import random
import tarfile
from collections.abc import Iterator

import pytest
from sbom_helpers import add_member, tar_kind

from edgegate.io.archive import ArchiveError, iter_tar

Member = tuple[str, str, int, str, bytes | None]

_STRICTER = ("invalid header (negative size)", "invalid pax header")
"""What edgegate refuses and tarfile reads: a negative (base-256) size, which tarfile takes as no
data, and pax records that do not parse, which tarfile skips from the first such record on."""

_BLOCK = 512
_FIELDS = {
    "name": (0, 100),
    "mode": (100, 108),
    "uid": (108, 116),
    "size": (124, 136),
    "mtime": (136, 148),
    "chksum": (148, 156),
    "type": (156, 157),
    "linkname": (157, 257),
    "magic": (257, 265),
    "uname": (265, 297),
    "prefix": (345, 500),
}


def _name(text: str) -> str:
    return text.rstrip("/") or text  # a trailing slash means nothing to the walker (nor to tarfile's dirs)


def _peer(data: bytes) -> list[Member] | None:
    """What `tarfile` reads, or None where it refuses the archive or stops before its end (it ends
    the member list silently at an unreadable header after the first one; edgegate refuses it)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
            members = tf.getmembers()
            tail = data[tf.offset : tf.offset + _BLOCK]
            if tail and tail != bytes(_BLOCK):
                return None
            out: list[Member] = []
            for m in members:
                kind = tar_kind(m)
                body = None
                if kind == "file":
                    fh = tf.extractfile(m)
                    body = fh.read() if fh is not None else None
                out.append((_name(m.name), kind, m.size if kind == "file" else 0, m.linkname, body))
            return out
    except Exception:  # the peer's refusals come in many types; only edgegate's are checked
        return None


def _ours(data: bytes) -> list[Member] | str:
    """What edgegate's walker reads (member bytes included), or the message of the `ArchiveError`
    it refuses the archive with; any other exception fails the test."""
    out: list[Member] = []
    try:
        for e in iter_tar(io.BytesIO(data), where="t"):
            body = e.read() if e.kind == "file" else None
            out.append((_name(e.name), e.kind, e.size if e.kind == "file" else 0, e.linkname, body))
    except ArchiveError as exc:
        return str(exc)
    return out


def _headers(data: bytes) -> list[int]:
    """Offsets of every header block of a well-formed archive (extended headers included)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return sorted({x for m in tf.getmembers() for x in (m.offset, m.offset_data - _BLOCK)})


def _set(data: bytes, at: int, field: str, value: bytes, *, fix_sum: bool = True) -> bytes:
    """`data` with header field `field` of the header at `at` overwritten (padded with NULs or cut
    to the field), the checksum recomputed (unsigned) unless `fix_sum` is false."""
    start, end = _FIELDS[field]
    buf = bytearray(data)
    buf[at + start : at + end] = value[: end - start].ljust(end - start, b"\0")
    if fix_sum:
        block = bytearray(buf[at : at + _BLOCK])
        block[148:156] = b" " * 8
        buf[at + 148 : at + 156] = b"%06o\0 " % sum(block)
    return bytes(buf)


def _signed_sum(data: bytes, at: int) -> bytes:
    """The header at `at` with its checksum written as the signed byte sum (old tars did)."""
    block = bytearray(data[at : at + _BLOCK])
    block[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in block)
    return data[: at + 148] + (b"%06o\0 " % signed) + data[at + 156 :]


def _add(tf: tarfile.TarFile, name: str, kind: str = "file", data: bytes = b"", **attrs: object) -> None:
    link = data.decode() if kind in ("symlink", "hardlink") else ""
    add_member(tf, name, kind, data if kind == "file" else b"", link=link, **{"mtime": 1_700_000_000, **attrs})


def _layer(fmt: int, long: bool, pax_headers: dict[str, str] | None = None) -> bytes:
    """Every kind of member an image layer holds, in format `fmt` (`long`: names and links over
    the ustar fields, as GNU ``L``/``K`` or pax records)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, pax_headers=pax_headers) as tf:
        _add(tf, "etc/", "dir", mode=0o755)
        for size in (0, 1, 511, 512, 513, 1023, 1025, 70_001):
            _add(tf, f"etc/f{size}", data=bytes(range(256)) * (size // 256) + b"z" * (size % 256))
        _add(tf, "etc/os-release", data=b"ID=debian\n")
        _add(tf, "etc/link", "symlink", b"../usr/lib/os-release")
        _add(tf, "etc/hard", "hardlink", b"etc/os-release")
        _add(tf, "usr/lib/.wh.gone", data=b"")
        _add(tf, "usr/lib/.wh..wh..opq", data=b"")
        _add(tf, "./var/lib/dpkg/status", data=b"Package: x\n")
        _add(tf, "dev/fifo", "fifo")
        _add(tf, "dev/null", "chr", devmajor=1, devminor=3)
        _add(tf, "/abs/evil", data=b"x")
        _add(tf, "../up/evil", data=b"y")
        _add(tf, "p" * 60 + "/" + "q" * 60 + "/ustar-prefix", data=b"split at a slash")
        if long:
            _add(tf, "n" * 150 + "/" + "m" * 120 + "/long.txt", data=b"long")
            _add(tf, "d" * 130 + "/", "dir")
            _add(tf, "lnk", "symlink", b"t" * 300)
            _add(tf, "hl", "hardlink", ("n" * 150 + "/" + "m" * 120 + "/long.txt").encode())
            _add(tf, "ünïcödé/日本.txt", data=b"utf-8")
        if fmt == tarfile.PAX_FORMAT:
            _add(tf, "frac-mtime", data=b"m", mtime=1_700_000_000.25)
            _add(tf, "big-uid", data=b"u", uid=2**22)
            _add(tf, "pax-size", data=b"s" * 700, pax_headers={"size": "700"})
        _add(tf, "last", data=b"end")
    return buf.getvalue()


def _crafted() -> Iterator[tuple[str, bytes]]:
    """Archives built by tarfile, then patched where tarfile cannot write the feature."""
    ustar = _layer(tarfile.USTAR_FORMAT, long=False)
    gnu = _layer(tarfile.GNU_FORMAT, long=True)
    pax = _layer(tarfile.PAX_FORMAT, long=True)
    yield "ustar", ustar
    yield "gnu", gnu
    yield "pax", pax
    yield "pax global", _layer(tarfile.PAX_FORMAT, long=True, pax_headers={"comment": "global", "mtime": "5.5"})
    yield "no end blocks", gnu[: _end(gnu)]
    yield "only end blocks", bytes(1024)
    heads = _headers(gnu)
    first, second = heads[1], heads[2]  # etc/f0, etc/f1 (after the directory)
    yield "base-256 size", _set(gnu, second, "size", b"\x80" + (1).to_bytes(11, "big"))
    yield "base-256 zero size", _set(gnu, first, "size", b"\x80" + bytes(11))
    yield "size with spaces", _set(gnu, second, "size", b"  1 \0")
    yield "chksum with spaces", _set_sum_text(gnu, second, b"  %o \0")
    yield "signed checksum", _signed_sum(_set(gnu, second, "name", "ä€".encode() * 10), second)
    yield "aregtype file", _set(gnu, second, "type", b"\0")
    yield "aregtype dir", _set(_set(gnu, first, "name", b"olddir/"), first, "type", b"\0")
    yield "contiguous file", _set(gnu, second, "type", b"7")
    yield "unknown type", _set(gnu, second, "type", b"Z")
    yield "link field on a file", _set(gnu, second, "linkname", b"ignored-target")
    pax_heads = _headers(pax)
    member = pax.index(b"s" * 700) - _BLOCK  # the header of pax-size: its pax record says 700
    assert member in pax_heads
    yield "pax size overrides the header", _set(pax, member, "size", b"00000000000")


def _end(data: bytes) -> int:
    """The offset of the end-of-archive zero block of a well-formed archive."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        tf.getmembers()
        return tf.offset


def _set_sum_text(data: bytes, at: int, template: bytes) -> bytes:
    block = bytearray(data[at : at + _BLOCK])
    block[148:156] = b" " * 8
    text = (template % sum(block))[:8].ljust(8, b"\0")
    return data[: at + 148] + text + data[at + 156 :]


def _check(data: bytes, label: str) -> bool:
    """Edgegate's members equal tarfile's where tarfile reads to the end (or edgegate refuses the
    archive for a `_STRICTER` reason); True when both read it."""
    ours, theirs = _ours(data), _peer(data)
    if theirs is not None and isinstance(ours, str):
        assert ours.endswith(tuple(f"({why})" for why in _STRICTER)), (label, ours)
    elif theirs is not None:
        assert ours == theirs, label
    return isinstance(ours, list) and theirs is not None


@pytest.mark.parametrize("label", [label for label, _ in _crafted()])
def test_crafted_archives_read_as_tarfile_reads_them(label: str) -> None:
    data = dict(_crafted())[label]
    assert isinstance(_ours(data), list), label  # each of them is a valid archive
    assert _check(data, label)


def test_negative_and_huge_sizes_are_refused() -> None:
    """Sizes tarfile takes without a complaint (it reads -1 as no data) are edgegate errors."""
    gnu = _layer(tarfile.GNU_FORMAT, long=True)
    at = _headers(gnu)[1]  # etc/f0: no data block follows
    negative = _set(gnu, at, "size", b"\xff" * 12)
    assert _peer(negative) is not None
    assert _ours(negative) == "t: corrupt or truncated archive (invalid header (negative size))"
    huge = _ours(_set(gnu, at, "size", b"\x80" + (2**80).to_bytes(11, "big")))
    assert isinstance(huge, str) and "bytes of content (archive bomb?)" in huge


def test_truncated_archives_are_refused_or_end_at_a_header_boundary() -> None:
    checked = 0
    for label, data in _crafted():
        heads = _headers(data) if data.strip(b"\0") else []
        end = _end(data)
        cuts = {len(data) // 3, end + 100, end + 700, len(data) - 1}
        for at in heads:
            cuts.update({at, at + 100, at + 511, at + 513})
        for cut in sorted(c for c in cuts if 0 < c < len(data)):
            both = _check(data[:cut], f"{label} cut at {cut}")
            if cut % _BLOCK and cut < end + _BLOCK:  # inside a block before the end: no clean end
                assert not both, (label, cut)
            checked += 1
    assert checked > 500


_VALUES: list[bytes] = [
    b"",
    b"\0" * 12,
    b" " * 12,
    b"0",
    b"7777777",
    b"12345670123",
    b"00000001000\0",
    b"\x80" + (513).to_bytes(11, "big"),
    b"\xff" * 12,
    b"\x80\x01",
    b"-1",
    b"0o17",
    b"1_0",
    b"9",
    b"/",
    b"./",
    b"../x",
    b"/etc/passwd",
    b"a//b/./c/",
    b"x/.wh.y",
    b"x/.wh..wh..opq",
    b"\xff\xfe\x80name",
    b"a\0b",
    "日本/ä".encode(),
    b"L",
    b"K",
    b"x",
    b"g",
    b"5",
    b"2",
    b"1",
    b"S",
    b"ustar\x0000",
    b"ustar  \0",
]


def _mutated(rng: random.Random, data: bytes) -> bytes:
    """`data` with one to three header fields overwritten (the checksum fixed 9 times in 10)."""
    heads = _headers(data)
    for _ in range(rng.randint(1, 3)):
        at = rng.choice(heads)
        fields = [f for f in _FIELDS if f != "size" or data[at + 156 : at + 157] not in (b"L", b"K")]
        field = rng.choice(fields)
        if rng.random() < 0.5:
            value = rng.choice(_VALUES)
        else:
            start, end = _FIELDS[field]
            value = bytes(rng.choice(b"01234567 \0/.ax\x80\xff") for _ in range(rng.randint(0, end - start)))
        data = _set(data, at, field, value, fix_sum=rng.random() < 0.9)
    return data


def test_random_header_fields_read_as_tarfile_reads_them_or_are_archive_errors() -> None:
    rng = random.Random(15)
    bases = [data for label, data in _crafted() if label in ("ustar", "gnu", "pax", "pax global")]
    both = refused = 0
    for i in range(1500):
        data = _mutated(rng, bases[i % len(bases)])
        if _check(data, f"mutation {i}"):
            both += 1
        elif isinstance(_ours(data), str):
            refused += 1
    assert both > 150 and refused > 150, (both, refused)  # the corpus reaches both outcomes
