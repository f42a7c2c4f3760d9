"""Bounded file reads: never read more than a caller says, never trust a declared length."""

from __future__ import annotations

from pathlib import Path

from edgegate.errors import InputError

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
"""Default cap for documents (manifests, configs, policies): 32 MiB."""


def read_bounded(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a whole file, refusing one larger than `max_bytes` (checked while reading)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputError("no such file", p) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", p) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", p) from None
    if len(data) > max_bytes:
        raise InputError(f"file is larger than the {human_size(max_bytes)} limit", p)
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


def read_text_bounded(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Read a UTF-8 text file within `max_bytes`; a binary file is an `InputError`."""
    data = read_bounded(path, max_bytes)
    if b"\x00" in data[:8192]:
        raise InputError("binary file, expected text", path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError("not valid UTF-8 text", path, line) from None


def read_head(path: str | Path, max_bytes: int) -> bytes:
    """The first `max_bytes` of a regular file; FIFOs and devices are refused (opened without
    blocking, checked on the open descriptor)."""
    import os
    import stat

    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputError("no such file", p) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", p) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError("not a regular file", p)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(max_bytes)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", p) from None
    finally:
        os.close(fd)
