"""Helpers shared by the sign/verify tests."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

PASSWORD = "correct horse battery staple"


def make_model(root: Path) -> Path:
    """A small model directory with nested files and git metadata (which is ignored)."""
    model = root / "tiny-model"
    (model / "weights").mkdir(parents=True)
    (model / "config.json").write_text('{"hidden": 8}\n')
    (model / "weights" / "part-0.bin").write_bytes(os.urandom(300_000))
    (model / "weights" / "part-1.bin").write_bytes(os.urandom(5_000))
    (model / "tokenizer.txt").write_text("a b c\n")
    (model / ".git").mkdir()
    (model / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    # Past the "racy" window so incremental re-signing trusts the recorded stat fields.
    time.sleep(0.06)
    return model


def reasons(gate: dict[str, Any]) -> str:
    """All blocking findings' messages, joined."""
    return " | ".join(f["message"] for f in gate.get("findings", []) if f.get("blocking"))
