"""Walk the top-level fields of a protobuf message in a file without reading it whole.

A field's tag and length are read; a length-delimited value is stepped over with `seek`. A file
of zeros, random bytes or a length that runs past the end is refused after reading a few bytes,
before a parser is given the whole file (a 1 GiB sparse `.onnx` costs a handful of reads).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from edgegate.errors import InputError

MAX_FIELDS = 5_000_000
"""Top-level fields walked per message before the walk gives up (bounds the time)."""

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Field:
    number: int
    wire_type: int
    start: int
    """Offset of the value (for a length-delimited field: of its first byte)."""
    end: int
    """Offset just past the value."""


class ProtobufError(InputError):
    """The bytes are not a well-formed protobuf message."""


class _Window:
    """Reads through a small moving buffer: small fields cost no system call each, a large
    field is stepped over by moving the window (one `seek` + `read`)."""

    SIZE = 64 * 1024

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._start = 0
        self._buf = b""

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        if not (self._start <= pos and pos + 10 <= self._start + len(self._buf)):
            self._fh.seek(pos)
            self._start, self._buf = pos, self._fh.read(self.SIZE)
        raw = self._buf[pos - self._start: pos - self._start + min(10, end - pos)]
        value = shift = 0
        for i, byte in enumerate(raw):
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value, pos + i + 1
            shift += 7
        raise ProtobufError(f"truncated or overlong varint at byte {pos}")


def iter_fields(fh: BinaryIO, start: int, end: int) -> Iterator[Field]:
    """Each field of the message stored in `fh[start:end]`, in file order; malformed framing
    (field number 0, a group or unknown wire type, a value past `end`) is a `ProtobufError`."""
    pos = start
    count = 0
    window = _Window(fh)
    while pos < end:
        count += 1
        if count > MAX_FIELDS:
            raise ProtobufError(f"more than {MAX_FIELDS:,} fields in one message")
        tag, pos = window.varint(pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ProtobufError(f"field number 0 at byte {pos - 1} (not a protobuf message)")
        if wire == _VARINT:
            _, value_end = window.varint(pos, end)
        elif wire == _I64:
            value_end = pos + 8
        elif wire == _I32:
            value_end = pos + 4
        elif wire == _LEN:
            length, pos = window.varint(pos, end)
            value_end = pos + length
        else:
            raise ProtobufError(f"wire type {wire} of field {number} at byte {pos - 1} is not supported")
        if value_end > end:
            raise ProtobufError(f"field {number} runs past the end of the message ({value_end} > {end} bytes)")
        yield Field(number, wire, pos, value_end)
        pos = value_end
