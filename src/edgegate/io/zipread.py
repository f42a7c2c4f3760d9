"""Zip archives read the way the loaders read them, never extracted to disk.

Two readers disagree on where a zip's central directory is: PyTorch's (miniz) follows the end
record's offset, Python's `zipfile` takes the directory that ends right before the end record
and shifts every offset by the difference (data prepended to the archive). An archive whose two
views differ, whose members overlap, or whose local headers contradict the central directory is
reported as a `problem` (the caller makes it a critical finding), and the members of both views
are returned so that both can be scanned. Member data is read from the local header the way
miniz does: "version needed", flag bits and CRC errors do not stop it (they are `notes`), and
every read is bounded (`MemberTooLarge`), streaming for large members.
"""

from __future__ import annotations

import bz2
import collections
import io
import itertools
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from edgegate.errors import InputError

_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIG = b"PK\x05\x06"
_Z64_LOCATOR = struct.Struct("<4sLQL")
_Z64_LOCATOR_SIG = b"PK\x06\x07"
_Z64_EOCD = struct.Struct("<4sQ2H2L4Q")
_Z64_EOCD_SIG = b"PK\x06\x06"
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_CENTRAL_SIG = b"PK\x01\x02"
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIG = b"PK\x03\x04"
STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
#: The ratio of uncompressed to compressed bytes above which a large member is a zip bomb
#: (deflate's own maximum is about 1032:1, reached only by runs of one byte).
BOMB_RATIO = 1000
BOMB_MIN_BYTES = 16 * 1024 * 1024


class ZipReadError(InputError):
    """The archive or one member cannot be read (the message says why)."""


class MemberTooLarge(ZipReadError):
    """A member decompresses to more than the caller's limit."""


class TooManyMembers(ZipReadError):
    """More central-directory entries than the caller allows."""


class EncryptedMember(ZipReadError):
    """A password-protected member: no loader reads it without the password."""


@dataclass
class ZipMember:
    """One central-directory entry, with what its local header says."""

    name: str
    """The name as Python's zipfile reads it: cut at the first NUL byte (its `ZipInfo` does that,
    so Keras and numpy open `config.json\\0x` as `config.json`)."""
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int
    """Declared uncompressed size."""
    header_offset: int
    """Absolute offset of the local header in the file."""
    version_needed: int = 20
    data_offset: int = -1
    """Absolute offset of the member's data (after the local header); -1 until checked."""
    notes: list[str] = field(default_factory=list)
    """Oddities a loader tolerates (flag bits, version needed, CRC errors)."""
    raw_name: str = ""
    """The whole name the directory holds (what miniz, PyTorch's reader, compares); `name` when
    it has no NUL."""

    def __post_init__(self) -> None:
        if not self.raw_name:
            self.raw_name = self.name
        if "\x00" in self.name:
            self.name = self.name.split("\x00", 1)[0]

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


@dataclass
class ZipView:
    """The members a zip holds, as the loaders see them."""

    members: list[ZipMember]
    problems: list[str] = field(default_factory=list)
    """Where the loaders' views differ or the archive cannot be read as a loader would."""


