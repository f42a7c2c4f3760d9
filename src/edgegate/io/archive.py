"""Safe, bounded iteration over tar and zip archives, without extracting anything.

Every entry comes with a normalised relative POSIX path, or with the reason it was refused
(absolute path, ``..``). Totals are bounded (`ArchiveLimits`): the number of members, the bytes
the archive declares, and the bytes read into memory per member. Corrupt and truncated archives
raise `ArchiveError` (an `InputError`: one line, exit 2).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from edgegate.errors import InputError
from edgegate.io.tarstream import MemberKind, TarFormatError, TarStream

EntryKind = MemberKind

GiB = 1024 * 1024 * 1024
MiB = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps applied while iterating one archive."""

    max_members: int = 2_000_000
    max_total_bytes: int = 64 * GiB
    """Sum of the (uncompressed) member sizes the archive may declare."""
    max_member_read: int = 256 * MiB
    """Most bytes `ArchiveEntry.read` returns for one member."""
    max_ratio: int = 1000
    """Zip only: most uncompressed/compressed ratio for a member (zip bombs)."""


_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError)


class ArchiveError(InputError):
    """A corrupt, truncated or oversized archive."""


class ArchiveBombError(ArchiveError):
    """An archive exceeding a size, count or ratio limit."""


@dataclass
class ArchiveEntry:
    """One member of an archive. `path` is None when `problem` says why it is unsafe."""

    name: str
    path: str | None
    kind: EntryKind
    size: int
    linkname: str = ""
    problem: str | None = None
    _reader: MemberReader | None = field(default=None, repr=False)

    def read(self, max_bytes: int | None = None) -> bytes:
        """The member's bytes (a regular file only), at most `max_bytes`; more is an error."""
        if self.kind != "file" or self._reader is None:
            raise ArchiveError(f"{self.name}: not a regular file")
        return self._reader.read(self, max_bytes)


class MemberReader:
    """Reads one member's bytes (tar, zip or a plain directory walk)."""

    def read(self, entry: ArchiveEntry, max_bytes: int | None) -> bytes:  # pragma: no cover
        raise NotImplementedError


def _why(exc: BaseException) -> str:
    """The first line of an exception's message (tarfile's can span several)."""
    text = str(exc).strip().splitlines()
    return text[0].rstrip(":") if text else type(exc).__name__


def normalize_member_path(name: str) -> tuple[str | None, str | None]:
    """(relative path, None) for a safe member name, (None, reason) for an unsafe one.

    ``./a/b/`` → ``a/b``; an absolute name or one with a ``..`` component is refused. The archive
    root itself (``.`` or ``./``) comes back as the empty string.
    """
    if not name.startswith((".", "/")) and "/." not in name and "//" not in name and "\x00" not in name:
        return name.rstrip("/"), None  # the common case: no empty, "." or ".." component
    if "\x00" in name:
        return None, "NUL byte in name"
    if name.startswith("/"):
        return None, "absolute path"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None, "path traversal (..)"
    return "/".join(parts), None


def link_escapes(path: str, target: str) -> bool:
    """Whether symlink `path` (relative to the root) pointing at `target` leaves the root.

    An absolute target is taken relative to the root (as in a container); a ``..`` that would go
    above the root, from either kind, counts as an escape.
    """
    stack: list[str] = [] if target.startswith("/") else path.split("/")[:-1]
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return True
            stack.pop()
        else:
            stack.append(part)
    return False


# --------------------------------------------------------------------------------------- tar

