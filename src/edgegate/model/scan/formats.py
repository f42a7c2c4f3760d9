"""Format sniffing for the model scan, its strict judgement of NumPy `.npy`, safetensors and GGUF
headers (read by `edgegate.io.headers`, shared with the ML-BOM) and Keras `config.json` checks.
Every length read from a file is checked against the file size before anything is allocated."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from edgegate.io import headers as _headers
from edgegate.io.headers import FormatError, NpyHeader, read_npy_header

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
#: Opcodes a pickle without a PROTO opcode may start with (pickle.load needs none): protocol 0/1
#: (MARK, GLOBAL, INST, containers, scalars) and the binary strings, bytes, booleans, longs,
#: sets and FRAME of protocols 2-5 (`\x8c` SHORT_BINUNICODE starts `STACK_GLOBAL` operands).
_PICKLE0_FIRST = frozenset(b"(ci]})ILFSVNKJMGUXTCB" + bytes([0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x95, 0x96]))

__all__ = ["FormatError", "NpyHeader", "read_npy_header"]


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


# -- NumPy, safetensors, GGUF: the header readers of `edgegate.io.headers` -------------------


def npy_data_problem(header: NpyHeader, size: int) -> str | None:
    """For plain (non-object) arrays: does the data length match shape × itemsize?"""
    if header.has_object or header.itemsize is None:
        return None
    expected = math.prod(header.shape) * header.itemsize
    have = size - header.data_offset
    if have < expected:
        return f"array data truncated: {have} bytes, shape {header.shape} needs {expected}"
    return None


@dataclass
class SafetensorsInfo:
    tensors: int
    metadata: dict[str, str] = field(default_factory=dict)
    data_bytes: int = 0


def check_safetensors(fh: BinaryIO, size: int) -> SafetensorsInfo:
    """Check that the header is bounded JSON and that every tensor's offsets are consistent with
    its dtype and shape, lie inside the file and do not overlap."""
    header = _headers.read_safetensors(fh, size)
    problem = _headers.safetensors_layout_problem(header)
    if problem is not None:
        raise FormatError(problem)
    meta = header.metadata if isinstance(header.metadata, dict) else {}
    return SafetensorsInfo(len(header.tensors), {str(k): v for k, v in meta.items()}, header.data_bytes)


@dataclass
class GgufInfo:
    version: int
    tensors: int
    metadata_keys: int
    chat_templates: dict[str, str] = field(default_factory=dict)
    architecture: str | None = None


def check_gguf(fh: BinaryIO, size: int) -> GgufInfo:
    """Header sanity (magic, version, counts bounded by the file size, tensor data inside the
    file) and the metadata keys, keeping chat templates (`tokenizer.chat_template*`) and the
    architecture."""
    header = _headers.read_gguf(
        fh, size, lambda k: k.startswith("tokenizer.chat_template") or k == "general.architecture"
    )
    info = GgufInfo(header.version, len(header.tensors), header.metadata_keys)
    for key, value in header.metadata.items():
        if key.startswith("tokenizer.chat_template") and isinstance(value, str):
            info.chat_templates[key] = value
        elif key == "general.architecture" and isinstance(value, str):
            info.architecture = value
    return info


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
    kind: str  # "lambda" | "object" (an object Keras resolves from `module`)
    names: tuple[str, ...] = ()
    """What the loader looks up in `module`: the class name (the function name, `config`, for
    `class_name: "function"`) and the registered name."""


#: Dicts and lists a Keras config walk visits at most; more is an error, never a clean config
#: (scalars are not counted: only a dict can be a layer).
KERAS_MAX_NODES = 1_000_000


def keras_config_issues(config: Any) -> Iterator[KerasLayerIssue]:
    """`Lambda` layers and `__lambda__` objects (marshalled Python bytecode, run on load) and every object with a
    `module` (which the loader imports, then looks its names up in), anywhere in a Keras model
    config; the caller judges the modules. A config
    with more than `KERAS_MAX_NODES` dicts and lists is a `FormatError` (after the issues found
    so far): the rest of it could not be checked."""
    stack: list[tuple[str, Any]] = [("", config)]
    lambdas: list[str] = []
    seen = 0
    while stack:
        pointer, node = stack.pop()
        seen += 1
        if seen > KERAS_MAX_NODES:
            raise FormatError(f"Keras config has more than {KERAS_MAX_NODES} objects and arrays: "
                              "the rest of it was not checked")
        if isinstance(node, dict):
            cls = node.get("class_name")
            if isinstance(cls, str):
                module = node.get("module")
                module_s = module if isinstance(module, str) else None
                if cls in ("Lambda", "TFOpLambda") or cls.endswith(">Lambda"):
                    lambdas.append(pointer)
                    yield KerasLayerIssue(pointer or "/", cls, module_s, "lambda")
                elif cls == "__lambda__" and not any(pointer.startswith(lp + "/") for lp in lambdas):
                    # deserialize_keras_object func_loads it wherever it is (an activation, an
                    # initializer); inside a Lambda layer it is that layer's function, reported once
                    yield KerasLayerIssue(pointer or "/", cls, module_s, "lambda")
                elif module_s is not None:
                    yield KerasLayerIssue(pointer or "/", cls, module_s, "object", _keras_names(node, cls))
            items: Iterator[tuple[str, Any]] = ((str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            items = ((str(i), v) for i, v in enumerate(node))
        else:
            continue
        for key, value in items:
            if isinstance(value, (dict, list)):
                stack.append((f"{pointer}/{_esc(key)}", value))


def _keras_names(node: dict[str, Any], cls: str) -> tuple[str, ...]:
    """keras/src/saving/serialization_lib.py `_retrieve_class_or_fn`: `vars(module).get(name)`,
    then `.get(registered_name)`; a function's name is its `config`, a class's its `class_name`
    (and `registered_name` defaults to it)."""
    first = node.get("config") if cls == "function" else cls
    registered = node.get("registered_name", cls)
    return tuple(n for n in (first, registered) if isinstance(n, str) and n)


def _esc(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
