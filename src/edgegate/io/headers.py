"""One reader per weight-file header (NumPy `.npy`, safetensors, GGUF), shared by the model scan
and the ML-BOM: only the header is read, every length in it is checked against the file size (or
a fixed limit) before anything is allocated, and nothing in it is ever evaluated.

The readers check structure: a header that cannot be what it claims is a `FormatError`. What the
two users judge differently stays with them: the scan's strict layout checks (unknown dtypes,
gaps and overlaps between tensors) are `safetensors_layout_problem`; the ML-BOM only counts.
"""

from __future__ import annotations

import ast
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

MAX_NPY_HEADER = 1 << 20
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
"""The safetensors library's own limit on the JSON header."""
MAX_GGUF_STRING = 64 * 1024 * 1024
#: Far above any real model (tens of keys; tensors in the thousands; vocabularies below 1M), and
#: low enough that a sparse file declaring millions of entries is refused in well under a second.
MAX_GGUF_KEYS = 1 << 16
MAX_GGUF_TENSORS = 1 << 20
MAX_GGUF_ARRAY_ITEMS = 1 << 22


class FormatError(Exception):
    """The file is not a valid instance of the format it claims to be."""


# -- NumPy -----------------------------------------------------------------------------------


@dataclass
class NpyHeader:
    descr: Any
    """The header's ``descr`` literal as written (``'<f4'``, ``[('a', '|O')]``)."""
    shape: tuple[int, ...]
    data_offset: int
    has_object: bool
    itemsize: int | None


def read_npy_header(fh: BinaryIO, size: int) -> NpyHeader:
    """Parse a `.npy` header with `ast.literal_eval` (a literal, never code), reading forward only
    (a zip member stream works), and build its dtype as `numpy.load` would."""
    head = fh.read(10)
    if len(head) < 10 or not head.startswith(b"\x93NUMPY"):
        raise FormatError("not a NumPy .npy file (bad magic)")
    major = head[6]
    if major == 1:
        hlen, start = struct.unpack("<H", head[8:10])[0], 10
    elif major in (2, 3):
        more = fh.read(2)
        if len(more) < 2:
            raise FormatError("truncated .npy header")
        hlen, start = struct.unpack("<I", head[8:10] + more)[0], 12
    else:
        raise FormatError(f"unsupported .npy format version {major}")
    if hlen > MAX_NPY_HEADER or start + hlen > size:
        raise FormatError(f".npy header declares {hlen} bytes; the file has {size}")
    raw = fh.read(hlen)
    if len(raw) != hlen:
        raise FormatError("truncated .npy header")
    try:
        text = raw.decode("latin-1" if major < 3 else "utf-8")
        header = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError) as exc:
        raise FormatError(f".npy header is not a Python literal: {type(exc).__name__}") from None
    if not isinstance(header, dict) or not {"descr", "shape"} <= header.keys():
        raise FormatError(".npy header lacks 'descr' or 'shape'")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise FormatError(f".npy header has an invalid shape {shape!r}")
    descr = header["descr"]
    # `descr_to_dtype` turns a literal into a dtype; it never imports or calls anything named in
    # the file: 'object', [('a', 'object')], nested fields
    import numpy as np

    try:
        from numpy.lib.format import descr_to_dtype

        dtype = descr_to_dtype(descr)
    except Exception:  # numpy raises TypeError/ValueError/KeyError on a malformed descr
        raise FormatError(f".npy header has an invalid dtype {str(descr)[:100]!r}") from None
    if not isinstance(dtype, np.dtype):
        raise FormatError(f".npy header has an invalid dtype {str(descr)[:100]!r}")
    has_object = bool(dtype.hasobject)
    return NpyHeader(descr, shape, start + hlen, has_object, None if has_object else int(dtype.itemsize))


# -- safetensors -----------------------------------------------------------------------------

#: Bits per element of every dtype the safetensors format defines.
SAFETENSORS_DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "C64": 64, "C128": 128,
}


@dataclass(frozen=True)
class SafetensorsTensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def count(self) -> int:
        return math.prod(self.shape)


@dataclass
class SafetensorsHeader:
    tensors: list[SafetensorsTensor]
    metadata: Any
    """``__metadata__`` as written (None when absent); the format says string to string."""
    data_bytes: int