_MAGICS: list[tuple[bytes, str]] = [
    (b"\x1f\x8b", "gz"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
]


def _zstd_module() -> Any:
    """The zstd module: ``compression.zstd`` (Python 3.14+) or ``backports.zstd``, else None."""
    import importlib

    for name in ("compression.zstd", "backports.zstd"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def sniff_compression(head: bytes) -> str:
    """``gz``, ``bz2``, ``xz``, ``zstd`` or ``""`` (uncompressed) from the first bytes."""
    for magic, kind in _MAGICS:
        if head.startswith(magic):
            return kind
    return ""


class _CountingReader(io.RawIOBase):
    """Counts the bytes read through it (to detect truncated uncompressed streams)."""

    def __init__(self, raw: BinaryIO, prefix: bytes = b"") -> None:
        self._raw = raw
        self._prefix = prefix
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0 or size >= len(self._prefix):
                head, self._prefix = self._prefix, b""
                rest = self._raw.read(-1 if size < 0 else size - len(head))
                data = head + (rest or b"")
            else:
                data, self._prefix = self._prefix[:size], self._prefix[size:]
        else:
            data = self._raw.read(size) or b""
        self.count += len(data)
        return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class _StreamMemberReader(MemberReader):
    """Reads the current member of a `TarStream` (only until the next member is requested).

    One per stream: `current` is the entry the stream is at, None once its bytes were read."""

    def __init__(self, stream: TarStream, where: str, limits: ArchiveLimits) -> None:
        self._stream = stream
        self._where = where
        self._limits = limits
        self.current: ArchiveEntry | None = None

    def read(self, entry: ArchiveEntry, max_bytes: int | None) -> bytes:
        cap = min(
            max_bytes if max_bytes is not None else self._limits.max_member_read, self._limits.max_member_read
        )
        if entry.size > cap:
            raise ArchiveBombError(
                f"{self._where}: member {entry.name} is {entry.size} bytes, over the {cap} byte limit"
            )
        if self.current is not entry:
            raise ArchiveError(f"{self._where}: member {entry.name} was read already or the stream moved on")
        self.current = None
        try:
            data = self._stream.read_data(entry.size)
        except TarFormatError:
            raise ArchiveError(f"{self._where}: truncated archive (member {entry.name})") from None
        except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
            raise ArchiveError(f"{self._where}: corrupt or truncated archive ({_why(exc)})") from None
        return data


def iter_tar(
    fileobj: BinaryIO,
    *,
    where: str,
    limits: ArchiveLimits | None = None,
) -> Iterator[ArchiveEntry]:
    """Stream the members of a (possibly gzip/bz2/xz/zstd-compressed) tar in order.

    `where` names the archive in error messages. Each yielded entry is only readable until the
    next one is requested (the stream moves on). Raises `ArchiveError` for a corrupt or truncated
    stream and `ArchiveBombError` when a limit is exceeded. Headers are parsed by `TarStream`
    (nothing is kept per member: memory is flat in the member count).
    """
    lim = limits or ArchiveLimits()
    head = fileobj.read(8)
    comp = sniff_compression(head)
    zstd = _zstd_module() if comp == "zstd" else None
    if comp == "zstd" and zstd is None:
        raise ArchiveError(
            f"{where}: zstd-compressed tar needs Python 3.14 or the backports.zstd package (pip install backports.zstd)"
        )
    errors = _READ_ERRORS if zstd is None else (*_READ_ERRORS, zstd.ZstdError)
    raw = _CountingReader(fileobj, head)
    # decompressors over a caller-owned stream (nothing to close); they check the trailer
    stream: Any
    if comp == "gz":
        stream = gzip.GzipFile(fileobj=raw, mode="rb")
    elif comp == "bz2":
        stream = bz2.BZ2File(raw)
    elif comp == "xz":
        stream = lzma.LZMAFile(raw)  # type: ignore[arg-type]  # noqa: SIM115
    elif zstd is not None:
        stream = zstd.ZstdFile(raw)
    else:
        stream = raw
    tar = TarStream(stream)
    total = 0
    members = 0
    max_members, max_total = lim.max_members, lim.max_total_bytes
    reader = _StreamMemberReader(tar, where, lim)  # one for the stream, not one per member
    try:  # around the yield too: the consumer's errors never enter the generator, only ours do
        for name, kind, size, linkname in tar.headers():
            members += 1
            if members > max_members:
                raise ArchiveBombError(f"{where}: more than {max_members} members")
            total += size
            if total > max_total:
                raise ArchiveBombError(
                    f"{where}: declares more than {max_total} bytes of content (archive bomb?)"
                )
            if name.startswith((".", "/")) or "/." in name or "//" in name or "\x00" in name:
                path, problem = normalize_member_path(name)
            else:  # normalize_member_path's common case, inline
                path, problem = name.rstrip("/"), None
            # positional arguments: a dataclass built from keywords costs twice as much
            entry = ArchiveEntry(name, path, kind, size, linkname, problem, reader if kind == "file" else None)
            reader.current = entry
            yield entry
    except TarFormatError as exc:
        what = "not a readable tar archive" if members == 0 else "corrupt or truncated archive"
        raise ArchiveError(f"{where}: {what} ({exc})") from None
    except errors as exc:
        raise ArchiveError(f"{where}: corrupt or truncated archive ({_why(exc)})") from None
    # read to the end of the (compressed) stream: a truncated or corrupt trailer is an error,
    # and padding after the end-of-archive marker counts against the size bound
    consumed = tar.offset
    try:
        while True:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            consumed += len(chunk)
            if consumed > lim.max_total_bytes + 1024 * members + 1024 * 1024:
                raise ArchiveBombError(f"{where}: more than {lim.max_total_bytes} bytes after decompression")
    except errors as exc:
        raise ArchiveError(f"{where}: corrupt or truncated archive ({_why(exc)})") from None


class TarIndex:
    """Random access to the members of an uncompressed (or seekable) tar file on disk.

    Used for outer containers (docker-archive, OCI layout tarballs): member headers are read
    once, bounded by `limits.max_members`; `open(name)` returns a reader over one member.
    """

    def __init__(self, path: Path, *, limits: ArchiveLimits | None = None) -> None:
        lim = limits or ArchiveLimits()
        self.path = path
        try:
            self._size = path.stat().st_size
            self._tf = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed in close()
        except FileNotFoundError:
            raise InputError("no such file", path) from None
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ArchiveError(f"not a readable tar archive ({_why(exc)})", path) from None
        self._members: dict[str, tarfile.TarInfo] = {}
        count = 0
        try:
            while True:
                info = self._tf.next()
                if info is None:
                    break
                count += 1
                if count > lim.max_members:
                    raise ArchiveBombError(f"more than {lim.max_members} members", path)
                name, problem = normalize_member_path(info.name)
                if name is not None and problem is None:
                    self._members[name] = info
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            self._tf.close()
            raise ArchiveError(f"corrupt or truncated archive ({_why(exc)})", path) from None
        with path.open("rb") as fh:
            compressed = sniff_compression(fh.read(8))
        if not compressed:
            for info in self._members.values():
                if info.isreg() and info.offset_data + info.size > self._size:
                    self._tf.close()
                    raise ArchiveError(f"truncated archive (member {info.name})", path)

    def close(self) -> None:
        self._tf.close()

    def __enter__(self) -> TarIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def names(self) -> list[str]:
        return list(self._members)

    def _resolve(self, name: str, depth: int = 0) -> tarfile.TarInfo | None:
        norm, problem = normalize_member_path(name)
        if norm is None or problem:
            return None
        info = self._members.get(norm)
        if info is not None and (info.issym() or info.islnk()) and depth < 8:
            target = info.linkname
            if info.issym() and not target.startswith("/"):
                parent = norm.rsplit("/", 1)[0] if "/" in norm else ""
                target = f"{parent}/{target}" if parent else target
            if link_escapes(norm, info.linkname) if info.issym() else False:
                return None
            return self._resolve(target.lstrip("/"), depth + 1)
        return info

    def has(self, name: str) -> bool:
        info = self._resolve(name)
        return info is not None and info.isreg()

    def open(self, name: str) -> BinaryIO:
        """A reader over member `name` (symlinks inside the tar followed); `ArchiveError` if absent."""
        info = self._resolve(name)
        if info is None or not info.isreg():
            raise ArchiveError(f"archive has no member {name!r}", self.path)
        fh = self._tf.extractfile(info)
        if fh is None:  # pragma: no cover - isreg() above
            raise ArchiveError(f"cannot read member {name!r}", self.path)
        return fh  # type: ignore[return-value]

    def read(self, name: str, max_bytes: int) -> bytes:
        """Member `name` read whole, refusing more than `max_bytes`."""
        with self.open(name) as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ArchiveBombError(f"member {name!r} is larger than {max_bytes} bytes", self.path)
        return data


# --------------------------------------------------------------------------------------- zip


class _ZipReader(MemberReader):
    def __init__(self, fh: BinaryIO, member: Any, where: str, limits: ArchiveLimits) -> None:
        self._fh = fh
        self._member = member
        self._where = where
        self._limits = limits

    def read(self, entry: ArchiveEntry, max_bytes: int | None) -> bytes:
        from edgegate.io import zipread

        cap = min(
            max_bytes if max_bytes is not None else self._limits.max_member_read, self._limits.max_member_read
        )
        try:
            return zipread.read_member(self._fh, self._member, cap)
        except zipread.MemberTooLarge:
            raise ArchiveBombError(f"{self._where}: member {entry.name} is over the {cap} byte limit") from None
        except zipread.ZipReadError as exc:
            raise ArchiveError(f"{self._where}: corrupt zip member {entry.name} ({exc.message})") from None


def iter_zip(
    path: Path, *, where: str | None = None, limits: ArchiveLimits | None = None
) -> Iterator[ArchiveEntry]:
    """The members of a zip file, read the way the loaders read them (`edgegate.io.zipread`):
    declared sizes, member count and ratio bounded; an archive whose views disagree (two central
    directories, overlapping members, local headers that contradict the directory) is an error."""
    from edgegate.io import zipread

    lim = limits or ArchiveLimits()
    label = where or str(path)
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except OSError as exc:
        raise ArchiveError(f"{label}: not a readable zip archive ({exc.strerror or exc})") from None
    with fh:
        try:
            view = zipread.read_zip(fh, path.stat().st_size, max_members=lim.max_members)
        except zipread.TooManyMembers:
            raise ArchiveBombError(f"{label}: more than {lim.max_members} members") from None
        except zipread.ZipReadError as exc:
            raise ArchiveError(f"{label}: not a readable zip archive ({exc.message})") from None
        if view.problems:
            raise ArchiveError(f"{label}: {view.problems[0]}")
        infos = view.members
        total = sum(i.size for i in infos)
        if total > lim.max_total_bytes:
            raise ArchiveBombError(f"{label}: declares more than {lim.max_total_bytes} bytes (zip bomb?)")
        for info in infos:
            if info.compressed_size and info.size / info.compressed_size > lim.max_ratio and info.size > MiB:
                raise ArchiveBombError(
                    f"{label}: member {info.name} has compression ratio over {lim.max_ratio} (zip bomb?)"
                )
            path_, problem = normalize_member_path(info.name)
            kind: EntryKind = "dir" if info.is_dir else "file"
            yield ArchiveEntry(
                name=info.name,
                path=path_,
                kind=kind,
                size=info.size,
                problem=problem,
                _reader=_ZipReader(fh, info, label, lim) if kind == "file" else None,
            )
