"""Format sniffing and the header checks of non-pickle model formats: NumPy `.npy`,
safetensors, GGUF and Keras `config.json`. Every length read from a file is checked against
the file size before anything is allocated."""

from __future__ import annotations

import ast
import json
import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".p", ".bin", ".dat", ".data"})
#: Suffixes shared with raw weight files: in a directory walk these are only reported when they
#: look like a pickle.
AMBIGUOUS_SUFFIXES = frozenset({".bin", ".dat", ".data"})
MODEL_SUFFIXES = PICKLE_SUFFIXES | frozenset(
    {".npy", ".npz", ".zip", ".7z", ".onnx", ".safetensors", ".gguf", ".h5", ".hdf5", ".keras", ".mar"}
)

COMPRESSED_SUFFIXES = frozenset({".gz", ".z", ".zlib", ".bz2", ".xz", ".lzma", ".lz4"})
#: Suffixes that say "pickle" on their own (a protocol 0/1 pickle has no magic bytes).
STRONG_PICKLE_SUFFIXES = PICKLE_SUFFIXES - AMBIGUOUS_SUFFIXES
#: Bytes read to sniff a format (a tar header's "ustar" magic is at offset 257).
HEAD_BYTES = 512
#: Opcodes a protocol 0/1 pickle starts with (MARK, GLOBAL, INST, containers, scalars).
_PICKLE0_FIRST = frozenset(b"(ci]})ILFSVNKJMGUXT")

MAX_NPY_HEADER = 1 << 20
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
"""The safetensors library's own limit on the JSON header."""


class FormatError(Exception):
    """The file is not a valid instance of the format it claims to be."""


def sniff(head: bytes, name: str) -> str | None:
    """The format of a file from its first bytes (`HEAD_BYTES` when the file has them) and name:
    the magic bytes of `edgegate.io.formats`, then, failing closed, the format the suffix claims
    (a `.pt` that is no known format is parsed as a pickle, and its errors are reported)."""
    from edgegate.io import formats as _table

    suffix = _suffix(name)
    magic = _table.by_magic(head)
    if magic is not None and magic not in ("safetensors", "tflite"):
        return magic
    kind = compression_of(head)
    if kind in ("gzip", "bz2", "xz") or (kind is not None and (suffix in PICKLE_SUFFIXES or suffix in COMPRESSED_SUFFIXES)):
        return "compressed"
    if magic == "safetensors" or suffix == ".safetensors":
        return "safetensors"
    claimed = _table.by_suffix(name)
    if claimed in ("onnx", "hdf5", "npy", "pickle"):
        return claimed
    if maybe_pickle(head):
        return "pickle"
    return None


def maybe_pickle(head: bytes) -> bool:
    """Whether bytes without a PROTO opcode may start a protocol 0/1 pickle (`cos\nsystem\n…`,
    `(dp0\n…`): the first opcodes parse. Only a hint: the whole stream decides (see
    `weak_pickle`)."""
    if not head or head[0] not in _PICKLE0_FIRST:
        return False
    import io
    import pickletools

    count = 0
    try:
        for op, _arg, _pos in pickletools.genops(io.BytesIO(head)):
            count += 1
            if op.name == "STOP" or count >= 2:
                return True
    except Exception:  # pickletools raises ValueError and friends on bytes that are no pickle
        return False
    return False


def weak_pickle(head: bytes, name: str) -> bool:
    """A pickle known only from its content (no PROTO magic, no pickle suffix), or raw weights
    with an ambiguous suffix: in a folder walk it counts as a pickle only when the stream shows it
    is one (see the engine)."""
    suffix = _suffix(name)
    if suffix in AMBIGUOUS_SUFFIXES:
        return True
    has_magic = len(head) >= 2 and head[0] == 0x80 and head[1] <= 5
    return not has_magic and suffix not in STRONG_PICKLE_SUFFIXES