def read_safetensors(fh: BinaryIO, size: int) -> SafetensorsHeader:
    """The header of a safetensors file: bounded JSON, every tensor's dtype, shape and offsets
    well typed and inside the data, and its byte length equal to shape × dtype when the dtype is
    one the format defines."""
    raw = fh.read(8)
    if len(raw) < 8:
        raise FormatError("truncated safetensors file (no header length)")
    n = struct.unpack("<Q", raw)[0]
    if n > MAX_SAFETENSORS_HEADER:
        raise FormatError(f"safetensors header declares {n} bytes (limit {MAX_SAFETENSORS_HEADER})")
    if 8 + n > size:
        raise FormatError(f"safetensors header declares {n} bytes, which exceeds the file ({size} bytes)")
    text = fh.read(n)
    if len(text) != n:
        raise FormatError("truncated safetensors header")
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"safetensors header is not JSON: {type(exc).__name__}") from None
    if not isinstance(header, dict):
        raise FormatError("safetensors header is not a JSON object")
    data_len = size - 8 - n
    tensors: list[SafetensorsTensor] = []
    for key, value in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(value, dict):
            raise FormatError(f"tensor {key!r}: entry is not an object")
        dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
        if not isinstance(dtype, str):
            raise FormatError(f"tensor {key!r}: dtype {dtype!r} is not a string")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise FormatError(f"tensor {key!r}: invalid shape {str(shape)[:100]}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
            or offsets[0] > offsets[1]
        ):
            raise FormatError(f"tensor {key!r}: invalid data_offsets {str(offsets)[:100]}")
        begin, end = offsets
        if end > data_len:
            raise FormatError(f"tensor {key!r}: data_offsets end {end} lies outside the file's {data_len} data bytes")
        bits = SAFETENSORS_DTYPE_BITS.get(dtype)
        if bits is not None and (math.prod(shape) * bits + 7) // 8 != end - begin:
            raise FormatError(f"tensor {key!r}: size does not match its shape and dtype ({end - begin} bytes "
                              f"for {dtype}{shape}, needs {(math.prod(shape) * bits + 7) // 8})")
        tensors.append(SafetensorsTensor(key, dtype, tuple(shape), begin, end))
    return SafetensorsHeader(tensors, header.get("__metadata__"), data_len)


def safetensors_layout_problem(header: SafetensorsHeader) -> str | None:
    """What the safetensors library itself refuses beyond structure: a dtype it does not define,
    metadata that is not string to string, tensors that overlap or leave gaps, trailing bytes."""
    meta = header.metadata
    if meta is not None and (not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values())):
        return "safetensors __metadata__ must map strings to strings"
    for t in header.tensors:
        if t.dtype not in SAFETENSORS_DTYPE_BITS:
            return f"tensor {t.name!r}: unknown dtype {t.dtype[:40]!r}"
    cursor = 0
    for t in sorted(header.tensors, key=lambda t: (t.begin, t.end, t.name)):
        if t.begin < cursor:
            return f"tensor {t.name!r} overlaps the previous tensor"
        if t.begin > cursor:
            return f"gap of {t.begin - cursor} unused bytes before tensor {t.name!r}"
        cursor = t.end
    if cursor != header.data_bytes:
        return f"{header.data_bytes - cursor} trailing bytes after the last tensor"
    return None


# -- GGUF ------------------------------------------------------------------------------------

_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
#: ggml type → (elements per block, bytes per block), for the types whose size is fixed.
_GGML_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 30: (1, 2),
}


@dataclass(frozen=True)
class GgufTensor:
    name: str
    dims: tuple[int, ...]
    ggml_type: int
    offset: int

    @property
    def count(self) -> int:
        return math.prod(self.dims)


@dataclass
class GgufHeader:
    version: int
    metadata_keys: int
    metadata: dict[str, Any] = field(default_factory=dict)
    """The values of the keys the caller asked to keep (arrays are never kept: None)."""
    tensors: list[GgufTensor] = field(default_factory=list)
    alignment: int = 32


