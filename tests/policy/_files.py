"""Small helpers shared by the policy tests."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write each ``relative path: text`` under `root` (text dedented, UTF-8), making folders."""
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
