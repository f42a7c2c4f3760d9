"""The shared weight-file header readers (`edgegate.io.headers`): the model scan and the ML-BOM
judge the same bytes through the same reader."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import pytest

from edgegate.io import headers
from edgegate.model.scan import scan_paths
from edgegate.sbom.mlbom import BrokenHeaderError, scan_model


def _gguf(version: int, tensors: list[tuple[str, int, int]]) -> bytes:
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), 0)
    for name, count, offset in tensors:
        raw = name.encode()
        out += struct.pack("<Q", len(raw)) + raw + struct.pack("<I", 1) + struct.pack("<Q", count)
        out += struct.pack("<IQ", 0, offset)  # F32
    return out + b"\0" * (-len(out) % 32)


def test_gguf_tensor_past_the_end_is_broken_for_scan_and_mlbom(tmp_path: Path) -> None:
    ok = _gguf(3, [("w", 4, 0)]) + b"\0" * 16
    short = _gguf(3, [("w", 4000, 0)]) + b"\0" * 16
    assert len(headers.read_gguf(io.BytesIO(ok), len(ok), lambda k: False).tensors) == 1
    with pytest.raises(headers.FormatError, match="past the end"):
        headers.read_gguf(io.BytesIO(short), len(short), lambda k: False)
    d = tmp_path / "m"
    d.mkdir()
    (d / "model.gguf").write_bytes(short)
    with pytest.raises(BrokenHeaderError, match="past the end"):
        scan_model(str(d), progress=False)
    assert scan_paths([d / "model.gguf"]).errors


def test_gguf_v1_is_refused_not_misparsed() -> None:
    # v1 used 32-bit counts: read as v2 its fields would be misaligned
    data = b"GGUF" + struct.pack("<III", 1, 0, 0) + b"\0" * 32
    with pytest.raises(headers.FormatError, match="version 1"):
        headers.read_gguf(io.BytesIO(data), len(data), lambda k: False)


def test_safetensors_structure_shared_and_layout_strict_for_the_scan() -> None:
    # an unknown dtype: structurally fine (the ML-BOM counts it), refused by the scan's layout check
    body = json.dumps({"w": {"dtype": "X9", "shape": [2], "data_offsets": [0, 3]}}).encode()
    data = struct.pack("<Q", len(body)) + body + b"\0" * 3
    header = headers.read_safetensors(io.BytesIO(data), len(data))
    assert [(t.name, t.count) for t in header.tensors] == [("w", 2)]
    assert "unknown dtype" in (headers.safetensors_layout_problem(header) or "")
    # a bool is not an offset
    body = json.dumps({"w": {"dtype": "U8", "shape": [1], "data_offsets": [False, True]}}).encode()
    data = struct.pack("<Q", len(body)) + body + b"\0"
    with pytest.raises(headers.FormatError):
        headers.read_safetensors(io.BytesIO(data), len(data))


def test_npy_header_reads_forward_only() -> None:
    body = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"
    body += b" " * (-(len(body) + 11) % 64) + b"\n"
    data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body + b"\0" * 12

    class _Forward(io.BytesIO):
        def seek(self, *a: object) -> int:  # a zip member stream cannot seek
            raise AssertionError("seek")

    h = headers.read_npy_header(_Forward(data), len(data))
    assert h.shape == (3,) and h.itemsize == 4 and h.data_offset == 10 + len(body)
