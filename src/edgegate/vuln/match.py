"""Match components against an offline database (`match_offline`) or, for Python packages, the
OSV service through pip-audit (`match_online`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgegate.errors import EngineError
from edgegate.vuln.components import Component
from edgegate.vuln.db import VulnDB
from edgegate.vuln.osv import Advisory, Affected, Verdict, advisory_from_record, evaluate
from edgegate.vuln.versions import UnparseableVersion, can_order, parse


@dataclass
class Match:
    """A component affected by an advisory, with the versions that fix it."""

    component: Component
    advisory: Advisory
    fixed: list[str] = field(default_factory=list)
    """Every ``fixed`` event of the matching records, in ecosystem order."""
    fix: str | None = None
    """The version to upgrade to: the smallest fixed version above the installed one (the
    highest such version over merged records); None when no record knows a fix."""

    def __post_init__(self) -> None:
        if self.fix is None and self.fixed:
            self.fix = fix_for(self.component, self.fixed)

    @property
    def ids(self) -> frozenset[str]:
        return self.advisory.ids


def fix_for(component: Component, fixed: Sequence[str]) -> str | None:
    """The smallest of `fixed` above the installed version; the last one when none parses
    above it (a fix the ecosystem cannot order), None when `fixed` is empty."""
    if not fixed:
        return None
    eco = component.ecosystem or ""
    try:
        installed = parse(eco, component.version or "")
    except UnparseableVersion:
        return fixed[-1]
    for f in fixed:
        try:
            if parse(eco, f) > installed:
                return f
        except UnparseableVersion:
            continue
    return None


@dataclass
class Unscannable:
    """A component edgegate could not check (fully), and why."""

    component: Component
    reason: str
    advisories: list[str] = field(default_factory=list)


@dataclass
class MatchResult:
    matches: list[Match] = field(default_factory=list)
    unscannable: list[Unscannable] = field(default_factory=list)
    scanned: int = 0
    uncovered: dict[str, list[Component]] = field(default_factory=dict)
    """Ecosystem (``Debian:12``) → components the database has no advisories for at all: not
    checked, rather than silently clean."""


def _covered(component: Component, ecosystems: frozenset[str]) -> str | None:
    """None when the database covers the component's ecosystem (and release); else the
    ecosystem name to report."""
    base = component.ecosystem or ""
    bases = {e.split(":", 1)[0] for e in ecosystems}
    want = f"{base}:{component.release}" if component.release else base
    if base not in bases:
        return want
    if component.release is None or base in ecosystems:
        return None
    if any(e.split(":")[1:2] == [component.release] for e in ecosystems if e.startswith(base + ":")):
        return None
    return want


def _release_applies(component: Component, entry: Affected) -> bool:
    parts = entry.ecosystem.split(":")
    if len(parts) == 1 or component.release is None:
        return True  # no release on one side: the advisory applies (never a silent miss)
    return parts[1] == component.release


def sort_versions(ecosystem: str, versions: Iterable[str]) -> list[str]:
    """Versions in the ecosystem's order; unparseable ones last, as given."""
    good: list[tuple[Any, str]] = []
    bad: list[str] = []
    for v in dict.fromkeys(versions):
        try:
            good.append((parse(ecosystem, v), v))
        except UnparseableVersion:
            bad.append(v)
    good.sort(key=lambda t: t[0])
    return [v for _, v in good] + bad


def _id_rank(vid: str) -> tuple[int, str]:
    # The same preference as pip-audit: PYSEC, then GHSA, then CVE, then the rest; then by id.
    for i, prefix in enumerate(("PYSEC-", "GHSA-", "CVE-")):
        if vid.startswith(prefix):
            return i, vid
    return 3, vid


def merge_aliases(matches: list[Match]) -> list[Match]:
    """One match per advisory per component: records that alias each other (a PYSEC and its
    GHSA) are merged under the preferred id (PYSEC > GHSA > CVE > other), with the union of ids
    and fixes. The result does not depend on the order records arrive in."""
    from dataclasses import replace

    out: list[Match] = []
    owner: dict[tuple[int, str], int] = {}  # (component, id) -> index in `out` of the match holding it
    for m in sorted(matches, key=lambda m: _id_rank(m.advisory.id)):
        ids = m.ids
        comp = id(m.component)
        hits = [owner[(comp, i)] for i in ids if (comp, i) in owner]
        if not hits:
            owner.update(((comp, i), len(out)) for i in ids)
            out.append(m)
            continue
        at = min(hits)  # the first kept match sharing an id, as a scan of `out` would find
        kept = out[at]
        adv = kept.advisory
        aliases = tuple(sorted((set(adv.aliases) | ids) - {adv.id}))
        kept.advisory = replace(adv, aliases=aliases, rating=adv.rating or m.advisory.rating)
        kept.fixed = sort_versions(m.component.ecosystem or "", [*kept.fixed, *m.fixed])
        # Records that disagree: the fix must satisfy both; unknown if one has none.
        if kept.fix is None or m.fix is None:
            kept.fix = None
        else:
            kept.fix = sort_versions(m.component.ecosystem or "", [kept.fix, m.fix])[-1]
        for i in ids:  # every id now held by `kept` too: the first holder wins
            owner[(comp, i)] = min(owner.get((comp, i), at), at)
    return out


