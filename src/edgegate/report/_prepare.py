"""What every reporter renders: the gates' results made relative, merged and deduplicated once.

- Paths: every location, message, title, pointer, detail, error and table cell that names a path
  inside the repository root (`source_root`) names it relative to that root, so no report
  depends on where the checkout is.
- One view per gate name: results of the same gate (e.g. ``model-quant`` for its models and its
  FinOps link) become one view; its status is the worst of theirs.
- One finding per fact (`fact_key`): findings of several rules or gates about the same thing in
  the same document are shown once, as the most important of them, with the others under
  ``details["also_reported_by"]``. Whether each finding fails its gate is decided before
  anything is merged, and the verdict (exit code) is always taken from the original results.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgegate.findings import Finding, GateResult, Location, Severity, Status
from edgegate.report._common import Verdict, jsonable, posix, source_root, verdict

if TYPE_CHECKING:
    from edgegate.report import ReportContext

ALSO_KEY = "also_reported_by"

# Rules of the shipped gates that report the same fact in other words. A gate's finding can name
# its fact itself with ``details["fact"]`` (a string); findings with the same fact, file and
# document (``details["document"]``, else the line) are one finding.
_TOPICS: dict[str, str] = {
    "EGP006": "cost-allocation",
    "EGC013": "cost-allocation",
    "EGC011": "cost-allocation",
    "EGC001": "cap/cpu",
    "EGC002": "cap/memory",
    "EGC003": "cap/gpu",
    "EGP010": "quantization",
    "EGM020": "quantization",
    "EGM021": "quantization",
}
_POINTER_TOPICS: dict[str, dict[str, str]] = {
    # EGP009 reports every FinOpsPolicy cap; which one is in its pointer.
    "EGP009": {"cpu": "cap/cpu", "memory": "cap/memory", "gpu": "cap/gpu"},
}


@dataclass(frozen=True)
class Shown:
    """One finding as the reports show it."""

    gate: str
    finding: Finding
    failing: bool
    """Whether it fails its gate (decided on the original result)."""
    also: tuple[Finding, ...] = ()
    """Other findings of the same fact, shown only as references."""


def _failing_test(result: GateResult) -> Callable[[Finding], bool]:
    """`is_failing` for every finding of `result`, with the threshold parsed once."""
    if result.status is Status.PASSED:
        return lambda f: False
    threshold = result.stats.get("fail_on") if isinstance(result.stats, Mapping) else None
    if isinstance(threshold, str):
        try:
            level = Severity.parse(threshold)
        except ValueError:
            pass
        else:
            return lambda f: f.blocking and f.severity >= level
    return lambda f: f.blocking


class ShownItems(Sequence[Shown]):
    """A gate's shown findings, made one at a time from the original results when iterated
    (nothing is copied up front: a report over 100,000 findings holds one at a time)."""

    def __init__(self, gate: str, rel: _Relativizer) -> None:
        self._gate = gate
        self._rel = rel
        self._spans: list[tuple[Sequence[Finding], Callable[[Finding], bool]]] = []
        self._total = 0
        self._replaced: dict[int, Shown] = {}
        self._dropped: set[int] = set()
        self._positions: list[int] | None = None

    def _add(self, result: GateResult) -> None:
        self._spans.append((result.findings, _failing_test(result)))
        self._total += len(result.findings)

    def raw(self) -> Iterator[tuple[int, Finding, bool]]:
        """(position, original finding, failing) of every item shown, in order: for passes that
        need only what preparing does not change (severity, rule id, line, column, pointer)."""
        pos = 0
        dropped = self._dropped
        for findings, failing in self._spans:
            for f in findings:
                if pos not in dropped:
                    yield pos, f, failing(f)
                pos += 1

    def at(self, pos: int, *, details: bool = True) -> Shown:
        """The item at position `pos` (as `raw` numbers them); without `details` (made JSON-ready
        and relative, the costly part) unless asked for, except the 'also' references."""
        replaced = self._replaced.get(pos)
        if replaced is not None:
            return replaced
        base = 0
        for findings, failing in self._spans:
            if pos < base + len(findings):
                f = findings[pos - base]
                return Shown(self._gate, self._rel.finding(f, details=details), failing(f))
            base += len(findings)
        raise IndexError(pos)

    def __iter__(self) -> Iterator[Shown]:
        replaced = self._replaced
        finding = self._rel.finding
        for pos, f, failing in self.raw():
            yield replaced.get(pos) or Shown(self._gate, finding(f), failing)

    def __len__(self) -> int:
        return self._total - len(self._dropped)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(self)[index]
        if not self._dropped and 0 <= index < self._total:
            return self.at(index)
        if self._positions is None:
            self._positions = [pos for pos, _, _ in self.raw()]
        return self.at(self._positions[index])


@dataclass
class GateView:
    """One gate as the reports show it."""

    gate: str
    status: Status
    items: ShownItems
    errors: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    merged_away: int = 0
    """Findings of this gate shown under another gate's finding of the same fact."""

    @property
    def findings(self) -> list[Finding]:
        return [s.finding for s in self.items]

    def severities(self) -> Iterator[Severity]:
        """The severity of every shown finding (without preparing them)."""
        return (f.severity for _, f, _ in self.items.raw())


