"""Helpers every reporter shares: verdicts, counts, paths, tables and JSON-safe values."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from edgegate.findings import Finding, GateResult, Severity, Status, exit_code

SEVERITIES: tuple[Severity, ...] = (
    Severity.CRITICAL,
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.INFO,
)
"""Most severe first: the column order of every summary table."""

EXIT_MEANING = {
    0: "every gate passed",
    1: "a gate failed",
    2: "a gate could not decide",
}


@dataclass(frozen=True)
class Verdict:
    """The overall outcome of a run: ``passed``, ``failed`` or ``error`` and its exit code."""

    name: str
    exit_code: int

    @property
    def label(self) -> str:
        return self.name.upper()

    @property
    def meaning(self) -> str:
        return EXIT_MEANING[self.exit_code]


def verdict(results: Sequence[GateResult]) -> Verdict:
    """The run's verdict, derived with the same rule as the exit code."""
    code = exit_code(results)
    return Verdict({0: "passed", 1: "failed", 2: "error"}[code], code)


def severity_counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    """How many findings of each severity (every severity present, zero when none)."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        counts[f.severity] += 1
    return counts


def is_failing(result: GateResult, finding: Finding) -> bool:
    """Whether `finding` is one that fails its gate.

    A non-blocking finding never is. A blocking finding in a gate that nevertheless passed (it is
    below the gate's ``fail_on`` threshold) is reported like a warning too, so the reports never
    show a failure in a gate that passed. A gate that records its threshold as
    ``stats["fail_on"]`` (a severity name) gets blocking findings below it shown as warnings in a
    failed gate too.
    """
    if not finding.blocking or result.status is Status.PASSED:
        return False
    threshold = result.stats.get("fail_on") if isinstance(result.stats, Mapping) else None
    if isinstance(threshold, str):
        try:
            return finding.severity >= Severity.parse(threshold)
        except ValueError:
            pass
    return True


def sort_key(finding: Finding) -> tuple[str, int, int, int, str, str]:
    """Order findings by file, line, column, then most severe first."""
    loc = finding.location
    return (
        loc.path or "",
        loc.line or 0,
        loc.column or 0,
        -finding.severity.rank,
        finding.rule_id,
        finding.message,
    )


def posix(path: str) -> str:
    """`path` with forward slashes."""
    return path.replace("\\", "/") if os.sep == "\\" else path


def relative_path(path: str, root: Path) -> str | None:
    """`path` (relative to the working directory, or absolute) relative to `root`, with forward
    slashes; None when it is not inside `root`.

    Paths are normalised lexically (``a/./b/../c`` → ``a/c``); symlinks are not followed, so the
    path stays the one the user sees.
    """
    cwd = os.getcwd()
    absolute = os.path.normpath(os.path.join(cwd, path))
    base = os.path.normpath(os.path.join(cwd, os.fspath(root)))
    if absolute == base:
        return "."
    prefix = base if base.endswith(os.sep) else base + os.sep
    if not absolute.startswith(prefix):
        return None
    return absolute[len(prefix) :].replace(os.sep, "/")


def _absolute(path: Path) -> Path:
    return Path(os.path.normpath(path if path.is_absolute() else Path.cwd() / path))


def source_root(root: Path) -> Path:
    """The folder repository-relative paths start from: ``$GITHUB_WORKSPACE`` when `root` is
    inside it, else the nearest folder at or above `root` holding ``.git``, else `root`.

    GitHub resolves SARIF URIs and annotation paths against the repository root, so a project
    whose edgegate.toml sits in a subfolder must still report ``sub/folder/file.yaml``.
    """
    base = _absolute(Path(root))
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        ws = _absolute(Path(workspace))
        if ws == base or ws in base.parents:
            return ws
    for folder in (base, *base.parents):
        if (folder / ".git").exists():
            return folder
    return base


@dataclass(frozen=True)
class Table:
    """A table a gate reported in ``stats["tables"]``."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


def tables(result: GateResult) -> list[Table]:
    """The well-formed tables in ``result.stats["tables"]``; malformed entries are skipped
    (a report never crashes on a gate's stats)."""
    raw = result.stats.get("tables") if isinstance(result.stats, Mapping) else None
    out: list[Table] = []
    if not isinstance(raw, list):
        return out
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        columns = item.get("columns")
        rows = item.get("rows")
        if not isinstance(columns, list) or not isinstance(rows, list):
            continue
        out.append(
            Table(
                title=str(item.get("title") or ""),
                columns=[str(c) for c in columns],
                rows=[list(r) if isinstance(r, (list, tuple)) else [r] for r in rows],
            )
        )
    return out


def cell(value: Any) -> str:
    """A table cell as text: None is empty, floats keep at most 4 decimals."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    return str(value)


def jsonable(value: Any) -> Any:
    """`value` as strict JSON data: non-finite floats become None, tuples/sets lists, paths and
    other objects strings (gates promise JSON-able stats and details; a slip must not crash the
    report or produce invalid JSON)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(v) for v in value), key=repr)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def write_stream(stream: TextIO, text: str, *, utf8: bool = False) -> None:
    """Write `text` to a text stream whose encoding may not hold it (``LANG=C``, a Windows
    console): machine formats (`utf8`) go out as UTF-8 bytes, as their specs require; human ones
    with unencodable characters replaced."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        raw = getattr(stream, "buffer", None)
        if utf8 and raw is not None:
            stream.flush()
            raw.write(text.encode("utf-8", "backslashreplace"))  # a non-UTF-8 file name: \udcXX
            raw.flush()
            return
        try:
            text = text.encode(encoding, "replace").decode(encoding)
        except LookupError:
            text = text.encode("ascii", "replace").decode("ascii")
    stream.write(text)
    stream.flush()


class Writer(Protocol):
    """Where the streamed reports write (a text file, `ChunkedStream`, ``io.StringIO``)."""

    def write(self, text: str, /) -> int: ...


class ChunkedStream:
    """A writer that hands `stream` what it is given in chunks of about `size` characters,
    each through `write_stream` (the same bytes as writing it all at once)."""

    def __init__(self, stream: TextIO, *, utf8: bool = False, size: int = 1 << 16) -> None:
        self._stream = stream
        self._utf8 = utf8
        self._size = size
        self._parts: list[str] = []
        self._held = 0

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._held += len(text)
        if self._held >= self._size:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._parts:
            text = "".join(self._parts)
            self._parts, self._held = [], 0
            write_stream(self._stream, text, utf8=self._utf8)


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 finding`` / ``2 findings``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def tool_version() -> str:
    from edgegate import __version__

    return __version__
