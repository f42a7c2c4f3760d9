"""Bounded file reads: never read more than a caller says, never trust a declared length.

`open_input` is the one way edgegate opens a file it was asked to read: regular files only (a
FIFO, device node or socket is refused with the same words everywhere, without blocking on it),
or standard input when the caller allows an explicit ``-``.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from edgegate.errors import InputError

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""Default cap for documents (manifests, configs, policies): 32 MiB."""

STDIN = "-"
"""The explicit name of standard input, where a command accepts it."""

NOT_REGULAR = "not a regular file"
"""What edgegate says about an existing FIFO, device node or socket given as an input."""

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO with no writer must not block the open
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def open_error(exc: OSError, path: str | Path) -> InputError:
    """The `InputError` for an `OSError` raised while opening or reading `path` (no contents)."""
    if isinstance(exc, FileNotFoundError):
        return InputError("no such file", path)
    if isinstance(exc, IsADirectoryError):
        return InputError("is a directory, expected a file", path)
    if isinstance(exc, PermissionError):
        return InputError("permission denied", path)
    return InputError(f"cannot read: {exc.strerror or type(exc).__name__}", path)


def open_regular_fd(path: str | Path) -> int:
    """A read-only descriptor of the regular file `path` (blocking mode), or an `InputError`:
    missing, a directory, or an existing FIFO/device/socket ("not a regular file")."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise open_error(exc, path) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError("is a directory, expected a file", path)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{NOT_REGULAR} ({_kind(st.st_mode)})", path)
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_input(path: str | Path, *, allow_stdin: bool = False) -> BinaryIO:
    """Open `path` for reading in binary mode: a regular file, or standard input for an explicit
    ``-`` when `allow_stdin`. Everything else is an `InputError` that names the path."""
    if allow_stdin and str(path) == STDIN:
        return os.fdopen(os.dup(sys.stdin.fileno()), "rb")
    return os.fdopen(open_regular_fd(path), "rb")


def read_bounded(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, *, allow_stdin: bool = False) -> bytes:
    """Read a whole regular file (or ``-``, when allowed), refusing one larger than `max_bytes`
    (checked while reading, so a growing or endless input stops at the limit)."""
    try:
        with open_input(path, allow_stdin=allow_stdin) as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise open_error(exc, path) from None
    if len(data) > max_bytes:
        raise InputError(f"file is larger than the {human_size(max_bytes)} limit", path)
    return data


def human_size(n: int) -> str:
    """`n` bytes for a message: "1000 bytes", "1.5 KiB", "32 MiB", "2 GiB"."""
    if n < 1024:
        return f"{n} bytes"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def decode_text(data: bytes, path: str | Path) -> str:
    """`data` (read from `path`) as UTF-8 text; a binary file or invalid UTF-8 is an `InputError`."""
    if b"\x00" in data[:8192]:
        raise InputError("binary file, expected text", path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError("not valid UTF-8 text", path, line) from None


def read_text_bounded(
    path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, *, allow_stdin: bool = False
) -> str:
    """Read a UTF-8 text file within `max_bytes`; a binary file is an `InputError`."""
    return decode_text(read_bounded(path, max_bytes, allow_stdin=allow_stdin), path)


def read_head(path: str | Path, max_bytes: int) -> bytes:
    """The first `max_bytes` of a regular file (FIFOs and devices refused by `open_input`)."""
    try:
        with open_input(path) as fh:
            return fh.read(max_bytes)
    except OSError as exc:
        raise open_error(exc, path) from None
