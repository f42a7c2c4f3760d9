"""OSV records: validation into a compact model, loading from a folder or an ``all.zip``, and the
OSV schema's range evaluation.

Evaluation follows the OSV specification: a version is affected when it is listed in
``versions`` (exact string) or falls in an ``ECOSYSTEM`` / ``SEMVER`` range, where a range's
events are sorted in the ecosystem's order (``introduced: "0"`` first) and walked:
``introduced`` ≤ v sets affected, ``fixed`` ≤ v clears it, ``last_affected`` < v clears it, and a
range with ``limit`` events applies only below one of them. ``GIT`` ranges are ignored for package
matching, and ``withdrawn`` records are dropped when loading.
"""

from __future__ import annotations

import bisect
import enum
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.vuln.severity import Rating, rate_record
from edgegate.vuln.versions import UnparseableVersion, can_order, ecosystem_base, parse

MAX_RECORD_BYTES = 8 * 1024 * 1024
"""Largest single OSV record edgegate reads."""

_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
RECORD_SUFFIXES = frozenset({".json", ".yaml", ".yml"})


class MalformedRecord(ValueError):
    """An OSV record that does not have the shape the schema requires."""


@dataclass(frozen=True)
class Range:
    """One ``ECOSYSTEM`` or ``SEMVER`` range: its events in record order."""

    kind: str
    events: tuple[tuple[str, str], ...]

    def fixed(self) -> list[str]:
        return [v for k, v in self.events if k == "fixed"]


@dataclass(frozen=True)
class Affected:
    """One ``affected`` entry: the package and the versions it names."""

    ecosystem: str
    name: str
    ranges: tuple[Range, ...] = ()
    versions: frozenset[str] = frozenset()

    @property
    def base(self) -> str:
        return ecosystem_base(self.ecosystem)

    def fixed(self) -> list[str]:
        out: list[str] = []
        for r in self.ranges:
            out += [v for v in r.fixed() if v not in out]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ranges": [{"type": r.kind, "events": [[k, v] for k, v in r.events]} for r in self.ranges],
            "versions": sorted(self.versions),
        }

    @classmethod
    def from_json(cls, ecosystem: str, name: str, data: Mapping[str, Any]) -> Affected:
        return cls(
            ecosystem=ecosystem,
            name=name,
            ranges=tuple(
                Range(r["type"], tuple((str(k), str(v)) for k, v in r["events"])) for r in data["ranges"]
            ),
            versions=frozenset(data["versions"]),
        )


@dataclass(frozen=True)
class Advisory:
    """The parts of an OSV record the gate needs."""

    id: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    rating: Rating | None = None
    modified: str | None = None
    published: str | None = None
    affected: tuple[Affected, ...] = ()
    source: str = ""
    """The file (or zip member) it was read from."""

    @property
    def ids(self) -> frozenset[str]:
        return frozenset((self.id, *self.aliases))


class Verdict(enum.Enum):
    AFFECTED = "affected"
    NOT_AFFECTED = "not-affected"
    UNKNOWN = "unknown"
    """A range could not be evaluated: a version does not parse in the ecosystem."""


@dataclass
class Evaluation:
    verdict: Verdict
    problems: list[str] = field(default_factory=list)


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedRecord(f"{what} must be a non-empty string")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedRecord(f"{what} must be a list")
    return value


def normalize_name(ecosystem: str, name: str) -> str:
    """The name as the database indexes it: PEP 503 for PyPI, as written elsewhere."""
    if ecosystem_base(ecosystem) == "PyPI":
        from packaging.utils import canonicalize_name

        return str(canonicalize_name(name))
    return name


class _NumericVersion(MalformedRecord):
    """An event version written as a YAML/JSON number (``fixed: 1.10`` reads as 1.1): the range
    is skipped with a warning, never coerced to a string it did not say."""


