"""Pickle opcode analysis: every import a pickle would perform, found without unpickling.

The stream is walked with `pickletools.genops` and a small abstract stack machine that tracks
strings, imported globals and the memo, so `STACK_GLOBAL` operands are resolved even when they
come through `BINPUT`/`MEMOIZE` and `BINGET`. Nothing is ever imported or called.
"""

from __future__ import annotations

import pickletools
from collections.abc import Iterator
from typing import BinaryIO

from edgegate.model.scan._pickle_result import JoblibArray, PickleAnalysis, PickleImport
from edgegate.model.scan._pickle_stream import LARGE_ARGUMENT, MAX_LINE, _MemReader, _Reader
from edgegate.model.scan._pickle_vm import _Walker

__all__ = [
    "IN_MEMORY_BYTES", "LARGE_ARGUMENT", "MAX_LINE", "TORCH_LEGACY_MAGIC", "TORCH_LEGACY_PICKLES",
    "JoblibArray", "PickleAnalysis", "PickleImport", "analyse_pickle",
]

#: The pickle that opens a legacy (pre-1.6, non-zip) PyTorch file.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: A legacy PyTorch file holds five pickles (magic, protocol, sys info, object, storage keys)
#: followed by raw storage bytes that are never unpickled.
TORCH_LEGACY_PICKLES = 5
#: Pickle streams up to this size are read into memory and parsed from a BytesIO (fast);
#: larger ones (legacy PyTorch files with their raw storage) go through a bounded reader.
IN_MEMORY_BYTES = 32 * 1024 * 1024


def analyse_pickle(
    data: bytes | BinaryIO,
    *,
    size: int | None = None,
    multiple: bool = True,
    max_pickles: int | None = None,
) -> PickleAnalysis:
    """Walk the opcodes of `data` and collect every import, never unpickling anything.

    `size` bounds how many bytes are read from a stream. With `multiple`, pickles that follow
    one another (legacy PyTorch, joblib, concatenated dumps) are all analysed; parsing stops at
    the end of the data, at bytes that do not start a pickle (recorded as trailing data) or at
    `max_pickles`. A legacy PyTorch stream (first pickle is the PyTorch magic number) stops
    after its five pickles: the bytes after them are raw tensor storage.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    elif size is not None and size <= IN_MEMORY_BYTES:
        raw = data.read(size)  # read(n) of a known, bounded size: the fast path
    else:
        raw = None
    if raw is not None:
        if size is not None:
            raw = raw[:size]
        stream: _Reader | _MemReader = _MemReader(raw)
    else:
        assert not isinstance(data, (bytes, bytearray, memoryview))
        stream = _Reader(data, size if size is not None else 1 << 62)
    result = PickleAnalysis()
    walker = _Walker(result)
    while not stream.at_eof():
        if max_pickles is not None and result.pickles >= max_pickles:
            result.trailing_offset = stream.tell()
            break
        start = stream.tell()
        count = 0
        step = walker.step
        try:
            for opcode, arg, pos in pickletools.genops(stream):  # type: ignore[arg-type]
                count += 1
                step(opcode, arg, pos or 0)
                if walker.pending is not None:
                    _joblib_payload(stream, walker.pending, result)
                    walker.pending = None
        except Exception as exc:  # pickletools raises ValueError and friends on bad bytes
            result.opcodes += count
            parsed_here = count
            if result.pickles > 0 and parsed_here == 0:
                result.trailing_offset = start
            else:
                result.error = _describe(exc)
                result.error_offset = stream.tell()
            break
        else:
            result.opcodes += count
            if not walker.stopped:
                result.error = "pickle ends without a STOP opcode (truncated)"
                result.error_offset = stream.tell()
                break
            result.pickles += 1
            if result.pickles == 1:
                result.first_value = walker.first_value
            if result.pickles == 1 and walker.first_value == TORCH_LEGACY_MAGIC:
                result.torch_legacy = True
                max_pickles = TORCH_LEGACY_PICKLES if max_pickles is None else max_pickles
            walker.stopped = False
            if not multiple:
                if not stream.at_eof():
                    result.trailing_offset = stream.tell()
                break
    if result.pickles == 0 and result.error is None:
        result.error = "empty file: no pickle opcodes"
        result.error_offset = 0
    return result


def _joblib_payload(stream: _Reader | _MemReader, array: JoblibArray, result: PickleAnalysis) -> None:
    """Step over the array data joblib writes inside its pickle stream: raw bytes (with an
    alignment pad) or, for object arrays, a nested pickle, which is analysed like any other."""
    result.joblib_arrays += 1
    if array.nbytes is None:
        # joblib reads it with a plain pickle Unpickler: a wrapper inside is not special there
        nested = _Walker(result, joblib=False)
        for opcode, arg, pos in _genops(stream):
            result.opcodes += 1
            nested.step(opcode, arg, pos if pos is not None else 0)
        if not nested.stopped:
            raise ValueError("nested pickle of a joblib object array ends without STOP")
        return
    if array.aligned:
        pad = stream.read(1)
        if len(pad) != 1 or len(stream.read(pad[0])) != pad[0]:
            raise ValueError("joblib array padding truncated")
    skipped = stream.skip(array.nbytes)
    if skipped != array.nbytes:
        raise ValueError(f"joblib array data truncated ({skipped} of {array.nbytes} bytes)")


def _genops(stream: _Reader | _MemReader) -> Iterator[tuple[pickletools.OpcodeInfo, object, int | None]]:
    # genops reads until STOP; it raises ValueError on an unknown opcode or truncated argument.
    yield from pickletools.genops(stream)  # type: ignore[arg-type]


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(text) > 200:
        text = text[:200] + "…"
    return text
