"""Walking a model directory and hashing its files: SHA-256 per whole file, files in parallel.

The digests are model-signing's ``files`` serialization: one whole-file SHA-256 per regular file,
named by its POSIX path relative to the model root. A file is streamed in fixed-size chunks into
one reusable buffer per worker (never read whole); `hashlib` releases the GIL on large buffers,
so threads hash several files at once on several cores.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from edgegate.errors import InputError

CHUNK_SIZE = 4 * 1024 * 1024
"""Bytes read per `readinto` call."""

PROGRESS_THRESHOLD = 64 * 1024 * 1024
"""Show a progress bar (on a terminal) when more than this many bytes are to be hashed."""

DEFAULT_IGNORE = (".git", ".gitattributes", ".github", ".gitignore")
"""Paths model-signing ignores by default (relative to the model root)."""


@dataclass(frozen=True)
class FileEntry:
    """A regular file of a model directory (or a symlink to one inside it, when allowed)."""

    name: str
    """POSIX path relative to the model root: the manifest's resource name."""
    path: Path
    """The path to open (the symlink's target when `name` is a symlink)."""
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    def state(self) -> dict[str, int]:
        """The stat fields incremental re-signing compares."""
        return {
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "ctime_ns": self.ctime_ns,
            "inode": self.inode,
            "device": self.device,
        }


def _entry(name: str, path: Path, st: os.stat_result) -> FileEntry:
    return FileEntry(
        name=name,
        path=path,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        inode=st.st_ino,
        device=st.st_dev,
    )


def _ignore_matcher(ignore: Sequence[str]) -> Callable[[str], bool]:
    """Is a root-relative name (``a/b``, as the walk builds it) a pattern or below one? Patterns
    compare by path components (``x/`` is ``x``; ``.`` is everything), checked as text."""
    prefixes = ["/".join(PurePosixPath(p).parts) for p in ignore]
    if "" in prefixes:
        return lambda name: True
    exact = frozenset(prefixes)
    below = tuple(p + "/" for p in prefixes)
    return lambda name: name in exact or name.startswith(below)