def read_gguf(fh: BinaryIO, size: int, keep: Callable[[str], bool]) -> GgufHeader:
    """A GGUF header (v2/v3): magic, version, counts bounded by the file size, every metadata key
    (values kept only where `keep(key)`), every tensor, and each tensor's data inside the file."""
    r = _GgufReader(fh, size)
    if r.take(4) != b"GGUF":
        raise FormatError("not a GGUF file (bad magic)")
    version = r.u32()
    if version not in (2, 3):
        # v1 (2023, obsolete) had 32-bit counts and lengths: read as v2 it would be misparsed
        raise FormatError(f"unsupported GGUF version {version}")
    tensors, kvs = r.u64(), r.u64()
    if tensors > size // 24 + 1 or kvs > size // 12 + 1 or tensors > MAX_GGUF_TENSORS or kvs > MAX_GGUF_KEYS:
        raise FormatError(f"GGUF header declares {tensors} tensors and {kvs} keys: out of range for "
                          f"{size} bytes (limits {MAX_GGUF_TENSORS} and {MAX_GGUF_KEYS})")
    out = GgufHeader(version, kvs)
    keys: set[str] = set()
    for _ in range(kvs):
        key = r.string()
        if not key or key in keys:
            # llama.cpp refuses a file with a duplicate key; an empty one names nothing
            raise FormatError(f"GGUF metadata key {key[:100]!r} is empty or duplicated")
        keys.add(key)
        wanted = keep(key) or key == "general.alignment"
        value = r.value(r.u32(), wanted)
        if key == "general.alignment":
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or value & (value - 1):
                raise FormatError(f"GGUF general.alignment {value!r} is not a power of two")
            out.alignment = value
        if wanted and keep(key):
            out.metadata[key] = value
    names: set[str] = set()
    for _ in range(tensors):
        name = r.string()
        if name in names:
            raise FormatError(f"GGUF tensor {name[:100]!r} is declared twice")
        names.add(name)
        ndim = r.u32()
        if ndim > 8:
            raise FormatError(f"GGUF tensor {name[:100]!r} has {ndim} dimensions")
        dims = struct.unpack(f"<{ndim}Q", r.take(8 * ndim))
        out.tensors.append(GgufTensor(name, dims, r.u32(), r.u64()))
    data_start = -(-fh.tell() // out.alignment) * out.alignment
    for t in out.tensors:
        if t.offset % out.alignment:
            raise FormatError(f"GGUF tensor {t.name[:100]!r} offset {t.offset} is not aligned to {out.alignment}")
        block = _GGML_SIZES.get(t.ggml_type)  # a type this table does not size: only the offset counts
        end = data_start + t.offset + (-(-t.count // block[0]) * block[1] if block else 0)
        if end > size:
            raise FormatError(f"GGUF tensor {t.name[:100]!r} data ends at byte {end}, past the end of the file ({size})")
    return out


class _GgufReader:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size

    def take(self, n: int) -> bytes:
        pos = self.fh.tell()
        if n < 0 or pos + n > self.size:
            raise FormatError(f"truncated GGUF file: a field of {n} bytes at offset {pos} runs past the end")
        data = self.fh.read(n)
        if len(data) != n:
            raise FormatError("truncated GGUF file")
        return data

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def string(self, keep: bool = True) -> str:
        n = self.u64()
        if n > MAX_GGUF_STRING:
            raise FormatError(f"GGUF string declares {n} bytes (limit {MAX_GGUF_STRING})")
        raw = self.take(n)
        return raw.decode("utf-8", "replace") if keep else ""

    def value(self, vtype: int, keep: bool, depth: int = 0) -> Any:
        if vtype in _GGUF_SCALARS:
            fmt = _GGUF_SCALARS[vtype]
            return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        if vtype == _GGUF_STRING:
            return self.string(keep)
        if vtype == _GGUF_ARRAY:
            itype, count = self.u32(), self.u64()
            if itype in _GGUF_SCALARS:
                self._skip(count * struct.calcsize(_GGUF_SCALARS[itype]))
                return None
            if count > self.size or count > MAX_GGUF_ARRAY_ITEMS:
                raise FormatError(f"GGUF array declares {count} items (limit {MAX_GGUF_ARRAY_ITEMS}); "
                                  f"the file has {self.size} bytes")
            if depth >= 4:
                raise FormatError("GGUF arrays nested more than 4 deep")
            for _ in range(count):
                self.value(itype, False, depth + 1)
            return None
        raise FormatError(f"unknown GGUF value type {vtype}")

    def _skip(self, n: int) -> None:
        pos = self.fh.tell()
        if pos + n > self.size:
            raise FormatError(f"truncated GGUF file: an array of {n} bytes at offset {pos} runs past the end")
        self.fh.seek(n, 1)
