"""Bounded, in-memory reading of zip and 7z archive members (never extracted to disk).

The zip reader is deliberately relaxed the way PyTorch's loader is: it takes names and sizes
from the central directory and reads each member's data from its local header, ignoring flag
bits (encrypted / patched / strong-encryption flags set on plain data are a known scanner
bypass) and CRC errors, which are reported as anomalies instead of stopping the scan.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIG = b"PK\x03\x04"


class ArchiveError(Exception):
    """The archive or one member cannot be read (the message says why)."""


class MemberTooLarge(ArchiveError):
    pass


@dataclass
class Member:
    name: str
    size: int
    """Declared uncompressed size."""
    info: zipfile.ZipInfo | None = None
    anomalies: list[str] = field(default_factory=list)


def open_zip(fh: BinaryIO, max_members: int) -> tuple[zipfile.ZipFile, list[Member]]:
    """Parse the central directory of the zip in `fh`."""
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(f"not a readable zip archive: {exc}") from None
    infos = zf.infolist()
    if len(infos) > max_members:
        raise ArchiveError(f"zip archive has {len(infos)} members (limit {max_members})")
    members = [Member(i.filename, i.file_size, i) for i in infos if not i.is_dir()]
    return zf, members


def read_zip_member(fh: BinaryIO, member: Member, cap: int, head: int | None = None) -> bytes:
    """Read and decompress one member, at most `cap` bytes (more is `MemberTooLarge`); with
    `head`, only its first `head` bytes (no size or CRC checks)."""
    info = member.info
    assert info is not None
    fh.seek(info.header_offset)
    raw = fh.read(_LOCAL_HEADER.size)
    if len(raw) != _LOCAL_HEADER.size:
        raise ArchiveError(f"{info.filename}: truncated local header")
    fields = _LOCAL_HEADER.unpack(raw)
    if fields[0] != _LOCAL_SIG:
        raise ArchiveError(f"{info.filename}: bad local header signature")
    name_len, extra_len = fields[10], fields[11]
    local_name = fh.read(name_len)
    fh.seek(extra_len, 1)
    if head is None and local_name.decode("utf-8", "replace") != info.filename and local_name.decode(
        "cp437", "replace"
    ) != info.filename:
        member.anomalies.append(
            f"local header names {local_name.decode('utf-8', 'replace')!r}, central directory {info.filename!r}"
        )
    if head is None and info.flag_bits & 0x61:
        member.anomalies.append(f"flag bits 0x{info.flag_bits & 0x61:x} (encryption/patch flags)")
    csize = info.compress_size
    if info.compress_type == zipfile.ZIP_STORED:
        if info.flag_bits & 0x1 and csize == info.file_size + 12:
            raise ArchiveError(f"{info.filename}: member is encrypted (password protected); not scanned")
        if head is not None:
            return fh.read(min(head, csize))
        if csize > cap:
            raise MemberTooLarge(f"{info.filename}: {csize} bytes exceeds the {cap}-byte member limit")
        data = _read_exact(fh, csize)
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if head is not None:
            return _inflate(fh, csize, cap, info, head)
        data = _inflate(fh, csize, cap, info)
    else:
        data = _other_codec(fh, info, cap)
        if head is not None:
            return data[:head]
    if len(data) != info.file_size:
        member.anomalies.append(f"{len(data)} bytes read, {info.file_size} declared")
    if zlib.crc32(data) & 0xFFFFFFFF != info.CRC:
        member.anomalies.append("CRC-32 mismatch")
    return data


def _read_exact(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise ArchiveError(f"member data truncated ({len(data)} of {n} bytes)")
    return data


def _inflate(fh: BinaryIO, csize: int, cap: int, info: zipfile.ZipInfo, head: int | None = None) -> bytes:
    d = zlib.decompressobj(-15)
    out = bytearray()
    left = csize
    try:
        while left > 0:
            if head is not None and len(out) >= head:
                return bytes(out[:head])
            chunk = fh.read(min(left, 1 << 20))
            if not chunk:
                raise ArchiveError(f"{info.filename}: compressed data truncated")
            left -= len(chunk)
            out += d.decompress(chunk, cap + 1 - len(out))
            if len(out) > cap:
                raise MemberTooLarge(f"{info.filename}: decompresses to more than the {cap}-byte limit")
            while d.unconsumed_tail:
                out += d.decompress(d.unconsumed_tail, cap + 1 - len(out))
                if len(out) > cap:
                    raise MemberTooLarge(f"{info.filename}: decompresses to more than the {cap}-byte limit")
    except zlib.error as exc:
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{info.filename}: member is encrypted (password protected); not scanned") from None
        raise ArchiveError(f"{info.filename}: corrupt deflate data: {exc}") from None
    return bytes(out)


def _other_codec(fh: BinaryIO, info: zipfile.ZipInfo, cap: int) -> bytes:
    # bzip2 / lzma members: use zipfile's own decoder, still bounded.
    try:
        zf = zipfile.ZipFile(fh)
        with zf.open(info) as member:
            data = member.read(cap + 1)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, ValueError) as exc:
        raise ArchiveError(f"{info.filename}: cannot decode member: {exc}") from None
    if len(data) > cap:
        raise MemberTooLarge(f"{info.filename}: decompresses to more than the {cap}-byte limit")
    return data


def iter_7z(fh: BinaryIO, max_members: int, cap: int, total_cap: int) -> Iterator[tuple[str, bytes | str]]:
    """Yield (name, data) for each 7z member, or (name, reason) when it cannot be read. Needs
    `py7zr`; without it the archive is an `ArchiveError` (the caller reports it as unscanned)."""
    try:
        import py7zr
        from py7zr.io import Py7zIO, WriterFactory
    except ImportError:
        raise ArchiveError("7z archive not scanned: py7zr is not installed") from None

    class _Capped(Py7zIO):  # type: ignore[misc]
        def __init__(self) -> None:
            self.buf = bytearray()
            self.over = False

        def write(self, s: bytes | bytearray) -> int:
            if len(self.buf) + len(s) > cap:
                self.over = True
                raise MemberTooLarge("7z member exceeds the member size limit")
            self.buf += s
            return len(s)

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def flush(self) -> None:
            return None

        def size(self) -> int:
            return len(self.buf)

    class _Factory(WriterFactory):  # type: ignore[misc]
        def __init__(self) -> None:
            self.files: dict[str, _Capped] = {}

        def create(self, filename: str) -> Py7zIO:
            w = _Capped()
            self.files[filename] = w
            return w

    try:
        with py7zr.SevenZipFile(fh, mode="r") as archive:
            infos = [i for i in archive.list() if not i.is_directory]
            if len(infos) > max_members:
                raise ArchiveError(f"7z archive has {len(infos)} members (limit {max_members})")
            total = sum(int(i.uncompressed or 0) for i in infos)
            if total > total_cap:
                raise MemberTooLarge(f"7z archive declares {total} bytes (limit {total_cap})")
            too_big = [i.filename for i in infos if int(i.uncompressed or 0) > cap]
            factory = _Factory()
            archive.extract(targets=[i.filename for i in infos if i.filename not in too_big], factory=factory)
    except ArchiveError:
        raise
    except Exception as exc:  # py7zr raises many types on corrupt input
        raise ArchiveError(f"cannot read 7z archive: {type(exc).__name__}: {exc}") from None
    for name in too_big:
        yield name, "member exceeds the member size limit"
    for name, writer in factory.files.items():
        yield name, bytes(writer.buf)
