"""Writing outputs (reports, SBOMs, bundles, databases, patches) without clobbering what is there.

A new path or a regular file is written whole: a temp file in the same folder, then a rename, so
a reader never sees half a report. A character device or FIFO (``-o /dev/null``, ``/dev/full``, a
pipe to another process) is written through: replacing it with a regular file would break every
later step that uses it, and as root that is ``/dev/null`` for the whole container. A symlink is
never replaced by a file: the write goes to its target (under the same rules); a dangling one is
refused. Anything else (a directory, a block device, a socket) is an error. Every failure,
``ENOSPC`` on a full device included, is an `InputError` (exit 2).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from edgegate.errors import InputError

_FIFO_WAIT_SECONDS = 5.0
"""How long a FIFO given as an output may take to get a reader before edgegate gives up."""

_CHUNK = 1024 * 1024


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def output_target(path: str | Path, what: str = "output") -> tuple[Path, bool]:
    """Where a write to `path` goes and whether it is written through (a character device or
    FIFO) rather than replaced. Refuses directories, dangling symlinks and other special files."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return p, False
    except OSError as exc:
        raise InputError(f"cannot write {what}: {exc.strerror or exc}", p) from None
    real = p
    if stat.S_ISLNK(st.st_mode):
        real = Path(os.path.realpath(p))
        try:
            st = os.stat(real)
        except FileNotFoundError:
            raise InputError(f"cannot write {what}: a dangling symbolic link; refusing to write through it", p) from None
        except OSError as exc:
            raise InputError(f"cannot write {what}: {exc.strerror or exc}", p) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"cannot write {what}: the output path is a directory", p)
    if stat.S_ISREG(st.st_mode):
        return real, False
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return real, True
    raise InputError(f"cannot write {what}: not a regular file, character device or FIFO", p)


def _open_stream(real: Path, shown: Path, what: str) -> int:
    flags = os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    deadline = time.monotonic() + _FIFO_WAIT_SECONDS
    while True:
        try:
            fd = os.open(real, flags)  # no O_CREAT, no O_TRUNC: the node itself is never changed
            break
        except OSError as exc:
            import errno

            if exc.errno == errno.ENXIO and time.monotonic() < deadline:  # a FIFO with no reader yet
                time.sleep(0.05)
                continue
            if exc.errno == errno.ENXIO:
                raise InputError(f"cannot write {what}: the FIFO has no reader", shown) from None
            raise
    st = os.fstat(fd)
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):  # swapped since lstat
        os.close(fd)
        raise InputError(f"cannot write {what}: the output path changed while it was opened", shown)
    os.set_blocking(fd, True)
    return fd


def _copy_into_stream(tmp: Path, real: Path, shown: Path, what: str) -> None:
    fd = _open_stream(real, shown, what)
    try:
        with open(tmp, "rb") as src:
            while chunk := src.read(_CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(
    path: str | Path, what: str = "output", *, mode: int | None = None, regular_only: bool = False
) -> Iterator[Path]:
    """Yield a fresh temp file to fill; on success it becomes `path` by the rules above (missing
    parent folders are created). `mode`: the permissions of a newly created file (default
    0o666 less the umask; a replaced file keeps its own, unless `regular_only`, which also refuses
    devices and FIFOs: for secrets, always `mode`). On any error the temp file is removed
    and `path` is untouched; an `OSError` becomes an `InputError` "cannot write <what>: ..." naming `path`."""
    shown = Path(path)
    real, through = output_target(shown, what)
    if through and regular_only:
        raise InputError(f"cannot write {what}: not a regular file", shown)
    private: str | None = None
    try:
        if through:
            private = tempfile.mkdtemp(prefix="edgegate-out-")
            folder = Path(private)
        else:
            folder = real.parent if str(real.parent) else Path(".")
            folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError as exc:
        if private:
            shutil.rmtree(private, ignore_errors=True)
        raise InputError(f"cannot write {what}: {exc.strerror or exc}", shown) from None
    tmp = Path(name)
    try:
        yield tmp
        if through:
            _copy_into_stream(tmp, real, shown, what)
        else:
            try:
                if regular_only and mode is not None:
                    raise FileNotFoundError
                keep = stat.S_IMODE(os.stat(real).st_mode)
            except FileNotFoundError:
                keep = mode if mode is not None else 0o666 & ~_umask()
            os.chmod(tmp, keep)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, real)
    except OSError as exc:
        raise InputError(f"cannot write {what}: {exc.strerror or exc}", shown) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if private:
            shutil.rmtree(private, ignore_errors=True)


def write_output(
    path: str | Path, data: str | bytes, what: str = "output", *, mode: int | None = None,
    regular_only: bool = False,
) -> None:
    """Write `data` (text as UTF-8, newlines as given) to `path` by the rules above."""
    # a file name that is not UTF-8 (surrogate escapes) is written as "\udcXX", never a crash
    raw = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    with atomic_path(path, what, mode=mode, regular_only=regular_only) as tmp:
        tmp.write_bytes(raw)