@dataclass
class Prepared:
    """The whole run as the reports show it."""

    gates: list[GateView]
    verdict: Verdict
    root: Path
    """The folder every shown path is relative to."""
    rel: _Relativizer

    def shown(self) -> list[Shown]:
        return [s for g in self.gates for s in g.items]

    def count(self) -> int:
        """How many findings are shown."""
        return sum(len(g.items) for g in self.gates)

    def path(self, path: str) -> str:
        """`path` as the reports show it (relative to `root` when inside it, else absolute)."""
        return self.rel.path(path)

    def text(self, text: str) -> str:
        """Free text with paths inside `root` made relative."""
        return self.rel.text(text)


def prepare(results: Sequence[GateResult], ctx: ReportContext) -> Prepared:
    """Relative paths, one view per gate, one finding per fact."""
    root = source_root(Path(ctx.root))
    rel = _Relativizer(root)
    views: dict[str, GateView] = {}
    for r in results:
        view = views.get(r.gate)
        if view is None:
            view = views[r.gate] = GateView(r.gate, r.status, ShownItems(r.gate, rel), stats={})
        else:
            view.status = _worse(view.status, r.status)
        view.items._add(r)
        view.errors += [rel.text(e) for e in r.errors]
        _merge_stats(view.stats, rel.value(jsonable(dict(r.stats))))
    gates = list(views.values())
    _deduplicate(gates, rel)
    return Prepared(gates=gates, verdict=verdict(results), root=root, rel=rel)


def _worse(a: Status, b: Status) -> Status:
    order = (Status.PASSED, Status.FAILED, Status.ERROR)
    return max(a, b, key=order.index)


def _merge_stats(into: dict[str, Any], stats: Any) -> None:
    if not isinstance(stats, dict):
        return
    for key, value in stats.items():
        if key == "tables" and isinstance(value, list):
            into.setdefault("tables", [])
            if isinstance(into["tables"], list):
                into["tables"] += value
        elif key == "seconds" and isinstance(value, (int, float)) and isinstance(into.get(key), (int, float)):
            into[key] = round(into[key] + value, 3)
        elif key not in into:
            into[key] = value


def fact_key(gate: str, f: Finding) -> tuple[Any, ...]:
    """What makes two findings one fact: the same named fact in the same document of the same
    file; else only an identical finding is the same fact."""
    loc = f.location
    fact = f.details.get("fact") if isinstance(f.details, Mapping) else None
    if not isinstance(fact, str):
        fact = _TOPICS.get(f.rule_id)
    if fact is None and f.rule_id in _POINTER_TOPICS and loc.pointer:
        fact = _POINTER_TOPICS[f.rule_id].get(loc.pointer.rsplit("/", 1)[-1])
    if fact is None:
        return ("same", gate, f.rule_id, loc.path, loc.line, loc.column, loc.pointer, f.message)
    doc = f.details.get("document") if isinstance(f.details, Mapping) else None
    where = ("document", doc) if isinstance(doc, int) and not isinstance(doc, bool) else ("line", loc.line)
    return ("fact", fact, loc.path, where)


def _shown_key(rel: _Relativizer, gate: str, f: Finding) -> tuple[Any, ...]:
    """`fact_key` of the prepared finding, made relative only where the key looks."""
    loc = f.location
    details = f.details if isinstance(f.details, Mapping) else {}
    fact = details.get("fact")
    fact = rel.text(fact) if isinstance(fact, str) else _TOPICS.get(f.rule_id)
    if fact is None and f.rule_id in _POINTER_TOPICS and loc.pointer:
        fact = _POINTER_TOPICS[f.rule_id].get(loc.pointer.rsplit("/", 1)[-1])
    path = rel.path(loc.path) if loc.path else None
    if fact is None:
        return ("same", gate, f.rule_id, path, loc.line, loc.column, loc.pointer, rel.text(f.message))
    doc = details.get("document")
    where = ("document", doc) if isinstance(doc, int) and not isinstance(doc, bool) else ("line", loc.line)
    return ("fact", fact, path, where)


