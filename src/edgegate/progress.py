"""The one live display of `edgegate check` on stderr: the gate running and, while files are
hashed (signatures), bytes done.

On a terminal it is a rich display that disappears when the report prints (transient); in CI logs
and pipes it is plain lines, one when a gate starts and one when it ends; `--quiet` turns it off.
Code that has a progress bar of its own (hashing) attaches a task to `shared()` while a check
runs, so there is never a second live display.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_SHARED: Any = None


def shared() -> Any:
    """The rich `Progress` of the running check on a terminal, or None."""
    return _SHARED


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class CheckDisplay:
    """``with CheckDisplay(enabled=...) as d: with d.gate("policy"): ...``"""

    def __init__(self, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = enabled and _isatty(self.stream)
        self._progress: Any = None

    def __enter__(self) -> CheckDisplay:
        global _SHARED
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                console=Console(file=self.stream), transient=True,
            )
            self._progress.start()
            _SHARED = self._progress
        return self

    def __exit__(self, *exc: object) -> None:
        global _SHARED
        if self._progress is not None:
            self._progress.stop()
            _SHARED = None

    @contextmanager
    def gate(self, name: str) -> Iterator[None]:
        """Show that gate `name` runs for the duration of the block."""
        if not self.enabled:
            yield
            return
        start = time.monotonic()
        if self._progress is not None:
            task = self._progress.add_task(f"gate {name}", total=None)
            try:
                yield
            finally:
                self._progress.remove_task(task)
            return
        self._line(f"gate {name} ...")
        try:
            yield
        finally:
            self._line(f"gate {name} done ({time.monotonic() - start:.1f} s)")

    def _line(self, text: str) -> None:
        self.stream.write(f"edgegate: {text}\n")
        self.stream.flush()
