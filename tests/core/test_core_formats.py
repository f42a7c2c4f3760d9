"""io/formats: one table of magics and suffixes; the scan falls back to the suffix (fails closed),
the ML-BOM classifies by content."""

from __future__ import annotations

import pickle
from pathlib import Path

from edgegate.io import formats
from edgegate.model.scan.formats import sniff
from edgegate.sbom.mlbom import detect_format


def test_magics_name_the_same_format_for_both(tmp_path: Path) -> None:
    heads = {
        "npy": b"\x93NUMPY\x01\x00" + b"\0" * 8,
        "gguf": b"GGUF\x03\0\0\0" + b"\0" * 8,
        "hdf5": b"\x89HDF\r\n\x1a\n" + b"\0" * 8,
        "pickle": pickle.dumps({"a": 1}, protocol=4),
        "safetensors": b"\x02\0\0\0\0\0\0\0{}",
    }
    mlbom_name = {"npy": "numpy"}
    for fmt, head in heads.items():
        assert formats.by_magic(head) == fmt
        assert sniff(head, "blob") == fmt
        f = tmp_path / "blob"
        f.write_bytes(head)
        assert detect_format(f, head) == mlbom_name.get(fmt, fmt)


def test_fallbacks_differ_on_purpose(tmp_path: Path) -> None:
    junk = b"\x01\x02\x03\x04not a model"
    f = tmp_path / "model.pt"
    f.write_bytes(junk)
    assert sniff(junk, "model.pt") == "pickle"  # the scan parses it as what its name claims
    assert detect_format(f, junk) == "other"  # the ML-BOM does not call it a pickle
    assert sniff(junk, "model.xyz") is None
