"""Bounded streams the pickle opcode walk reads from: never asks for more than is left."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

#: Longest newline-terminated argument (protocol 0 strings, GLOBAL names) accepted.
MAX_LINE = 16 * 1024 * 1024
#: Larger single opcode arguments are skipped by the bounded reader instead of read.
LARGE_ARGUMENT = 16 * 1024 * 1024


class _Reader:
    """A buffered, bounded reader: never asks the source for more than what is left (so a
    declared length of 2**63 in a BINBYTES8 cannot make anything allocate it), counts its
    position, can look ahead one byte before a pickle starts, and can skip raw data."""

    _CHUNK = 1 << 16

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._src = source
        self._left = limit
        self._buf = b""
        self._off = 0
        self._pos = 0

    def _avail(self) -> int:
        return len(self._buf) - self._off

    def _fill(self, want: int) -> None:
        if self._avail() >= want or self._left <= 0:
            return
        parts = [self._buf[self._off :]]
        have = len(parts[0])
        while have < want and self._left > 0:
            chunk = self._src.read(min(max(want - have, self._CHUNK), self._left))
            if not chunk:
                self._left = 0
                break
            self._left -= len(chunk)
            parts.append(chunk)
            have += len(chunk)
        self._buf = b"".join(parts)
        self._off = 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._avail() + self._left
        if size > LARGE_ARGUMENT:
            # a big BINBYTES/BYTEARRAY payload (raw tensor data): stepped over, never held
            return _Skipped(self.skip(size))  # type: ignore[return-value]
        self._fill(size)
        data = self._buf[self._off : self._off + size]
        self._off += len(data)
        self._pos += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        start = self._off
        while True:
            nl = self._buf.find(b"\n", start)
            if nl >= 0:
                return self.read(nl + 1 - self._off)
            if self._left <= 0:
                return self.read(self._avail())
            if self._avail() > MAX_LINE:
                raise ValueError(f"a text line longer than {MAX_LINE} bytes")
            start = len(self._buf) - self._off
            self._fill(self._avail() + self._CHUNK)
            start += self._off

    def skip(self, n: int) -> int:
        """Step over `n` bytes (seeking when the source can); returns how many were skipped."""
        done = min(n, self._avail())
        self._off += done
        left = min(n - done, self._left)
        if left > 0:
            try:
                self._src.seek(left, 1)
                self._left -= left
                done += left
            except (AttributeError, OSError, ValueError):
                while left > 0:
                    chunk = self._src.read(min(left, 1 << 20))
                    if not chunk:
                        self._left = 0
                        break
                    self._left -= len(chunk)
                    left -= len(chunk)
                    done += len(chunk)
        self._pos += done
        return done

    def tell(self) -> int:
        return self._pos

    def at_eof(self) -> bool:
        self._fill(1)
        return self._avail() == 0


class _Skipped:
    """Stands for bytes that were stepped over: it has their length and nothing else, so the
    opcode reader's length check works and no memory is used. Decoding it as text fails (a
    parse error), which only happens for a string of more than `LARGE_ARGUMENT` bytes."""

    def __init__(self, n: int) -> None:
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[int]:
        return iter(())


class _MemReader(io.BytesIO):
    """In-memory stream (C-speed reads, never past the end) with the `_Reader` extras."""

    def skip(self, n: int) -> int:
        start = self.tell()
        end = min(start + n, len(self.getbuffer()))
        self.seek(end)
        return end - start

    def at_eof(self) -> bool:
        return self.tell() >= len(self.getbuffer())
