"""The vulnerability gate: read inputs, match (offline database or online OSV), apply ignores and
VEX, and decide. `scan` is what both ``edgegate vuln scan`` and ``edgegate check`` call."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from edgegate.errors import InputError, NothingToCheckError
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.vuln.components import Component, Inventory, VexStatement
from edgegate.vuln.match import Match, MatchResult, Unscannable

GATE = "vuln"
DEFAULT_MAX_DB_AGE_DAYS = 14.0
MAX_LOAD_WARNINGS_SHOWN = 50

RULE_UNSCANNABLE = "EGV001"
RULE_RECORD_SKIPPED = "EGV002"
RULE_DB_STALE = "EGV003"
RULE_IGNORE_EXPIRED = "EGV004"
RULE_VEX_UNJUSTIFIED = "EGV005"
RULE_INPUT_NOTE = "EGV006"
RULE_UNCOVERED = "EGV007"


@dataclass(frozen=True)
class IgnoreRule:
    """An accepted advisory: its id (or an alias), why, and until when (inclusive)."""

    id: str
    reason: str
    expires: date | None = None
    source: str | None = None

    def expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires


@dataclass(frozen=True)
class ScanInput:
    """One thing to scan: ``python`` (requirements / pyproject / folder), ``sbom``, ``image``,
    or ``environment`` (the running Python)."""

    kind: str
    path: Path | None = None
    shown: str = ""
    ref: str | None = None


@dataclass
class ScanSettings:
    db: Path | None = None
    """Offline database (sqlite file, OSV folder or zip); None = online (PyPI only, pip-audit)."""
    osv_url: str | None = None
    fail_on: Severity = Severity.LOW
    unknown_severity: Severity = Severity.HIGH
    max_db_age_days: float | None = DEFAULT_MAX_DB_AGE_DAYS
    ignores: list[IgnoreRule] = field(default_factory=list)
    vex: list[Path] = field(default_factory=list)
    timeout: int = 30
    today: date | None = None
    allow_unchecked: bool = False
    """Components that could not be checked (EGV001, EGV007) are warnings only; by default they
    make the gate an error (exit 2): what was not checked is never a pass."""


def _warning(rule: str, title: str, message: str, location: Location, details: dict[str, Any] | None = None,
             severity: Severity = Severity.LOW) -> Finding:
    return Finding(gate=GATE, rule_id=rule, severity=severity, message=message, location=location, title=title,
                   details=details or {}, blocking=False)


def _where(comp: Component) -> Location:
    return Location(path=comp.source, line=comp.line, pointer=comp.pointer)


# --- inputs --------------------------------------------------------------------------------------


_UNREAD_SBOM_NOTES = frozenset({"EGS101", "EGS102", "EGS103", "EGS104"})
"""edgegate.sbom notes that mean packages are missing from the image's SBOM: a layer entry skipped
(EGS101: an absolute or ``..`` name, a link escaping the root; it may be a package database or a
package's metadata), an rpm BerkeleyDB/NDB database not read (EGS102), an rpm sqlite database or
header that could not be read (EGS103), a ``package.json`` that is not JSON (EGS104). Their
packages were not checked: they count as unchecked, like EGV001."""


def _unread_count(note: Finding) -> int:
    more = note.details.get("more")  # "N more layer entries skipped"
    return int(more) if isinstance(more, str) and more.isdigit() else 1


def _image_inventory(ref: str) -> tuple[Inventory, list[Finding]]:
    import importlib.util
    import tempfile

    if importlib.util.find_spec("edgegate.sbom.api") is None:
        raise InputError("--image needs edgegate's SBOM module (edgegate.sbom), which is not installed")
    from edgegate.sbom.api import image_sbom
    from edgegate.vuln.components import read_sbom

    with tempfile.TemporaryDirectory(prefix="edgegate-vuln-") as tmp:
        out = Path(tmp) / "image.cdx.json"
        result = image_sbom(ref, out)
        notes = [
            _warning(f.rule_id, f.title or "SBOM note", f.message, Location(path=ref), dict(f.details))
            for f in result.findings
        ]
        try:
            inv = read_sbom(out, ref)
        except NothingToCheckError:
            if not any(n.rule_id in _UNREAD_SBOM_NOTES for n in notes):
                raise
            inv = Inventory()  # no package read, and the notes say what was not: unchecked, below
    # The SBOM was a temporary file: point at the image, not into a document the user never saw.
    inv.components = [replace(c, pointer=None) for c in inv.components]
    inv.unread += sum(_unread_count(n) for n in notes if n.rule_id in _UNREAD_SBOM_NOTES)
    return inv, notes


def collect(inputs: Sequence[ScanInput], vex_files: Sequence[Path] = ()) -> tuple[Inventory, list[Finding]]:
    """Components and VEX statements of every input."""
    from edgegate.vuln.components import read_sbom, read_vex
    from edgegate.vuln.requirements import read_environment, read_python_path

    inv = Inventory()
    notes: list[Finding] = []
    for item in inputs:
        if item.kind == "python" and item.path is not None:
            inv.components += read_python_path(item.path, item.shown or str(item.path))
        elif item.kind == "sbom" and item.path is not None:
            got = read_sbom(item.path, item.shown or str(item.path))
            inv.components += got.components
            inv.vex += got.vex
        elif item.kind == "environment":
            inv.components += read_environment()
        elif item.kind == "image" and item.ref:
            got, image_notes = _image_inventory(item.ref)
            inv.components += got.components
            inv.vex += got.vex
            inv.unread += got.unread
            notes += image_notes
        else:  # pragma: no cover - programming error
            raise ValueError(f"bad scan input {item!r}")
    for vf in vex_files:
        inv.vex += read_vex(vf, str(vf))
    return inv, notes


# --- decisions -----------------------------------------------------------------------------------


def _fix_for(m: Match) -> str | None:
    return m.fix


def _purl_key(purl: str | None) -> tuple[str, str | None, str, str | None] | None:
    if not purl:
        return None
    from packageurl import PackageURL

    try:
        p = PackageURL.from_string(purl)
    except ValueError:
        return None
    name = p.name.lower().replace("_", "-").replace(".", "-") if p.type == "pypi" else p.name
    return (p.type, p.namespace, name, p.version)


def _vex_applies(stmt: VexStatement, m: Match) -> bool:
    if stmt.id not in m.ids:
        return False
    comp = m.component
    if comp.bom_ref and comp.bom_ref in stmt.refs:
        return True
    key = _purl_key(comp.purl)
    return key is not None and any(_purl_key(r) == key for r in stmt.refs)


def _severity(m: Match, unknown: Severity) -> tuple[Severity, str]:
    r = m.advisory.rating
    if r is None:
        return unknown, "unknown"
    return r.level, r.source


class _Details(Mapping[str, Any]):
    """A vulnerability finding's ``details``, read from its match when asked for (a scan with
    100,000 findings does not hold 100,000 dicts): the same keys, order and values as the dict
    it stands for."""

    __slots__ = ("_match", "_source")

    def __init__(self, match: Match, severity_source: str) -> None:
        self._match = match
        self._source = severity_source

    def _keys(self) -> tuple[str, ...]:
        adv = self._match.advisory
        keys: tuple[str, ...] = _DETAIL_KEYS
        if adv.rating is not None and adv.rating.score is not None:
            keys += ("cvss_score", "cvss_vector")
        if adv.summary:
            keys += ("summary",)
        return keys

    def __getitem__(self, key: str) -> Any:
        m = self._match
        adv, comp = m.advisory, m.component
        if key == "component":
            return comp.name
        if key == "version":
            return comp.version
        if key == "ecosystem":
            return comp.ecosystem
        if key == "purl":
            return comp.purl
        if key == "advisory":
            return adv.id
        if key == "aliases":
            return list(adv.aliases)
        if key == "fixed_versions":
            return list(m.fixed)
        if key == "fix":
            return _fix_for(m)
        if key == "severity_source":
            return self._source
        if key == "source":
            return comp.source
        if key in self._keys():
            rating = adv.rating
            if key == "summary":
                return adv.summary
            assert rating is not None
            return rating.score if key == "cvss_score" else rating.vector
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __repr__(self) -> str:
        return repr(dict(self))


_DETAIL_KEYS = ("component", "version", "ecosystem", "purl", "advisory", "aliases", "fixed_versions", "fix",
                "severity_source", "source")


def _finding(m: Match, unknown: Severity, where: Location | None = None) -> Finding:
    adv, comp = m.advisory, m.component
    level, source = _severity(m, unknown)
    fix = _fix_for(m)
    aliases = ", ".join(adv.aliases)
    also = f" ({aliases})" if aliases else ""
    fix_text = f"fixed in {fix}" if fix else "no fixed version known"
    rated = "" if source != "unknown" else f" [severity unknown, treated as {level.value}]"
    return Finding(
        gate=GATE,
        rule_id=adv.id,
        severity=level,
        message=f"{comp.shown}: {adv.id}{also}: {fix_text}{rated}",
        location=where or _where(comp),
        title=adv.summary or adv.id,
        details=_Details(m, source),
    )


def _unscannable(u: Unscannable) -> Finding:
    comp = u.component
    details: dict[str, Any] = {"component": comp.name, "version": comp.version, "purl": comp.purl,
                               "reason": u.reason}
    if u.advisories:
        details["advisories"] = u.advisories
        msg = (f"{comp.shown}: could not be compared with {len(u.advisories)} advisor"
               f"{'y' if len(u.advisories) == 1 else 'ies'} ({', '.join(u.advisories[:5])}): {u.reason}")
    else:
        msg = f"{comp.shown}: not scanned: {u.reason}"
    return _warning(RULE_UNSCANNABLE, "Component not scannable", msg, _where(comp), details)


def decide(
    result: MatchResult,
    inventory: Inventory,
    settings: ScanSettings,
    *,
    notes: Sequence[Finding] = (),
    stats: dict[str, Any] | None = None,
) -> GateResult:
    """Ignores, VEX and severities applied to the matches: the gate's result."""
    today = settings.today or datetime.now(timezone.utc).date()
    findings: list[Finding] = list(notes)
    suppressed: list[dict[str, Any]] = []
    expired_used: set[IgnoreRule] = set()
    kept: list[Match] = []
    for m in result.matches:
        why = None
        for rule in settings.ignores:
            if rule.id in m.ids:
                if rule.expired(today):
                    expired_used.add(rule)
                else:
                    why = {"by": "ignore", "id": rule.id, "reason": rule.reason,
                           "expires": rule.expires.isoformat() if rule.expires else None}
                    break
        if why is None:
            for stmt in inventory.vex:
                if stmt.state == "not_affected" and stmt.justification and _vex_applies(stmt, m):
                    why = {"by": "vex", "id": stmt.id, "reason": stmt.justification, "source": stmt.source}
                    break
        if why is None:
            kept.append(m)
        else:
            suppressed.append({"component": m.component.name, "version": m.component.version,
                               "advisory": m.advisory.id, **why})
    for rule in sorted(settings.ignores, key=lambda r: r.id):
        if rule.expired(today):
            used = " and no longer suppresses a finding" if rule in expired_used else ""
            findings.append(_warning(
                RULE_IGNORE_EXPIRED, "Ignore entry expired",
                f"ignore entry for {rule.id} expired on {rule.expires}{used} (reason was: {rule.reason})",
                Location(path=rule.source), {"id": rule.id, "expires": str(rule.expires), "reason": rule.reason},
            ))
    for stmt in inventory.vex:
        if stmt.state == "not_affected" and not stmt.justification:
            findings.append(_warning(
                RULE_VEX_UNJUSTIFIED, "VEX statement without justification",
                f"VEX statement for {stmt.id} says not_affected without a justification: not applied",
                Location(path=stmt.source, pointer=stmt.pointer), {"id": stmt.id},
            ))
    places: dict[int, Location] = {}  # one Location per component, shared by its findings
    vuln_findings = [
        _finding(m, settings.unknown_severity, places.get(id(m.component)) or places.setdefault(id(m.component), _where(m.component)))
        for m in kept
    ]
    findings += vuln_findings
    findings += [_unscannable(u) for u in result.unscannable]
    for eco, comps in sorted(result.uncovered.items()):
        names = ", ".join(c.shown for c in comps[:5]) + (", ..." if len(comps) > 5 else "")
        findings.append(_warning(
            RULE_UNCOVERED, "No advisories for this ecosystem",
            f"the vulnerability database has no {eco} advisories: {len(comps)} component(s) not checked ({names})",
            Location(path=comps[0].source), {"ecosystem": eco, "components": [c.shown for c in comps]},
        ))
    rows = _table(kept, settings.unknown_severity)
    out_stats: dict[str, Any] = dict(stats or {})
    out_stats.update({
        "components": len(inventory.components),
        "scanned": result.scanned,
        "unscannable": len(result.unscannable) + sum(len(c) for c in result.uncovered.values()) + inventory.unread,
        "unread": inventory.unread,
        "vulnerable_components": len({id(m.component) for m in kept}),
        "vulnerabilities": len(kept),
        "suppressed": len(suppressed),
        "fail_on": settings.fail_on.value,
        "unknown_severity": settings.unknown_severity.value,
    })
    if suppressed:
        out_stats["suppressions"] = suppressed
    if rows:
        out_stats["tables"] = [{
            "title": "Vulnerable components",
            "columns": ["component", "installed", "advisories", "worst severity", "fix", "source"],
            "rows": rows,
        }]
    errors: list[str] = []
    unchecked = out_stats["unscannable"]
    if unchecked and not settings.allow_unchecked:
        errors.append(
            f"{unchecked} component(s) could not be checked (the EGV001/EGV007 findings, and an image's EGS101-EGS104"
            " notes, say why): pin them, give a database that covers their ecosystem, or accept it with"
            " --allow-unchecked ([vuln] allow-unchecked = true)"
        )
    out_stats["allow_unchecked"] = settings.allow_unchecked
    return GateResult.decide(GATE, findings, errors=errors, stats=out_stats, fail_on=settings.fail_on)


