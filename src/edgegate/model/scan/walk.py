"""The folder walk of a model scan: every entry, hidden ones too (a Hugging Face folder has
`.cache/`; a loader opens any path it is given) except a `.git` folder (listed as skipped),
symlinked folders followed while their real path stays inside the folder scanned (each real folder
once, so cycles end), symlinked files scanned while their target stays inside it (a link leading
out is an error naming the link and is never read: `env.json -> /proc/self/environ`), and whatever
is not scanned said so: skipped entries and folders that cannot be followed come back with a
reason."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Walk:
    files: list[Path] = field(default_factory=list)
    """Regular files (or symlinks to one) to scan, ONNX models first, then by path."""
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    """Entries not scanned that cannot hold anything a loader runs (FIFOs, dangling links)."""
    problems: list[tuple[Path, str]] = field(default_factory=list)
    """Folders that could not be walked and links leading outside the folder scanned: an error of
    the gate, never a silent gap."""


def walk_folder(root: Path) -> Walk:
    out = Walk()
    try:
        real_root = root.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        out.problems.append((root, f"cannot resolve the folder: {_why(exc)}"))
        return out
    seen = {real_root}
    stack = [root]
    links: list[Path] = []
    """Symlinked folders, followed once every real folder is known (so a folder reached both
    ways is reported under its own path)."""
    while stack or links:
        if not stack:
            _follow(out, links.pop(0), real_root, seen, stack)
            continue
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            out.problems.append((folder, f"cannot list the folder: {_why(exc)}"))
            continue
        for entry in reversed(entries):  # popped in name order
            _visit(out, Path(entry.path), entry, real_root, seen, stack, links)
    out.files.sort(key=lambda c: (c.suffix.lower() != ".onnx", str(c)))
    return out


def _visit(out: Walk, path: Path, entry: os.DirEntry[str], real_root: Path, seen: set[Path],
           stack: list[Path], links: list[Path]) -> None:
    try:
        if entry.is_symlink():
            if entry.is_file():
                _file_link(out, path, real_root)
            elif entry.is_dir():
                links.append(path)
            elif os.path.lexists(path) and not os.path.exists(path):
                out.skipped.append((path, "symlink to nothing (dangling or a loop)"))
            else:
                out.skipped.append((path, "symlink to something that is not a regular file"))
        elif entry.is_dir(follow_symlinks=False):
            if entry.name == ".git":  # listed, not walked: a Hugging Face clone keeps every LFS weight twice there
                out.skipped.append((path, "git's own data (no loader reads it; its LFS objects are the files scanned)"))
                return
            real = path.resolve()
            if real not in seen:  # each real folder once
                seen.add(real)
                stack.append(path)
        elif entry.is_file(follow_symlinks=False):
            out.files.append(path)
        else:
            out.skipped.append((path, "not a regular file (FIFO, socket or device)"))
    except OSError as exc:
        out.problems.append((path, f"cannot inspect: {_why(exc)}"))


def _file_link(out: Walk, link: Path, real_root: Path) -> None:
    """A symlinked file is scanned (the loader reads what it points at) only while its target stays
    in the folder scanned; one leading out is an error naming the link, and is never opened."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        out.problems.append((link, f"symlinked file cannot be resolved: {_why(exc)}"))
        return
    if target.is_relative_to(real_root):
        out.files.append(link)
    else:
        out.problems.append((link, "symlinked file leads outside the folder scanned: not read; "
                                   "scan its target explicitly"))


def _follow(out: Walk, link: Path, real_root: Path, seen: set[Path], stack: list[Path]) -> None:
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        out.problems.append((link, f"symlinked folder cannot be resolved: {_why(exc)}"))
        return
    if not target.is_relative_to(real_root):
        out.problems.append((link, f"symlinked folder leads outside the folder scanned (to {target}): "
                                   "not scanned; scan its target explicitly"))
    elif target in seen:
        out.skipped.append((link, f"symlink to a folder scanned already ({target})"))
    else:
        seen.add(target)
        stack.append(link)


def _why(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
