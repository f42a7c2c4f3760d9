"""Mutated real models (bit flips, truncations, inserted bytes — seeded, bounded): `quant_facts`
either reports or raises edgegate's InputError; nothing else escapes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from edgegate.errors import EdgegateError
from edgegate.model.quant import quant_facts


@pytest.mark.parametrize("key", ["mlp_qdq", "conv_dynamic"])
def test_mutated_models_never_crash(onnx_models: dict[str, Path], tmp_path: Path, key: str) -> None:
    good = onnx_models[key].read_bytes()
    rng = random.Random(key)
    outcomes = {"facts": 0, "refused": 0}
    target = tmp_path / "m.onnx"
    for _ in range(300):
        data = bytearray(good)
        kind = rng.randrange(4)
        pos = rng.randrange(len(data))
        if kind == 0:
            data[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del data[pos:]
        elif kind == 2:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
        else:
            data[pos] = rng.choice([0x00, 0x7F, 0x80, 0xFF])
        target.write_bytes(bytes(data))
        try:
            facts = quant_facts(target)
        except EdgegateError:
            outcomes["refused"] += 1
            continue
        outcomes["facts"] += 1
        assert facts.size_on_disk == len(data)
    assert outcomes["refused"] > 0 and outcomes["facts"] > 0, outcomes