def compression_of(head: bytes) -> str | None:
    """The compression a joblib (or plain) compressed pickle uses, from its magic bytes."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"
    if head.startswith(b"]\x00\x00"):
        return "lzma"
    return None


def decompress_bounded(fh: BinaryIO, kind: str, cap: int) -> bytes:
    """Decompress a whole stream, refusing more than `cap` output bytes (zip-bomb safe)."""
    import bz2
    import lzma
    import zlib

    if kind == "gzip":
        d: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif kind == "zlib":
        d = zlib.decompressobj()
    elif kind == "bz2":
        d = bz2.BZ2Decompressor()
    elif kind == "xz":
        d = lzma.LZMADecompressor(lzma.FORMAT_XZ)
    elif kind == "lzma":
        d = lzma.LZMADecompressor(lzma.FORMAT_ALONE)
    else:
        raise FormatError(f"{kind}-compressed file: edgegate cannot decompress it, so it was not scanned")
    out = bytearray()
    try:
        if kind in ("gzip", "zlib"):
            while not d.eof:
                chunk = d.unconsumed_tail or fh.read(1 << 20)
                if not chunk:
                    break
                out += d.decompress(chunk, cap + 1 - len(out))
                if len(out) > cap:
                    raise FormatError(f"decompresses to more than the {cap}-byte limit")
        else:
            while not d.eof:
                chunk = fh.read(1 << 20) if d.needs_input else b""
                if d.needs_input and not chunk:
                    break
                out += d.decompress(chunk, max_length=cap + 1 - len(out))
                if len(out) > cap:
                    raise FormatError(f"decompresses to more than the {cap}-byte limit")
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise FormatError(f"corrupt {kind} data: {exc}") from None
    if not d.eof:
        raise FormatError(f"truncated {kind} stream")
    return bytes(out)


def suffix_of(name: str) -> str:
    """The lower-case last suffix of a file or member name ('' when it has none)."""
    return _suffix(name)


def _suffix(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return "." + base.rsplit(".", 1)[-1].lower() if "." in base else ""


# -- NumPy ---------------------------------------------------------------------------------


@dataclass
class NpyHeader:
    descr: Any
    shape: tuple[int, ...]
    data_offset: int
    has_object: bool
    itemsize: int | None


def read_npy_header(fh: BinaryIO, size: int) -> NpyHeader:
    """Parse a `.npy` header with `ast.literal_eval` (a literal, never code)."""
    head = fh.read(12)
    if len(head) < 10 or not head.startswith(b"\x93NUMPY"):
        raise FormatError("not a NumPy .npy file (bad magic)")
    major = head[6]
    if major == 1:
        hlen = struct.unpack("<H", head[8:10])[0]
        start = 10
    elif major in (2, 3):
        if len(head) < 12:
            raise FormatError("truncated .npy header")
        hlen = struct.unpack("<I", head[8:12])[0]
        start = 12
    else:
        raise FormatError(f"unsupported .npy format version {major}")
    if hlen > MAX_NPY_HEADER or start + hlen > size:
        raise FormatError(f".npy header declares {hlen} bytes; the file has {size}")
    fh.seek(start)
    raw = fh.read(hlen)
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
    # the dtype as numpy.load builds it (`descr_to_dtype` turns a literal into a dtype; it never
    # imports or calls anything named in the file): 'object', [('a', 'object')], nested fields
    import numpy as np

    try:
        from numpy.lib.format import descr_to_dtype

        dtype = descr_to_dtype(descr)
    except Exception:  # numpy raises TypeError/ValueError/KeyError on a malformed descr
        raise FormatError(f".npy header has an invalid dtype {str(descr)[:100]!r}") from None
    if not isinstance(dtype, np.dtype):
        raise FormatError(f".npy header has an invalid dtype {str(descr)[:100]!r}")
    has_object = bool(dtype.hasobject)
    itemsize = None if has_object else int(dtype.itemsize)
    return NpyHeader(descr, shape, start + hlen, has_object, itemsize)


def npy_data_problem(header: NpyHeader, size: int) -> str | None:
    """For plain (non-object) arrays: does the data length match shape × itemsize?"""
    if header.has_object or header.itemsize is None:
        return None
    expected = math.prod(header.shape) * header.itemsize
    have = size - header.data_offset
    if have < expected:
        return f"array data truncated: {have} bytes, shape {header.shape} needs {expected}"
    return None


# -- safetensors ---------------------------------------------------------------------------

_ST_DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "C64": 64, "C128": 128,
}


@dataclass
class SafetensorsInfo:
    tensors: int
    metadata: dict[str, str] = field(default_factory=dict)
    data_bytes: int = 0


def check_safetensors(fh: BinaryIO, size: int) -> SafetensorsInfo:
    """Check that the header is bounded JSON and that every tensor's offsets are consistent with
    its dtype and shape, lie inside the file and do not overlap."""
    raw = fh.read(8)
    if len(raw) < 8:
        raise FormatError("truncated safetensors file (no header length)")
    n = struct.unpack("<Q", raw)[0]
    if n > MAX_SAFETENSORS_HEADER:
        raise FormatError(f"safetensors header declares {n} bytes (limit {MAX_SAFETENSORS_HEADER})")
    if 8 + n > size:
        raise FormatError(f"safetensors header declares {n} bytes but the file has only {size}")
    text = fh.read(n)
    try:
        header = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FormatError(f"safetensors header is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(header, dict):
        raise FormatError("safetensors header is not a JSON object")
    data_len = size - 8 - n
    spans: list[tuple[int, int, str]] = []
    meta: dict[str, str] = {}
    for key, value in header.items():
        if key == "__metadata__":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise FormatError("safetensors __metadata__ must map strings to strings")
            meta = {str(k): v for k, v in value.items()}
            continue
        if not isinstance(value, dict):
            raise FormatError(f"tensor {key!r}: entry is not an object")
        dtype, shape, offsets = value.get("dtype"), value.get("shape"), value.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in _ST_DTYPE_BITS:
            raise FormatError(f"tensor {key!r}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise FormatError(f"tensor {key!r}: invalid shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and o >= 0 for o in offsets)
            or offsets[0] > offsets[1]
        ):
            raise FormatError(f"tensor {key!r}: invalid data_offsets {offsets!r}")
        begin, end = offsets
        if end > data_len:
            raise FormatError(f"tensor {key!r}: data_offsets end {end} beyond the data ({data_len} bytes)")
        nbits = math.prod(shape) * _ST_DTYPE_BITS[dtype]
        if (nbits + 7) // 8 != end - begin:
            raise FormatError(f"tensor {key!r}: {end - begin} bytes for {dtype}{shape} (needs {(nbits + 7) // 8})")
        spans.append((begin, end, key))
    spans.sort()
    cursor = 0
    for begin, end, key in spans:
        if begin < cursor:
            raise FormatError(f"tensor {key!r} overlaps the previous tensor")
        if begin > cursor:
            raise FormatError(f"gap of {begin - cursor} unused bytes before tensor {key!r}")
        cursor = end
    if cursor != data_len:
        raise FormatError(f"{data_len - cursor} trailing bytes after the last tensor")
    return SafetensorsInfo(len(spans), meta, data_len)


# -- GGUF ----------------------------------------------------------------------------------

_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
MAX_GGUF_STRING = 64 * 1024 * 1024
#: Far above any real model (tens of keys; tensors in the thousands; vocabularies below 1M), and
#: low enough that a sparse file declaring millions of entries is refused in well under a second.
MAX_GGUF_KEYS = 1 << 16
MAX_GGUF_TENSORS = 1 << 20
MAX_GGUF_ARRAY_ITEMS = 1 << 22


@dataclass
class GgufInfo:
    version: int
    tensors: int
    metadata_keys: int
    chat_templates: dict[str, str] = field(default_factory=dict)
    architecture: str | None = None


class _GgufReader:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size

    def take(self, n: int) -> bytes:
        pos = self.fh.tell()
        if n < 0 or pos + n > self.size:
            raise FormatError(f"GGUF field of {n} bytes at offset {pos} runs past the end of the file")
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
            itype = self.u32()
            count = self.u64()
            if itype in _GGUF_SCALARS:
                width = struct.calcsize(_GGUF_SCALARS[itype])
                self.take_skip(count * width)
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

    def take_skip(self, n: int) -> None:
        pos = self.fh.tell()
        if pos + n > self.size:
            raise FormatError(f"GGUF array of {n} bytes at offset {pos} runs past the end of the file")
        self.fh.seek(n, 1)


def check_gguf(fh: BinaryIO, size: int) -> GgufInfo:
    """Header sanity (magic, version, counts bounded by the file size) and the metadata keys,
    keeping chat templates (`tokenizer.chat_template*`) and the architecture."""
    r = _GgufReader(fh, size)
    if r.take(4) != b"GGUF":
        raise FormatError("not a GGUF file (bad magic)")
    version = r.u32()
    if version not in (1, 2, 3):
        raise FormatError(f"unsupported GGUF version {version}")
    tensors = r.u64()
    kvs = r.u64()
    if tensors > size // 24 + 1 or kvs > size // 12 + 1:
        raise FormatError(f"GGUF header declares {tensors} tensors and {kvs} keys; impossible in {size} bytes")
    if tensors > MAX_GGUF_TENSORS or kvs > MAX_GGUF_KEYS:
        raise FormatError(f"GGUF header declares {tensors} tensors and {kvs} keys (limits {MAX_GGUF_TENSORS} "
                          f"and {MAX_GGUF_KEYS})")
    info = GgufInfo(version, tensors, kvs)
    alignment = 32
    keys: set[str] = set()
    for _ in range(kvs):
        key = r.string()
        if not key or key in keys:
            # llama.cpp refuses a file with a duplicate key; an empty one names nothing
            raise FormatError(f"GGUF metadata key {key!r} is empty or duplicated")
        keys.add(key)
        vtype = r.u32()
        wanted = key.startswith("tokenizer.chat_template") or key == "general.architecture"
        value = r.value(vtype, wanted or key == "general.alignment")
        if key.startswith("tokenizer.chat_template") and isinstance(value, str):
            info.chat_templates[key] = value
        elif key == "general.architecture" and isinstance(value, str):
            info.architecture = value
        elif key == "general.alignment":
            if not isinstance(value, int) or value <= 0 or value & (value - 1):
                raise FormatError(f"GGUF general.alignment {value!r} is not a power of two")
            alignment = value
    spans: list[tuple[str, int, int | None]] = []
    names: set[str] = set()
    for _ in range(tensors):
        name = r.string()
        if name in names:
            raise FormatError(f"GGUF tensor {name!r} is declared twice")
        names.add(name)
        ndim = r.u32()
        if ndim > 8:
            raise FormatError(f"GGUF tensor {name!r} has {ndim} dimensions")
        dims = struct.unpack(f"<{ndim}Q", r.take(8 * ndim))
        ggml_type = r.u32()
        offset = r.u64()
        spans.append((name, offset, _ggml_nbytes(ggml_type, math.prod(dims))))
    data_start = -(-fh.tell() // alignment) * alignment
    for name, offset, nbytes in spans:
        if offset % alignment:
            raise FormatError(f"GGUF tensor {name!r} offset {offset} is not aligned to {alignment}")
        end = data_start + offset + (nbytes or 0)
        if end > size:
            raise FormatError(f"GGUF tensor {name!r} data ends at byte {end}, past the end of the file ({size})")
    return info


#: ggml type → (elements per block, bytes per block), for the types whose size is fixed.
_GGML_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 30: (1, 2),
}


def _ggml_nbytes(ggml_type: int, count: int) -> int | None:
    block = _GGML_SIZES.get(ggml_type)
    if block is None:
        return None  # a type this table does not size: only the offset is checked
    per, nbytes = block
    return -(-count // per) * nbytes


#: Jinja constructs that reach Python internals: a chat template using them is a server-side
#: template injection (CVE-2024-34359 class).
TEMPLATE_RED_FLAGS = (
    "__class__", "__globals__", "__builtins__", "__subclasses__", "__import__", "__mro__",
    "__init__", "__base__", "os.popen", "subprocess", "eval(", "exec(", "import os", "lipsum", "cycler",
    "joiner", "namespace.__",
)


# -- Keras ---------------------------------------------------------------------------------


@dataclass
class KerasLayerIssue:
    pointer: str
    class_name: str
    module: str | None
    kind: str  # "lambda" | "custom"


_KERAS_MODULE_PREFIXES = ("keras", "tensorflow.keras", "tf_keras", "builtins")


def keras_config_issues(config: Any) -> Iterator[KerasLayerIssue]:
    """`Lambda` layers (marshalled Python bytecode, run on load) and objects from modules
    outside Keras (custom code the loader imports), anywhere in a Keras model config."""
    stack: list[tuple[str, Any]] = [("", config)]
    seen = 0
    while stack:
        pointer, node = stack.pop()
        seen += 1
        if seen > 1_000_000:
            break
        if isinstance(node, dict):
            cls = node.get("class_name")
            if isinstance(cls, str):
                module = node.get("module")
                module_s = module if isinstance(module, str) else None
                if cls in ("Lambda", "TFOpLambda") or cls.endswith(">Lambda"):
                    yield KerasLayerIssue(pointer or "/", cls, module_s, "lambda")
                elif module_s is not None and not module_s.startswith(_KERAS_MODULE_PREFIXES):
                    yield KerasLayerIssue(pointer or "/", cls, module_s, "custom")
            for k, v in node.items():
                stack.append((f"{pointer}/{_esc(str(k))}", v))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                stack.append((f"{pointer}/{i}", v))


def _esc(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
