"""Mutated corpus files and crafted headers: the scanner returns a result (pass, fail or error)
for every one of them — never an exception, never a hang."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from edgegate.findings import Status
from edgegate.model.scan import scan_paths

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "model-scan" / "picklescan"


def _mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(4)
        if op == 0 and b:  # flip a byte
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:  # truncate
            del b[rng.randrange(len(b)) :]
        elif op == 2:  # insert a huge little-endian length
            pos = rng.randrange(len(b) + 1)
            b[pos:pos] = rng.choice([b"\xff" * 8, b"\x00\x00\x00\x80\x00\x00\x00\x00", b"\xff\xff\xff\x7f"])
        elif b:  # duplicate a slice
            i = rng.randrange(len(b))
            b[i:i] = b[i : i + rng.randint(1, 64)]
    return bytes(b)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_corpus_never_raises(tmp_path: Path, seed: int, shared_dir: Path) -> None:
    rng = random.Random(seed)
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".pkl", ".zip", ".npy", ".npz", ".pt", ".bin", ".7z"))
    seen = set()
    for i in range(120):
        src = rng.choice(files)
        data = _mutate(src.read_bytes()[:300_000], rng)
        f = tmp_path / f"m{i}{src.suffix}"
        f.write_bytes(data)
        result = scan_paths([f])
        assert result.status in (Status.PASSED, Status.FAILED, Status.ERROR)
        seen.add(result.status)
    assert Status.ERROR in seen  # mutations do break files, and that is reported


def test_crafted_headers_never_raise(tmp_path: Path) -> None:
    rng = random.Random(7)
    heads = [b"GGUF\x03\x00\x00\x00", b"\x93NUMPY\x01\x00", b"\x93NUMPY\x03\x00", b"PK\x03\x04", b"PK\x05\x06",
             b"7z\xbc\xaf\x27\x1c", b"\x80\x05", b"x\x9c", b"\x1f\x8b", b"BZh9", b"\xfd7zXZ\x00", b"]\x00\x00"]
    suffixes = [".gguf", ".npy", ".npy", ".zip", ".zip", ".7z", ".pkl", ".joblib", ".pkl", ".pkl", ".pkl", ".pkl"]
    for i in range(200):
        k = rng.randrange(len(heads))
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        f = tmp_path / f"c{i}{suffixes[k]}"
        f.write_bytes(heads[k] + body)
        assert scan_paths([f]).status in (Status.PASSED, Status.FAILED, Status.ERROR)
    nested = tmp_path / "nested.gguf"
    arr = b"\x09\x00\x00\x00" + b"\x09\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00" * 5000
    nested.write_bytes(b"GGUF\x03\x00\x00\x00" + (0).to_bytes(8, "little") + (1).to_bytes(8, "little")
                       + (1).to_bytes(8, "little") + b"k" + arr)
    assert scan_paths([nested]).status is Status.ERROR
