"""One table of model-file formats: magic bytes and suffixes, shared by the model scan and the
ML-BOM. The two use it differently on purpose: the scan falls back to the suffix and fails closed
(a `.pt` that is no known format is parsed as a pickle and errors), the ML-BOM classifies by
content only and calls the rest "other"."""

from __future__ import annotations

import struct
from collections.abc import Callable

from edgegate.io.headers import MAX_SAFETENSORS_HEADER

#: Bytes a caller should read to sniff (a tar header's "ustar" magic is at offset 257).
HEAD_BYTES = 512


def _safetensors(head: bytes) -> bool:
    # a u64 header length within the format's limit, then the JSON object
    return len(head) >= 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] <= MAX_SAFETENSORS_HEADER


#: (format, test on the first bytes), in the order they are tried: unambiguous magics first.
MAGICS: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("zip", lambda h: h.startswith((b"PK\x03\x04", b"PK\x05\x06"))),
    ("7z", lambda h: h.startswith(b"7z\xbc\xaf\x27\x1c")),
    ("npy", lambda h: h.startswith(b"\x93NUMPY")),
    ("gguf", lambda h: h.startswith(b"GGUF")),
    ("hdf5", lambda h: h.startswith(b"\x89HDF\r\n\x1a\n")),
    ("tflite", lambda h: h[4:8] == b"TFL3"),
    ("pickle", lambda h: len(h) >= 2 and h[0] == 0x80 and h[1] <= 5),
    ("tar", lambda h: len(h) >= 262 and h[257:262] == b"ustar"),
    ("safetensors", _safetensors),
)

#: Suffix → the format a file with that name claims to be.
SUFFIXES: dict[str, str] = {
    ".safetensors": "safetensors",
    ".onnx": "onnx",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".npy": "npy",
    ".npz": "zip",
    ".keras": "zip",
    ".gguf": "gguf",
    ".tflite": "tflite",
    **dict.fromkeys((".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".p", ".bin", ".dat", ".data"), "pickle"),
}


def by_magic(head: bytes) -> str | None:
    """The format the first bytes prove (see `MAGICS`), or None."""
    for fmt, test in MAGICS:
        if test(head):
            return fmt
    return None


def suffix_of(name: str) -> str:
    """The lower-case last suffix of a file or member name ('' when it has none)."""
    base = name.rsplit("/", 1)[-1]
    return "." + base.rsplit(".", 1)[-1].lower() if "." in base else ""


def by_suffix(name: str) -> str | None:
    """The format a name claims (see `SUFFIXES`), or None."""
    return SUFFIXES.get(suffix_of(name))