def _digest(key: tuple[Any, ...]) -> bytes:
    import hashlib

    return hashlib.blake2b(repr(key).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _rank(s: Shown, same_rule: int) -> tuple[int, int, int]:
    # failing first, most severe, then a rule that states the whole fact once
    return (0 if s.failing else 1, -s.finding.severity.rank, same_rule)


def _deduplicate(gates: list[GateView], rel: _Relativizer) -> None:
    """Merge findings of one fact. Keys are compared as digests first (in memory, or spilled for
    many findings: `edgegate.report._spill`); only findings whose digest repeats are prepared and
    grouped by their full key."""
    from edgegate.report import _spill

    total = sum(g.items._total for g in gates)
    if total < 2:
        return
    digests = (_digest(_shown_key(rel, g.gate, f)) for g in gates for _, f, _ in g.items.raw())
    repeated = _spill.duplicates(digests, total)
    if not repeated:
        return
    groups: dict[tuple[Any, ...], list[tuple[int, int, Shown]]] = {}
    for gi, view in enumerate(gates):
        for pos, f, failing in view.items.raw():
            key = _shown_key(rel, view.gate, f)
            if _digest(key) in repeated:
                groups.setdefault(key, []).append((gi, pos, Shown(view.gate, rel.finding(f), failing)))
    for members in groups.values():
        if len(members) == 1:
            continue
        counts: dict[str, int] = {}
        for _, _, s in members:
            counts[s.finding.rule_id] = counts.get(s.finding.rule_id, 0) + 1
        order = sorted(range(len(members)), key=lambda i: (*_rank(members[i][2], counts[members[i][2].finding.rule_id]), i))
        primary_gate, primary_pos, primary = members[order[0]]
        others = [members[i][2] for i in order[1:]]
        also = tuple(o.finding for o in others)
        refs = [_reference(o) for o in others]
        details = dict(primary.finding.details)
        details[ALSO_KEY] = refs
        gates[primary_gate].items._replaced[primary_pos] = dataclasses.replace(
            primary, finding=dataclasses.replace(primary.finding, details=details), also=also
        )
        for gi, pos, _ in (members[i] for i in order[1:]):
            gates[gi].items._dropped.add(pos)
            if gi != primary_gate:
                gates[gi].merged_away += 1


def _reference(s: Shown) -> dict[str, Any]:
    f = s.finding
    ref: dict[str, Any] = {"gate": s.gate, "rule_id": f.rule_id, "severity": f.severity.value, "message": f.message}
    if f.location.line:
        ref["line"] = f.location.line
    if f.location.pointer:
        ref["pointer"] = f.location.pointer
    if isinstance(f.details.get("rule"), str):  # the Rego rule (deny_x, warn_y) of a policy finding
        ref["rule"] = f.details["rule"]
    return ref


class _Relativizer:
    """Rewrites paths inside `root` (absolute, or relative to the working directory) as paths
    relative to `root`, in locations and in free text."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cwd = os.getcwd()
        self._base = os.path.normpath(str(root)).rstrip(os.sep)
        self._seen: dict[str, str] = {}
        bases = {str(root)}
        try:
            bases.add(os.path.realpath(root))
        except OSError:
            pass
        alternatives = "|".join(re.escape(b.rstrip(os.sep)) for b in sorted(bases, key=len, reverse=True))
        sep = re.escape(os.sep)
        # the root itself, followed by a separator or the end of the path
        self._pattern = re.compile(rf"(?:file://)?(?:{alternatives})(?:{sep}|(?![\w.-]))")

    def path(self, path: str) -> str:
        """Relative to the root (forward slashes) when inside it, else absolute."""
        known = self._seen.get(path)
        if known is not None:
            return known
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", path):
            return path
        absolute = os.path.normpath(os.path.join(self._cwd, path))
        if absolute == self._base or absolute + os.sep == self._base:
            shown = "."
        elif absolute.startswith(self._base + os.sep):
            shown = absolute[len(self._base) + 1 :].replace(os.sep, "/")
        else:
            shown = posix(absolute)
        self._seen[path] = shown
        return shown

    def text(self, text: str) -> str:
        if not text or (os.sep not in text):
            return text
        return self._pattern.sub(lambda m: "" if m.group(0).endswith(os.sep) else ".", text)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value

    def jsonable(self, value: Any) -> Any:
        """``self.value(jsonable(value))`` in one walk."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, (bool, int)):
            return value
        if isinstance(value, Mapping):
            if all(isinstance(k, str) for k in value):
                return {k: self.jsonable(v) for k, v in value.items()}
            return self.value(jsonable(value))
        if isinstance(value, (list, tuple)):
            return [self.jsonable(v) for v in value]
        return self.value(jsonable(value))

    def finding(self, f: Finding, *, details: bool = True) -> Finding:
        loc = f.location
        kept = f.details
        if kept and not details:
            kept = {ALSO_KEY: kept[ALSO_KEY]} if ALSO_KEY in kept else {}
        location = Location(
            path=self.path(loc.path) if loc.path else None,
            line=loc.line,
            column=loc.column,
            pointer=loc.pointer,
        )
        return dataclasses.replace(
            f,
            message=self.text(f.message),
            title=self.text(f.title) if f.title else f.title,
            location=location,
            details=self.jsonable(kept) if kept else kept,
        )