def read_zip(fh: BinaryIO, size: int, *, max_members: int = 100_000) -> ZipView:
    """The members of the zip in `fh` (`size` bytes), from both views of its central directory."""
    eocd_pos, cd_offset, cd_size, count, z64_extra = _end_record(fh, size)
    problems: list[str] = []
    if count > max_members:
        raise TooManyMembers(f"zip archive has {count} members (limit {max_members})")
    concat = eocd_pos - z64_extra - cd_size - cd_offset
    loader: list[ZipMember] | None = None
    python: list[ZipMember] | None = None
    why_loader = why_python = ""
    try:
        loader = _central(fh, size, cd_offset, cd_size, count, 0, max_members)
    except ZipReadError as exc:
        why_loader = exc.message
    if concat != 0:
        try:
            python = _central(fh, size, cd_offset + concat, cd_size, count, concat, max_members)
        except ZipReadError as exc:
            why_python = exc.message
    else:
        python = loader
        why_python = why_loader
    if loader is None and python is None:
        raise ZipReadError(f"not a readable zip archive: {why_loader or why_python}")
    if loader is None:
        problems.append(f"the central directory at the end record's offset cannot be read ({why_loader}); "
                        "Python's zipfile reads another one")
    elif python is None:
        problems.append(f"Python's zipfile cannot read the central directory the loader reads ({why_python})")
    elif concat != 0 and _key(loader) != _key(python):
        problems.append(
            f"two central directories: the end record's offset ({cd_offset}) leads to {len(loader)} members, "
            f"Python's zipfile reads {len(python)} others at {cd_offset + concat}"
        )
    members: list[ZipMember] = []
    seen: set[tuple[str, int]] = set()
    for m in (loader or []) + (python or []):
        k = (m.name, m.header_offset)
        if k not in seen:
            seen.add(k)
            members.append(m)
    for view in (loader, python):
        counts = collections.Counter(m.name for m in view or [])
        dup = next((n for n, c in counts.items() if c > 1), None)
        if dup is not None:
            problems.append(f"member name {dup!r} appears more than once (loaders pick different copies)")
            break
    for m in members:
        problem = _check_local(fh, size, m)
        if problem:
            problems.append(f"{m.name}: {problem}")
    problems.extend(_overlaps(members))
    return ZipView(members, problems)


def _key(members: list[ZipMember]) -> list[tuple[str, int, int]]:
    return sorted((m.name, m.compressed_size, m.crc) for m in members)


def _end_record(fh: BinaryIO, size: int) -> tuple[int, int, int, int, int]:
    """(position of the end record, CD offset, CD size, entries, zip64 record bytes)."""
    if size < _EOCD.size:
        raise ZipReadError("not a zip archive: too short for an end-of-central-directory record")
    tail_len = min(size, _EOCD.size + 65535)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = tail.rfind(_EOCD_SIG)
    while pos >= 0 and len(tail) - pos < _EOCD.size:
        pos = tail.rfind(_EOCD_SIG, 0, pos)
    if pos < 0:
        raise ZipReadError("not a zip archive: no end-of-central-directory record")
    fields = _EOCD.unpack(tail[pos : pos + _EOCD.size])
    eocd_pos = size - tail_len + pos
    count, cd_size, cd_offset = fields[4], fields[5], fields[6]
    z64_extra = 0
    loc_pos = eocd_pos - _Z64_LOCATOR.size
    if loc_pos >= 0:  # a zip64 locator, when present, is what both readers use (torch writes one)
        fh.seek(loc_pos)
        loc = fh.read(_Z64_LOCATOR.size)
        if len(loc) == _Z64_LOCATOR.size and loc[:4] == _Z64_LOCATOR_SIG:
            z64_pos = _Z64_LOCATOR.unpack(loc)[2]
            if 0 <= z64_pos <= size - _Z64_EOCD.size:
                fh.seek(z64_pos)
                rec = fh.read(_Z64_EOCD.size)
                if rec[:4] == _Z64_EOCD_SIG:
                    z = _Z64_EOCD.unpack(rec)
                    count, cd_size, cd_offset = z[7], z[8], z[9]
                    z64_extra = _Z64_LOCATOR.size + _Z64_EOCD.size
    return eocd_pos, cd_offset, cd_size, count, z64_extra