def _range(raw: Any, where: str) -> Range | None:
    if not isinstance(raw, Mapping):
        raise MalformedRecord(f"{where} must be a mapping")
    kind = _str(raw.get("type"), f"{where}.type")
    events: list[tuple[str, str]] = []
    for i, ev in enumerate(_list(raw.get("events"), f"{where}.events")):
        if not isinstance(ev, Mapping) or len(ev) != 1:
            raise MalformedRecord(f"{where}.events[{i}] must have exactly one of {', '.join(_EVENT_KINDS)}")
        ((k, v),) = ev.items()
        if k not in _EVENT_KINDS:
            raise MalformedRecord(f"{where}.events[{i}] has unknown event {k!r}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise _NumericVersion(
                f"{where}.events[{i}].{k} is the number {v!r}, not a version string: range skipped"
            )
        if not isinstance(v, str) or v == "":
            raise MalformedRecord(f"{where}.events[{i}].{k} must be a version string")
        events.append((str(k), str(v)))
    if kind not in ("ECOSYSTEM", "SEMVER"):
        return None  # GIT (and unknown types) do not describe package versions
    if not any(k == "introduced" for k, _ in events):
        raise MalformedRecord(f"{where} has no 'introduced' event")
    return Range(kind, tuple(events))


def advisory_from_record(data: Any, source: str = "", warnings: list[str] | None = None) -> Advisory | None:
    """Validate a raw OSV record; None when it is withdrawn. Raises `MalformedRecord`. A range
    with a numeric event version is left out and said in `warnings`."""
    if not isinstance(data, Mapping):
        raise MalformedRecord("an OSV record must be a mapping")
    vid = _str(data.get("id"), "id")
    if data.get("withdrawn") not in (None, ""):
        return None
    aliases = tuple(str(a) for a in _list(data.get("aliases"), "aliases") if isinstance(a, str))
    affected: list[Affected] = []
    for i, raw in enumerate(_list(data.get("affected"), "affected")):
        where = f"affected[{i}]"
        if not isinstance(raw, Mapping):
            raise MalformedRecord(f"{where} must be a mapping")
        pkg = raw.get("package")
        if pkg is None:
            continue  # an affected entry without a package (e.g. GIT-only) names no package version
        if not isinstance(pkg, Mapping):
            raise MalformedRecord(f"{where}.package must be a mapping")
        eco = _str(pkg.get("ecosystem"), f"{where}.package.ecosystem")
        name = _str(pkg.get("name"), f"{where}.package.name")
        ranges: list[Range] = []
        for j, rr in enumerate(_list(raw.get("ranges"), f"{where}.ranges")):
            try:
                r = _range(rr, f"{where}.ranges[{j}]")
            except _NumericVersion as exc:
                if warnings is not None:
                    warnings.append(f"{vid}: {exc}")
                continue
            if r is not None:
                ranges.append(r)
        versions = _list(raw.get("versions"), f"{where}.versions")
        if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in versions):
            raise MalformedRecord(f"{where}.versions must be a list of version strings")
        if not all(isinstance(v, str) for v in versions):
            if warnings is not None:
                warnings.append(f"{vid}: {where}.versions holds a number, not a version string: entries skipped")
            versions = [v for v in versions if isinstance(v, str)]
        affected.append(
            Affected(eco, normalize_name(eco, name), tuple(ranges), frozenset(str(v) for v in versions))
        )
    summary = data.get("summary") or data.get("details") or ""
    summary = summary.strip().splitlines()[0] if isinstance(summary, str) and summary.strip() else ""
    modified = data.get("modified")
    published = data.get("published")
    return Advisory(
        id=vid,
        aliases=aliases,
        summary=summary[:300],
        rating=rate_record(data),
        modified=str(modified) if modified is not None else None,
        published=str(published) if published is not None else None,
        affected=tuple(affected),
        source=source,
    )


# --- evaluation --------------------------------------------------------------------------------


def _cmp(a: tuple[Any, str], b: tuple[Any, str]) -> int:
    # None is "0" (introduced at the beginning): below every version.
    if a[0] is None or b[0] is None:
        return (a[0] is not None) - (b[0] is not None)
    return -1 if a[0] < b[0] else (1 if a[0] > b[0] else 0)


