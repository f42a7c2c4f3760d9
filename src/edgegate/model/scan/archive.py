"""Bounded, in-memory reading of 7z archive members (never extracted to disk). Zip archives are
read by `edgegate.io.zipread`, the way the loaders read them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO


class ArchiveError(Exception):
    """The archive or one member cannot be read (the message says why)."""


class MemberTooLarge(ArchiveError):
    pass


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