def _central(fh: BinaryIO, size: int, start: int, cd_size: int, count: int, shift: int,
             max_members: int) -> list[ZipMember]:
    if start < 0 or start + cd_size > size:
        raise ZipReadError(f"central directory at {start} (+{cd_size}) lies outside the file")
    fh.seek(start)
    raw = fh.read(cd_size)
    out: list[ZipMember] = []
    pos = 0
    while pos + _CENTRAL.size <= len(raw):
        f = _CENTRAL.unpack_from(raw, pos)
        if f[0] != _CENTRAL_SIG:
            break
        if len(out) >= max_members:
            raise TooManyMembers(f"zip archive has more than {max_members} members")
        name_len, extra_len, comment_len = f[12], f[13], f[14]
        end = pos + _CENTRAL.size + name_len + extra_len + comment_len
        if end > len(raw):
            raise ZipReadError("central directory entry runs past the directory")
        raw_name = raw[pos + _CENTRAL.size : pos + _CENTRAL.size + name_len]
        flags = f[5]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        csize, usize, offset = f[10], f[11], f[18]
        extra = raw[pos + _CENTRAL.size + name_len : pos + _CENTRAL.size + name_len + extra_len]
        usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
        member = ZipMember(name, f[6], flags, f[9], csize, usize, offset + shift, version_needed=f[3])
        if member.raw_name != member.name:
            member.notes.append(f"the name holds a NUL byte: Python's zipfile reads it as {member.name!r}, "
                                "PyTorch's reader by its whole name")
        if member.version_needed > 63:
            member.notes.append(f"'version needed' {member.version_needed / 10:.1f} (Python's zipfile refuses it)")
        out.append(member)
        pos = end
    if not out and count:
        raise ZipReadError("central directory has no entries where the end record says")
    if len(out) != count and count != 0xFFFF:
        raise ZipReadError(f"central directory holds {len(out)} entries, the end record says {count}")
    return out


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 0x0001:
            vals = [struct.unpack_from("<Q", body, i)[0] for i in range(0, len(body) - 7, 8)]
            it = iter(vals)
            if usize == 0xFFFFFFFF:
                usize = next(it, usize)
            if csize == 0xFFFFFFFF:
                csize = next(it, csize)
            if offset == 0xFFFFFFFF:
                offset = next(it, offset)
        pos += 4 + length
    return usize, csize, offset


def _check_local(fh: BinaryIO, size: int, m: ZipMember) -> str | None:
    """Read the local header (sets `data_offset`); what contradicts the central directory."""
    if m.header_offset < 0 or m.header_offset + _LOCAL.size > size:
        return f"local header offset {m.header_offset} lies outside the file"
    fh.seek(m.header_offset)
    f = _LOCAL.unpack(fh.read(_LOCAL.size))
    if f[0] != _LOCAL_SIG:
        return f"no local header at offset {m.header_offset}"
    name_len, extra_len = f[10], f[11]
    raw_name = fh.read(name_len)
    m.data_offset = m.header_offset + _LOCAL.size + name_len + extra_len
    if m.data_offset + m.compressed_size > size:
        return f"data ({m.compressed_size} bytes at {m.data_offset}) runs past the end of the file"
    local_name = raw_name.decode("utf-8" if f[3] & 0x800 else "cp437", "replace")
    # Python's zipfile compares the local name with the whole central name (`orig_filename`)
    if local_name != m.raw_name and raw_name.decode("utf-8", "replace") != m.raw_name:
        return f"local header names {local_name!r}, the central directory {m.raw_name!r}"
    if f[4] != m.method:
        return f"local header says compression method {f[4]}, the central directory {m.method}"
    if f[3] != m.flags:
        m.notes.append(f"flag bits differ (local 0x{f[3]:x}, central 0x{m.flags:x})")
    if m.flags & 0x61:
        m.notes.append(f"flag bits 0x{m.flags & 0x61:x} (encryption/patch flags)")
    if not f[3] & 0x8 and f[8] != 0xFFFFFFFF and (f[8], f[9], f[7]) != (m.compressed_size, m.size, m.crc):
        m.notes.append("local header sizes or CRC differ from the central directory")
    return None


def _overlaps(members: list[ZipMember]) -> list[str]:
    spans = sorted((m.header_offset, max(m.data_offset, m.header_offset) + m.compressed_size, m.name)
                   for m in members if m.data_offset >= 0)
    out: list[str] = []
    for (_s1, e1, n1), (s2, _e2, n2) in itertools.pairwise(spans):
        if s2 < e1:
            out.append(f"members {n1!r} and {n2!r} overlap (a zip bomb or a polyglot)")
            if len(out) >= 5:
                break
    return out


def bomb_problem(m: ZipMember) -> str | None:
    """A declared compression ratio no model file has."""
    if m.size >= BOMB_MIN_BYTES and m.compressed_size and m.size / m.compressed_size > BOMB_RATIO:
        return f"{m.name}: compression ratio {m.size // m.compressed_size}:1 ({m.size} bytes) - a zip bomb"
    return None