def walk_model(
    root: str | Path,
    *,
    allow_symlinks: bool = False,
    ignore: Sequence[str] = DEFAULT_IGNORE,
) -> list[FileEntry]:
    """The files of model directory `root`, sorted by name.

    Symlinks are refused unless `allow_symlinks`; even then a link must resolve to a regular file
    inside `root` (never followed out of the tree, never into a directory). Sockets, FIFOs and
    devices are refused. `ignore` holds root-relative paths skipped with everything below them.
    """
    base = Path(root)
    try:
        st = base.stat()
    except FileNotFoundError:
        raise InputError("no such file or directory", base) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", base) from None
    if not stat.S_ISDIR(st.st_mode):
        raise InputError("not a directory", base)
    real_root = base.resolve()
    is_ignored = _ignore_matcher(ignore)
    entries: list[FileEntry] = []
    stack: list[tuple[Path, str]] = [(base, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise InputError(f"cannot list directory: {exc.strerror or exc}", folder) from None
        for child in children:
            name = f"{prefix}{child.name}"
            if not _utf8(child.name):  # the signature lists names as UTF-8 text
                shown = os.fsencode(child.path).decode("utf-8", "backslashreplace")
                raise InputError("file name is not valid UTF-8; rename it to sign the model", shown)
            if is_ignored(name):
                continue
            path = Path(child.path)
            try:
                lst = child.stat(follow_symlinks=False)
            except OSError as exc:
                raise InputError(f"cannot stat: {exc.strerror or exc}", path) from None
            if stat.S_ISLNK(lst.st_mode):
                entries.append(_symlink_entry(name, path, real_root, allow_symlinks))
            elif stat.S_ISDIR(lst.st_mode):
                stack.append((path, f"{name}/"))
            elif stat.S_ISREG(lst.st_mode):
                entries.append(_entry(name, path, lst))
            else:
                raise InputError("not a regular file or directory (socket, FIFO or device)", path)
    entries.sort(key=lambda e: e.name)
    return entries


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _symlink_entry(name: str, path: Path, real_root: Path, allow: bool) -> FileEntry:
    if not allow:
        raise InputError("symbolic link in the model directory (pass --allow-symlinks to hash it)", path)
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InputError("broken or looping symbolic link", path) from None
    if target != real_root and real_root not in target.parents:
        raise InputError("symbolic link points outside the model directory (never followed)", path)
    try:
        st = target.stat()
    except OSError as exc:
        raise InputError(f"cannot stat link target: {exc.strerror or exc}", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError("symbolic link to something other than a regular file", path)
    return _entry(name, target, st)


class _Progress:
    """A rich progress bar with bytes/s on stderr, or nothing."""

    def __init__(self, total: int, enabled: bool, label: str) -> None:
        self._bar: Any = None
        self._task = None
        self._own = True
        self._lock = threading.Lock()
        if enabled and total > 0:
            from edgegate.progress import shared

            if shared() is not None:  # `edgegate check`'s display: a task in it, not a second one
                self._bar, self._own = shared(), False
                self._task = self._bar.add_task(label, total=total)
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(file=sys.stderr),
                transient=True,
            )
            self._task = self._bar.add_task(label, total=total)

    def __enter__(self) -> _Progress:
        if self._bar is not None and self._own:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            if self._own:
                self._bar.stop()
            elif self._task is not None:
                self._bar.remove_task(self._task)

    def advance(self, n: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)


def _want_progress(total: int, progress: bool | None) -> bool:
    if progress is not None:
        return progress
    return total >= PROGRESS_THRESHOLD and sys.stderr.isatty()


def sha256_file(
    path: str | Path,
    *,
    buffer: bytearray | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> str:
    """The hex SHA-256 of a file, streamed through `buffer` (allocated if not given)."""
    p = Path(path)
    buf = buffer if buffer is not None else bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    digest = hashlib.sha256()
    from edgegate.io.files import open_regular_fd

    fd = open_regular_fd(p)  # regular files only: a FIFO or /dev/zero would never end
    try:
        if hasattr(os, "posix_fadvise"):
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            except OSError:
                pass
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as fh:
            while True:
                n = fh.readinto(view)
                if not n:
                    break
                digest.update(view[:n])
                if on_bytes is not None:
                    on_bytes(n)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", p) from None
    finally:
        os.close(fd)
    return digest.hexdigest()


def _stat_state(path: Path) -> dict[str, int]:
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"cannot stat: {exc.strerror or exc}", path) from None
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": st.st_ino,
        "device": st.st_dev,
    }


def _check_unchanged(path: Path, before: dict[str, int]) -> None:
    """A torn read is an error: size, mtime, ctime, inode and device must be what they were
    before hashing (restoring the mtime after a rewrite still moves the ctime; a replaced file
    has another inode)."""
    if _stat_state(path) != before:
        raise InputError("file changed while it was being hashed", path)


def sha256_file_checked(path: str | Path) -> tuple[str, int]:
    """(hex SHA-256, size) of a file that did not change while it was hashed (`InputError`
    if it did)."""
    p = Path(path)
    before = _stat_state(p)
    digest = sha256_file(p)
    _check_unchanged(p, before)
    return digest, before["size"]


def _cpus() -> int:
    """CPUs this process may run on (the affinity mask, which containers narrow)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def hash_entries(
    entries: Iterable[FileEntry],
    *,
    workers: int | None = None,
    progress: bool | None = None,
    label: str = "hashing",
) -> dict[str, str]:
    """SHA-256 of each entry (name → hex digest), files hashed in parallel threads.

    A file that changes while it is hashed (size, mtime, ctime, inode or device differ from the
    walk's) is an `InputError`: the digest would not be that of any one state of the file.
    """
    todo = list(entries)
    if not todo:
        return {}
    total = sum(e.size for e in todo)
    n_workers = max(1, min(len(todo), workers or _cpus()))
    local = threading.local()

    with _Progress(total, _want_progress(total, progress), label) as bar:

        def one(entry: FileEntry) -> tuple[str, str]:
            buf = getattr(local, "buf", None)
            if buf is None:
                buf = bytearray(CHUNK_SIZE)
                local.buf = buf
            digest = sha256_file(entry.path, buffer=buf, on_bytes=bar.advance)
            _check_unchanged(entry.path, entry.state())
            return entry.name, digest

        # Biggest first: the last file to start is a small one, so the cores finish together.
        todo.sort(key=lambda e: e.size, reverse=True)
        if n_workers == 1:
            return dict(one(e) for e in todo)
        return _in_threads(one, todo, n_workers)


def _in_threads(one: Callable[[FileEntry], tuple[str, str]], todo: list[FileEntry], n: int) -> dict[str, str]:
    """`one` over `todo` on `n` threads taking the next entry in order (one task per thread, not
    a future per file: thousands of small files would spend more time in the pool than hashing).
    The first exception stops the other threads and is raised."""
    out: dict[str, str] = {}
    failed: list[BaseException] = []
    lock = threading.Lock()
    pending = iter(todo)

    def work() -> None:
        while not failed:
            with lock:
                entry = next(pending, None)
            if entry is None:
                return
            try:
                name, digest = one(entry)
            except BaseException as exc:  # re-raised in the calling thread
                failed.append(exc)
                return
            out[name] = digest

    threads = [threading.Thread(target=work, name=f"edgegate-hash-{i}", daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise failed[0]
    return {e.name: out[e.name] for e in todo}
