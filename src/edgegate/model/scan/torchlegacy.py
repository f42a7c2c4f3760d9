"""The `storages` and `tensors` members of PyTorch's legacy tar format (torch < 0.4 wrote it;
`torch.load` still reads it): pickles interleaved with raw bytes whose lengths the loader
computes (`storages`: a count, per storage a pickle, an int64 element count and the bytes, then
the `storage_views` pickle). Every pickle is walked; bytes that do not follow the layout are a
`LayoutError`."""

from __future__ import annotations

import struct

from edgegate.model.scan.pickle import PickleAnalysis, PickleImport, analyse_pickle

#: Storage class → element size (torch._utils._element_size of its dtype).
_ELEMENT_SIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8, "IntStorage": 4,
    "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1, "BFloat16Storage": 2,
    "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8, "QInt8Storage": 1, "QUInt8Storage": 1,
    "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1,
}
MAX_ITEMS = 1_000_000


class LayoutError(Exception):
    """The member does not follow the layout torch reads; `analysis` has what was found."""

    def __init__(self, message: str, analysis: PickleAnalysis) -> None:
        super().__init__(message)
        self.analysis = analysis


def analyse_member(data: bytes, kind: str) -> PickleAnalysis:
    """Walk a `storages` or `tensors` member the way torch's `legacy_load` reads it."""
    total = PickleAnalysis()
    pos = 0

    def next_pickle() -> PickleAnalysis:
        nonlocal pos
        part = analyse_pickle(data[pos:], multiple=False)
        total.imports.extend(
            PickleImport(i.module, i.name, i.offset + pos, i.opcode, i.called, i.resolved, i.patched) for i in part.imports
        )
        total.pickles += part.pickles
        total.opcodes += part.opcodes
        total.anomalies.extend(part.anomalies)
        if part.error is not None:
            total.error, total.error_offset = part.error, (part.error_offset or 0) + pos
            raise LayoutError(f"pickle at byte {pos} cannot be parsed: {part.error}", total)
        pos = part.trailing_offset + pos if part.trailing_offset is not None else len(data)
        return part

    def take(n: int) -> bytes:
        nonlocal pos
        if n < 0 or pos + n > len(data):
            raise LayoutError(f"{kind}: raw data of {n} bytes at byte {pos} runs past the end", total)
        chunk = data[pos : pos + n]
        pos += n
        return chunk

    count = next_pickle().first_value
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_ITEMS:
        raise LayoutError(f"{kind}: the first pickle is not an item count", total)
    for _ in range(count):
        part = next_pickle()
        if kind == "storages":
            names = [i.name for i in part.imports if i.module == "torch"]
            size = _ELEMENT_SIZE.get(names[-1]) if names else None
            if size is None:
                raise LayoutError(f"storages: unknown storage type at byte {pos}", total)
            (numel,) = struct.unpack("<q", take(8))
            take(numel * size)
        else:
            (ndim,) = struct.unpack("<i", take(4))
            if not 0 <= ndim <= 64:
                raise LayoutError(f"tensors: {ndim} dimensions at byte {pos}", total)
            take(4 + 16 * ndim + 8)
    if kind == "storages" and pos < len(data):
        # legacy_load: `storage_views = pickle_module.load(f)` after the storages (an older
        # writer may leave it out: torch then fails to load, nothing is run)
        next_pickle()
    if pos != len(data):
        raise LayoutError(f"{kind}: {len(data) - pos} bytes after the last item that torch never reads", total)
    return total