def range_affects(r: Range, ecosystem: str, version: str) -> bool:
    """True when `version` falls in range `r`. Raises `UnparseableVersion` when `version` or an
    event's version is not valid in the range's ordering."""
    kind = "SEMVER" if r.kind == "SEMVER" else ecosystem_base(ecosystem)
    v = parse(kind, version)
    events: list[tuple[Any, str]] = []
    limits: list[Any] = []
    has_limit = star = False
    for k, text in r.events:
        if k == "introduced" and text == "0":
            events.append((None, k))
        elif k == "limit":
            has_limit = True
            if "*" in text:  # "*" is infinity: every version is below it
                star = True
            else:
                limits.append(parse(kind, text))
    unlimited = star or not has_limit  # no limit event = an implicit "*"
    # BeforeLimits: below at least one limit (checked after all events parsed, so a bad event
    # version is reported rather than hidden by the limit).
    for k, text in r.events:
        if k in ("fixed", "last_affected") or (k == "introduced" and text != "0"):
            events.append((parse(kind, text), k))
    if not unlimited and not any(v < lim for lim in limits):
        return False
    # Independent of the order in the file: at one version, "fixed"/"last_affected" come before
    # "introduced" (a version both fixed and (re)introduced is affected). Two stable sorts.
    events.sort(key=lambda e: e[1] == "introduced")
    events.sort(key=functools.cmp_to_key(_cmp))
    affected = False
    for at, k in events:
        if k == "introduced":
            if at is None or v >= at:
                affected = True
        elif k == "fixed":
            if v >= at:
                affected = False
        elif k == "last_affected" and v > at:
            affected = False
    return affected


def _listed(entry: Affected, version: str) -> bool:
    """Whether `version` equals a listed version by the ecosystem's own equality (PyPI ``0.5`` is
    ``0.5.0``, ``3.2RC1`` is ``3.2rc1``); exact text where the ecosystem has no ordering."""
    base = entry.base
    if not entry.versions or not can_order(base):
        return False
    try:
        v = parse(base, version)
    except UnparseableVersion:
        return False
    listed = _parsed_versions(base, entry.versions)
    at = bisect.bisect_left(listed, v)
    return at < len(listed) and listed[at] == v


@functools.lru_cache(maxsize=8192)
def _parsed_versions(base: str, versions: frozenset[str]) -> list[Any]:
    """The listed versions that parse, in the ecosystem's order (one binary search per lookup
    instead of comparing with every listed version; the orders are total and agree with ==)."""
    out: list[Any] = []
    for text in versions:
        try:
            out.append(parse(base, text))
        except UnparseableVersion:
            continue
    out.sort()
    return out


def evaluate(entry: Affected, version: str) -> Evaluation:
    """Whether `version` of `entry`'s package is affected; UNKNOWN (with the reasons) when a
    range could not be evaluated and nothing else says affected."""
    if version in entry.versions or _listed(entry, version):
        return Evaluation(Verdict.AFFECTED)
    problems: list[str] = []
    for r in entry.ranges:
        kind = "SEMVER" if r.kind == "SEMVER" else entry.base
        if not can_order(kind):
            problems.append(f"no version ordering for ecosystem {entry.ecosystem!r}")
            continue
        try:
            if range_affects(r, entry.ecosystem, version):
                return Evaluation(Verdict.AFFECTED)
        except UnparseableVersion as exc:
            problems.append(str(exc))
    if problems:
        return Evaluation(Verdict.UNKNOWN, problems)
    return Evaluation(Verdict.NOT_AFFECTED)


# --- loading -----------------------------------------------------------------------------------


@dataclass
class LoadWarning:
    """A record skipped while loading: which file and why."""

    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass
class LoadStats:
    files: int = 0
    records: int = 0
    withdrawn: int = 0
    warnings: list[LoadWarning] = field(default_factory=list)


