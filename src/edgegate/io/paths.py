"""Paths that come from config files or from the inputs under review stay inside the project.

In a pull request the config and the inputs are the author's: an output path of ``../../x``, an
absolute path, a symlink pointing out of the checkout or a requirements include of
``/etc/passwd`` must not make edgegate read or write there. Error messages quote at most a short,
sanitised excerpt of a file's contents (`excerpt`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from edgegate.errors import InputError

ROOT_MARKERS = (".git", "edgegate.toml", ".edgegate.toml")
"""What marks a project's root folder when no config names it."""

EXCERPT_CHARS = 40


def project_root(start: str | Path) -> Path:
    """The nearest folder at or above `start` (a file's folder, or a folder) holding one of
    `ROOT_MARKERS`; `start`'s own folder when none does. Found from where `start` is named, not
    where a symlink in it leads (a committed ``m -> ../outside`` is still in the checkout that
    holds it); the folder returned is resolved."""
    p = Path(os.path.abspath(start))
    here = p if p.is_dir() and not p.is_symlink() else p.parent
    for folder in (here, *here.parents):
        if any(os.path.lexists(folder / marker) for marker in ROOT_MARKERS):
            return folder.resolve()
    return here.resolve()


def is_inside(path: str | Path, root: str | Path) -> bool:
    """Whether `path`, with every symlink resolved, is `root` or below it."""
    real = Path(os.path.realpath(path))
    base = Path(os.path.realpath(root))
    return real == base or base in real.parents


def confine(path: str | Path, root: str | Path, what: str, shown: str | Path | None = None) -> Path:
    """`path` (relative paths against `root`) when it resolves inside `root`, else an
    `InputError` naming `what` (e.g. "output path", "included file")."""
    p = Path(path)
    candidate = p if p.is_absolute() else Path(root) / p
    if not is_inside(candidate, root):
        raise InputError(f"{what} resolves outside the project folder {Path(root).resolve()}", shown or p)
    return candidate


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A short quotable excerpt of `text`: printable ASCII only (anything else becomes ``?``),
    at most `limit` characters (``...`` marks a cut). For messages about files inside the project."""
    clean = "".join(ch if " " <= ch <= "~" else "?" for ch in text[: limit + 1])
    return clean if len(clean) <= limit else clean[:limit] + "..."


def check_distinct_outputs(outputs: Iterable[tuple[str, str | Path | None]]) -> None:
    """Refuse two outputs naming the same file (``--private K --public K``): `outputs` are
    (option name, path) pairs; None paths (not written) are skipped."""
    seen: dict[str, str] = {}
    for name, path in outputs:
        if path is None or str(path) == "-":
            continue
        key = os.path.normcase(os.path.realpath(path))
        if key in seen:
            raise InputError(f"{seen[key]} and {name} name the same file; give each its own", path)
        seen[key] = name