def _table(matches: Sequence[Match], unknown: Severity) -> list[list[Any]]:
    groups: dict[int, list[Match]] = {}
    for m in matches:
        groups.setdefault(id(m.component), []).append(m)
    rows: list[list[Any]] = []
    for ms in groups.values():
        comp = ms[0].component
        worst = max(_severity(m, unknown)[0] for m in ms)
        fixes = [f for m in ms if (f := _fix_for(m))]
        fix = None
        if fixes and comp.ecosystem:
            from edgegate.vuln.match import sort_versions

            fix = sort_versions(comp.ecosystem, fixes)[-1]
        unfixed = any(_fix_for(m) is None for m in ms)
        fix_text = (fix or "none") + (" (some unfixed)" if fix and unfixed else "")
        rows.append([comp.name, comp.version, ", ".join(m.advisory.id for m in ms), worst.value, fix_text,
                     comp.source])
    rows.sort(key=lambda r: (str(r[5]), str(r[0])))
    return rows


def _db_notes(db: Any, settings: ScanSettings) -> tuple[list[Finding], dict[str, Any]]:
    info = db.info()
    findings: list[Finding] = []
    age = info.age_days()
    if settings.max_db_age_days is not None and age > settings.max_db_age_days:
        findings.append(_warning(
            RULE_DB_STALE, "Vulnerability database is old",
            f"vulnerability database built {age:.1f} days ago ({info.built_at:%Y-%m-%d}), older than"
            f" {settings.max_db_age_days:g} days: rebuild it with `edgegate vuln db build`",
            Location(path=db.path), {"age_days": round(age, 2), "max_db_age_days": settings.max_db_age_days},
        ))
    warnings = [str(w) for w in db.load_warnings] or info.warnings
    skipped = len(db.load_warnings) if db.load_warnings else info.skipped
    for w in warnings[:MAX_LOAD_WARNINGS_SHOWN]:
        source, _, message = w.partition(": ")
        findings.append(_warning(RULE_RECORD_SKIPPED, "OSV record skipped", w, Location(path=source),
                                 {"message": message}))
    if skipped > MAX_LOAD_WARNINGS_SHOWN:
        findings.append(_warning(RULE_RECORD_SKIPPED, "OSV record skipped",
                                 f"{skipped - MAX_LOAD_WARNINGS_SHOWN} more OSV records were skipped",
                                 Location(path=db.path)))
    return findings, {"db": db.path, "db_age_days": round(age, 2), "db_advisories": info.advisories}


def scan(inputs: Sequence[ScanInput], settings: ScanSettings) -> GateResult:
    """The vulnerability gate over `inputs` with `settings` (offline when ``settings.db``)."""
    from edgegate.vuln.match import match_offline, match_online

    start = time.perf_counter()
    inventory, notes = collect(inputs, settings.vex)
    stats: dict[str, Any] = {"mode": "offline" if settings.db else "online"}
    if settings.db is not None:
        from edgegate.vuln.db import open_db

        db = open_db(settings.db)
        try:
            db_findings, db_stats = _db_notes(db, settings)
            notes += db_findings
            stats.update(db_stats)
            result = match_offline(inventory.components, db)
        finally:
            db.close()
    else:
        result = match_online(inventory.components, osv_url=settings.osv_url, timeout=settings.timeout)
        stats["osv_url"] = settings.osv_url or "https://api.osv.dev/v1/query"
    stats["seconds"] = round(time.perf_counter() - start, 3)
    return decide(result, inventory, settings, notes=notes, stats=stats)