class MemberStream(io.RawIOBase):
    """A bounded, decompressing reader over one member (the file handle is shared: every read
    seeks to where this member's data continues). More than `cap` output is `MemberTooLarge`;
    the output actually produced is checked against the CRC at the end (a note)."""

    _CHUNK = 1 << 20

    def __init__(self, fh: BinaryIO, m: ZipMember, cap: int) -> None:
        super().__init__()
        if m.data_offset < 0:
            raise ZipReadError(f"{m.name}: member has no readable local header")
        self._fh = fh
        self._m = m
        self._cap = cap
        self._pos = m.data_offset
        self._left = m.compressed_size
        self._out = 0
        self._crc = 0
        self._buf = b""
        self._done = False
        self._checked = False
        self._d: Any = None
        self._kind = m.method
        if m.method == STORED:
            if m.flags & 0x1 and m.compressed_size == m.size + 12:
                raise EncryptedMember(f"{m.name}: member is encrypted (password protected); not scanned")
        elif m.method == DEFLATED:
            self._d = zlib.decompressobj(-15)
        elif m.method == BZIP2:
            self._d = bz2.BZ2Decompressor()
        elif m.method == LZMA:
            import zipfile

            self._d = zipfile.LZMADecompressor()  # type: ignore[attr-defined]
        else:
            raise ZipReadError(f"{m.name}: compression method {m.method} cannot be read")

    def readable(self) -> bool:
        return True

    def _raw(self, n: int) -> bytes:
        if self._left <= 0:
            return b""
        self._fh.seek(self._pos)
        chunk = self._fh.read(min(n, self._left))
        self._pos += len(chunk)
        self._left -= len(chunk)
        if not chunk:
            self._left = 0
        return chunk

    def _produce(self, want: int) -> bytes:
        if self._d is None:
            return self._raw(want)
        limit = max(want, 1 << 16)
        try:
            while not self._done:
                if self._kind == DEFLATED:
                    data = self._d.unconsumed_tail or self._raw(self._CHUNK)
                    if not data:
                        raise ZipReadError(f"{self._m.name}: compressed data truncated")
                    out = self._d.decompress(data, limit)
                    self._done = self._d.eof
                elif self._kind == BZIP2:
                    data = self._raw(self._CHUNK) if self._d.needs_input else b""
                    if self._d.needs_input and not data:
                        raise ZipReadError(f"{self._m.name}: compressed data truncated")
                    out = self._d.decompress(data, limit)
                    self._done = self._d.eof
                else:  # LZMA: no output bound per call, so small input chunks
                    data = self._raw(1 << 12)
                    if not data:
                        raise ZipReadError(f"{self._m.name}: compressed data truncated")
                    out = self._d.decompress(data)
                    self._done = bool(self._d.eof)
                if out:
                    return bytes(out)
        except (zlib.error, OSError, EOFError, ValueError, NotImplementedError) as exc:
            if self._m.flags & 0x1:
                raise EncryptedMember(f"{self._m.name}: member is encrypted (password protected); not scanned") from None
            raise ZipReadError(f"{self._m.name}: corrupt compressed data: {exc}") from None
        return b""

    def read(self, size: int = -1) -> bytes:
        parts = [self._buf]
        have = len(self._buf)
        want = size if size is not None and size >= 0 else self._cap + 1
        while have < want:
            chunk = self._produce(want - have)
            if not chunk:
                break
            self._out += len(chunk)
            if self._out > self._cap:
                raise MemberTooLarge(f"{self._m.name}: decompresses to more than the {self._cap}-byte limit")
            self._crc = zlib.crc32(chunk, self._crc)
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self._buf = data[want:]
        data = data[:want]
        finished = self._done or (self._d is None and self._left <= 0)
        if not self._buf and finished and not self._checked:
            self._checked = True
            if self._out != self._m.size:
                self._m.notes.append(f"{self._out} bytes read, {self._m.size} declared")
            elif self._crc & 0xFFFFFFFF != self._m.crc:
                self._m.notes.append("CRC-32 mismatch")
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def read_member(fh: BinaryIO, m: ZipMember, cap: int, *, head: int | None = None) -> bytes:
    """A member's bytes, at most `cap` (more is `MemberTooLarge`); with `head`, only its first bytes."""
    stream = MemberStream(fh, m, cap)
    if head is not None:
        return stream.read(head)
    return stream.read()
