"""Exception types. An `EdgegateError` is the user's problem (exit 2, one line, no traceback)."""

from __future__ import annotations

from pathlib import Path


class EdgegateError(Exception):
    """Bad input, bad config or an unreadable file: reported as one line, exit code 2."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return f"{where}{self.message}"


class ConfigError(EdgegateError):
    """The configuration file is missing, malformed or invalid."""


class InputError(EdgegateError):
    """An input file is unreadable, malformed, too large or of the wrong kind."""


class EngineError(EdgegateError):
    """An engine (Rego, ONNX runtime, ...) could not evaluate: the gate cannot decide."""


NOTHING_TO_CHECK = "nothing to check"
"""The words for every gate given no input to judge (exit 2: what was not checked never passes)."""


class NothingToCheckError(InputError):
    """A gate was given nothing to judge (an empty file, a folder without inputs, a file with no
    document of the kind it checks). One rule for every command: exit 2, the same words."""

    def __init__(self, what: str, path: str | Path | None = None) -> None:
        super().__init__(f"{NOTHING_TO_CHECK}: {what}", path)
