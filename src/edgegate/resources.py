"""Where the shipped data lives: `schemas/` and `rules/` (in the wheel under `edgegate/_data`,
at the repository root in a source checkout)."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The shipped directory `name` (``schemas`` or ``rules``)."""
    installed = _PKG / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PKG.parents[1] / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"edgegate's {name}/ directory is missing from this installation")


def schema_path(name: str) -> Path:
    """A shipped JSON schema by file name, e.g. ``config.schema.json``."""
    return data_dir("schemas") / name