def match_offline(components: Sequence[Component], db: VulnDB) -> MatchResult:
    """Every (component, advisory) where the component's version is affected."""
    result = MatchResult()
    ecosystems = db.ecosystems()
    fixes: dict[int, list[str]] = {}  # id(affected entry) -> its fixed versions in order (entries live in db's cache)
    for comp in components:
        if comp.problem is not None or comp.ecosystem is None or comp.version is None:
            result.unscannable.append(Unscannable(comp, comp.problem or "cannot be matched"))
            continue
        missing = _covered(comp, ecosystems)
        if missing is not None:
            result.uncovered.setdefault(missing, []).append(comp)
            continue
        result.scanned += 1
        found: list[Match] = []
        unknown: list[str] = []
        problems: list[str] = []
        for adv, entry in db.lookup(comp.ecosystem, comp.key):
            if not _release_applies(comp, entry):
                continue
            ev = evaluate(entry, comp.version)
            if ev.verdict is Verdict.AFFECTED:
                fixed = fixes.get(id(entry))
                if fixed is None:
                    fixed = fixes[id(entry)] = sort_versions(entry.base, entry.fixed())
                found.append(Match(comp, adv, fixed))
            elif ev.verdict is Verdict.UNKNOWN:
                unknown.append(adv.id)
                problems += [p for p in ev.problems if p not in problems]
        result.matches += merge_aliases(found)
        if unknown:
            if not can_order(comp.ecosystem):
                reason = f"no version ordering for {comp.ecosystem}"
            else:
                reason = "; ".join(problems[:3])
            result.unscannable.append(Unscannable(comp, reason, unknown))
    return result


class _RecordingSession:
    """Wraps pip-audit's HTTP session to keep the OSV records of each response, so severity and
    aliases come from the same records pip-audit read (pip-audit keeps no severity)."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.records: dict[str, dict[str, Any]] = {}

    def post(self, *args: Any, **kwargs: Any) -> Any:
        response = self._session.post(*args, **kwargs)
        try:
            body = response.json()
        except ValueError:
            return response
        if isinstance(body, dict):
            for vuln in body.get("vulns") or []:
                if isinstance(vuln, dict) and isinstance(vuln.get("id"), str):
                    self.records[vuln["id"]] = vuln
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _online_advisory(raw: Any, comp: Component, url: str) -> tuple[Advisory | None, list[str]]:
    """The advisory and its fixed versions for `comp` from an OSV API record (all ranges, as
    offline; pip-audit itself keeps only the first range's fixes)."""
    from edgegate.vuln.osv import MalformedRecord

    if raw is None:
        return None, []
    try:
        adv = advisory_from_record(raw, url)
    except MalformedRecord:
        return None, []
    if adv is None:
        return None, []
    fixed: list[str] = []
    for entry in adv.affected:
        if entry.base == "PyPI" and entry.name == comp.key:
            fixed += [f for f in entry.fixed() if f not in fixed]
    return adv, sort_versions("PyPI", fixed)


DEFAULT_OSV_URL = "https://api.osv.dev/v1/query"


def match_online(
    components: Sequence[Component], *, osv_url: str | None = None, timeout: int = 30, cache_dir: Any = None
) -> MatchResult:
    """Python components checked by pip-audit's OSV service (``POST /v1/query``). Other
    ecosystems cannot be checked online: they are an error (use an offline database)."""
    from packaging.version import InvalidVersion, Version
    from pip_audit._service.interface import ResolvedDependency, ServiceError
    from pip_audit._service.osv import OsvService

    others = [c for c in components if c.ecosystem not in ("PyPI", None) and c.problem is None]
    if others:
        kinds = sorted({c.ecosystem or "?" for c in others})
        raise EngineError(
            f"online mode checks PyPI packages only; {len(others)} {', '.join(kinds)} component(s) need an"
            " offline database (--db)"
        )
    service = OsvService(cache_dir=cache_dir, timeout=timeout, osv_url=osv_url or DEFAULT_OSV_URL)
    recorder = _RecordingSession(service.session)
    service.session = recorder  # type: ignore[assignment]
    result = MatchResult()
    for comp in components:
        if comp.problem is not None or comp.ecosystem is None or comp.version is None:
            result.unscannable.append(Unscannable(comp, comp.problem or "cannot be matched"))
            continue
        try:
            version = Version(comp.version)
        except InvalidVersion:
            result.unscannable.append(Unscannable(comp, f"{comp.version!r} is not a valid PyPI version"))
            continue
        result.scanned += 1
        dep = ResolvedDependency(name=comp.name, version=version)
        try:
            _, vulns = service.query(dep)
        except ServiceError as exc:
            cause = exc.__cause__ or exc
            raise EngineError(f"OSV service error for {comp.shown}: {cause}") from None
        except Exception as exc:  # requests' connection errors and pip-audit's ConnectionError
            raise EngineError(f"cannot reach the OSV service at {service.osv_url}: {exc}") from None
        found: list[Match] = []
        for vr in vulns:
            ids = {vr.id, *vr.aliases}
            raw = next((recorder.records[i] for i in ids if i in recorder.records), None)
            adv, fixed = _online_advisory(raw, comp, service.osv_url)
            if adv is None:
                adv = Advisory(id=vr.id, aliases=tuple(sorted(vr.aliases)), summary=vr.description)
                fixed = [str(v) for v in vr.fix_versions]
            found.append(Match(comp, adv, fixed))
        result.matches += merge_aliases(found)
    return result
