"""Issue 15's model-scan defects: each was a crash, a hang, a silent pass or a whole-file read."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from edgegate.errors import InputError
from edgegate.findings import Status
from edgegate.model.scan import scan_paths

GiB = 1024**3


def test_safetensors_header_with_list_dtype_is_a_format_error(tmp_path: Path) -> None:
    header = json.dumps({"": {"dtype": [], "shape": [], "data_offsets": []}}).encode()
    f = tmp_path / "m.safetensors"
    f.write_bytes(struct.pack("<Q", len(header)) + header)
    result = scan_paths([f])
    assert result.status is Status.ERROR
    assert "dtype" in result.errors[0]


def _sparse(path: Path, head: bytes, size: int = GiB) -> Path:
    with path.open("wb") as fh:
        fh.write(head)
        fh.truncate(size)  # a hole: no disk space, reads as zeros
    return path


@pytest.mark.parametrize(
    "head",
    [
        b"GGUF" + struct.pack("<IQQ", 3, 0, 40_000_000),  # millions of empty keys
        b"GGUF" + struct.pack("<IQQ", 3, 40_000_000, 0),  # millions of empty tensors
        b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k" + struct.pack("<IIQ", 9, 8, 100_000_000),
    ],
    ids=["keys", "tensors", "string-array"],
)
def test_sparse_gguf_is_refused_without_walking_it(tmp_path: Path, head: bytes) -> None:
    result = scan_paths([_sparse(tmp_path / "m.gguf", head)])
    assert result.status is Status.ERROR


def test_gguf_duplicate_keys_are_refused(tmp_path: Path) -> None:
    kv = struct.pack("<Q", 1) + b"k" + struct.pack("<I", 4) + struct.pack("<I", 7)
    f = tmp_path / "d.gguf"
    f.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + kv + kv)
    assert scan_paths([f]).status is Status.ERROR


def test_sparse_onnx_is_refused_from_its_header(tmp_path: Path) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = scan_paths([_sparse(tmp_path / "m.onnx", b"")])
    assert result.status is Status.ERROR
    # refused from the first bytes: nowhere near the 1 GiB the file declares was held in memory
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 256 * 1024  # KiB


@pytest.mark.parametrize("data", [b"", b"\x08\x07"], ids=["empty", "no-graph"])
def test_onnx_without_a_graph_is_an_error(tmp_path: Path, data: bytes) -> None:
    f = tmp_path / "m.onnx"
    f.write_bytes(data)
    assert scan_paths([f]).status is Status.ERROR


def test_empty_folder_is_nothing_to_judge(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError):
        scan_paths([empty])
    res = cli("model", "scan", empty)
    assert res.exit_code == 2
    assert "nothing to judge" in res.stdout + res.stderr
    # a folder with no model format in it is the same
    (empty / "README.md").write_text("# a model card\n")
    assert cli("model", "scan", empty).exit_code == 2