def _parse_bytes(data: bytes, name: str, shown: str) -> list[Any]:
    """The records in one file's bytes (a JSON object, a JSON list of records, or YAML)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedRecord("not valid UTF-8") from None
    if name.lower().endswith(".json"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MalformedRecord(f"malformed JSON: {exc.msg} (line {exc.lineno})") from None
        except RecursionError:
            raise MalformedRecord("JSON nested too deeply") from None
        except ValueError:
            raise MalformedRecord("malformed JSON: a number with too many digits") from None
        return value if isinstance(value, list) else [value]
    return _load_yaml_records(text, shown)


def _load_yaml_records(text: str, shown: str) -> list[Any]:
    """YAML documents through edgegate's bounded loader (aliases and merge keys counted, composed
    by libyaml when it is available)."""
    from edgegate.io.documents import load_yaml_text

    try:
        return [doc.data for doc in load_yaml_text(text, shown)]
    except InputError as exc:
        where = f" (line {exc.line})" if exc.line else ""
        message = exc.message if exc.message.startswith("malformed YAML") else f"malformed YAML: {exc.message}"
        raise MalformedRecord(f"{message}{where}") from None


def _records_of(data: bytes, name: str, shown: str, st: LoadStats) -> Iterator[Advisory]:
    try:
        raws = _parse_bytes(data, name, shown)
    except MalformedRecord as exc:
        st.warnings.append(LoadWarning(shown, f"skipped: {exc}"))
        return
    for raw in raws:
        try:
            notes: list[str] = []
            adv = advisory_from_record(raw, shown, notes)
        except MalformedRecord as exc:
            st.warnings.append(LoadWarning(shown, f"skipped malformed OSV record: {exc}"))
            continue
        st.warnings += [LoadWarning(shown, n) for n in notes]
        if adv is None:
            st.withdrawn += 1
        else:
            st.records += 1
            yield adv


def _record_files(source: Path, st: LoadStats) -> list[Path]:
    """Record files under `source`, sorted; hidden entries skipped; symlinks not followed (a
    skipped symlink is a warning, never a silent gap)."""
    import os

    out: list[Path] = []
    for folder, dirs, files in os.walk(source, followlinks=False):
        base = Path(folder)
        for d in list(dirs):
            if d.startswith("."):
                dirs.remove(d)
            elif (base / d).is_symlink():
                dirs.remove(d)
                st.warnings.append(LoadWarning(str(base / d), "symbolic link to a folder not followed"))
        for name in files:
            path = base / name
            if name.startswith(".") or path.suffix.lower() not in RECORD_SUFFIXES:
                continue
            if path.is_symlink():
                st.warnings.append(LoadWarning(str(path), "symbolic link not followed; record skipped"))
                continue
            out.append(path)
    return sorted(out)


def iter_source(source: Path, stats: LoadStats | None = None) -> Iterator[Advisory]:
    """Every valid, non-withdrawn advisory in a folder (recursively) or zip of OSV records.

    Malformed files and records are skipped and noted in ``stats.warnings``; an unreadable
    source as a whole raises `InputError`.
    """
    st = stats if stats is not None else LoadStats()
    if source.is_dir():
        for path in _record_files(source, st):
            st.files += 1
            try:
                with path.open("rb") as fh:
                    data = fh.read(MAX_RECORD_BYTES + 1)
            except OSError as exc:
                st.warnings.append(LoadWarning(str(path), f"cannot read: {exc.strerror or exc}"))
                continue
            if len(data) > MAX_RECORD_BYTES:
                st.warnings.append(LoadWarning(str(path), "record larger than the 8 MiB limit; skipped"))
                continue
            yield from _records_of(data, path.name, str(path), st)
    elif source.is_file():
        from edgegate.io.archive import ArchiveError, iter_zip

        for entry in iter_zip(source):
            if entry.kind != "file" or entry.path is None:
                continue
            if Path(entry.path).suffix.lower() not in RECORD_SUFFIXES:
                continue
            shown = f"{source}!{entry.path}"
            st.files += 1
            try:
                data = entry.read(MAX_RECORD_BYTES)
            except ArchiveError as exc:
                st.warnings.append(LoadWarning(shown, exc.message))
                continue
            yield from _records_of(data, entry.path, shown, st)
    else:
        raise InputError("no such file or directory", source)

