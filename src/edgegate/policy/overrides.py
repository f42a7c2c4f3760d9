"""Per-rule configuration of the policy gate: ``[[policy.override]]`` in edgegate.toml.

Applied to the findings after evaluation (whatever engine produced them), like `.trivyignore`,
conftest's exceptions or Checkov's skips: an override disables a rule or changes its severity,
optionally only for some paths, kinds or namespaces, always with a reason and an optional
expiry. An expired override stops applying and says so in the report. An override never touches
the gate's errors: what could not be checked stays an error.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from edgegate.config import Config
from edgegate.errors import ConfigError, EdgegateError
from edgegate.findings import Finding, GateResult, Location, Severity

RULE_OVERRIDE_EXPIRED = "EG-POLICY-OVERRIDE-EXPIRED"


@dataclass(frozen=True)
class RuleOverride:
    """One ``[[policy.override]]`` entry."""

    rule: str
    reason: str
    disable: bool = False
    severity: Severity | None = None
    paths: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    expires: date | None = None
    where: str = "policy.override"

    def expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires


def overrides_from_section(items: Any, config: Config) -> list[RuleOverride]:
    """Parse ``[[policy.override]]`` (already schema-checked) into `RuleOverride`s."""
    out: list[RuleOverride] = []
    for i, item in enumerate(items or []):
        where = f"policy.override[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: must be a table", config.path)
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where}: needs a reason", config.path)
        disable = bool(item.get("disable", False))
        severity = None
        if "severity" in item:
            try:
                severity = Severity.parse(str(item["severity"]))
            except ValueError as exc:
                raise ConfigError(f"{where}.severity: {exc}", config.path) from None
        if disable == (severity is not None):
            raise ConfigError(f"{where}: give exactly one of 'disable = true' or 'severity'", config.path)
        out.append(RuleOverride(
            rule=str(item["rule"]),
            reason=reason,
            disable=disable,
            severity=severity,
            paths=tuple(str(p).rstrip("/") for p in item.get("paths", [])),
            kinds=tuple(str(k) for k in item.get("kinds", [])),
            namespaces=tuple(str(n) for n in item.get("namespaces", [])),
            expires=config.expiry_date(item.get("expires"), where),
            where=where,
        ))
    return out




class _Documents:
    """Kind and namespace of the document a finding is about, read only when an override is
    scoped by them (a document that cannot be read again matches no scope: the finding stays)."""

    def __init__(self) -> None:
        self._cache: dict[str, list[Any]] = {}

    def meta(self, finding: Finding) -> tuple[str | None, str | None]:
        path = finding.location.path
        index = finding.details.get("document")
        if not path or not isinstance(index, int):
            return None, None
        if path not in self._cache:
            from edgegate.io.documents import load_documents

            try:
                self._cache[path] = [d.data for d in load_documents(path)]
            except EdgegateError:
                self._cache[path] = []
        docs = self._cache[path]
        if not 0 <= index < len(docs) or not isinstance(docs[index], Mapping):
            return None, None
        data = docs[index]
        metadata = data.get("metadata")
        namespace = metadata.get("namespace", "default") if isinstance(metadata, Mapping) else None
        kind = data.get("kind")
        return (kind if isinstance(kind, str) else None), (namespace if isinstance(namespace, str) else None)


def _relative(path: str, root: Path) -> str:
    p = Path(path)
    absolute = p if p.is_absolute() else Path.cwd() / p
    try:
        return absolute.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def _path_matches(rel: str, patterns: Sequence[str]) -> bool:
    """fnmatch patterns on the path relative to the config's folder; a folder covers its tree."""
    return any(fnmatch.fnmatchcase(rel, pat) or rel.startswith(pat + "/") for pat in patterns)


def _applies(o: RuleOverride, f: Finding, root: Path, docs: _Documents) -> bool:
    if f.rule_id != o.rule:
        return False
    if o.paths and not (f.location.path and _path_matches(_relative(f.location.path, root), o.paths)):
        return False
    if o.kinds or o.namespaces:
        kind, namespace = docs.meta(f)
        if o.kinds and kind not in o.kinds:
            return False
        if o.namespaces and namespace not in o.namespaces:
            return False
    return True


def apply_overrides(
    result: GateResult, overrides: Sequence[RuleOverride], config: Config, today: date | None = None
) -> GateResult:
    """`result` with the overrides applied and its status decided again."""
    if not overrides:
        return result
    today = today or datetime.now(timezone.utc).date()
    live = [o for o in overrides if not o.expired(today)]
    docs = _Documents()
    kept: list[Finding] = []
    disabled: list[dict[str, Any]] = []
    changed = 0
    used_expired: set[RuleOverride] = set()
    for f in result.findings:
        matching = [o for o in live if _applies(o, f, config.root, docs)]
        used_expired.update(o for o in overrides if o.expired(today) and _applies(o, f, config.root, docs))
        off = next((o for o in matching if o.disable), None)
        if off is not None:
            disabled.append({"rule": f.rule_id, "path": f.location.path, "line": f.location.line,
                             "reason": off.reason, "expires": off.expires.isoformat() if off.expires else None})
            continue
        sev = next((o for o in reversed(matching) if o.severity is not None), None)
        if sev is not None and sev.severity is not None and sev.severity != f.severity:
            details = {**f.details, "override": {"severity": f.severity.value, "reason": sev.reason}}
            f = dataclasses.replace(f, severity=sev.severity, details=details)
            changed += 1
        kept.append(f)
    for o in overrides:
        if o.expired(today):
            used = " and no longer applies to a finding" if o in used_expired else ""
            kept.append(Finding(
                gate=result.gate, rule_id=RULE_OVERRIDE_EXPIRED, severity=Severity.LOW,
                title="Rule override expired",
                message=f"{o.where} for {o.rule} expired on {o.expires}{used} (reason was: {o.reason})",
                location=Location(path=config.shown), blocking=False,
                details={"rule": o.rule, "expires": str(o.expires), "reason": o.reason},
            ))
    stats = {**result.stats, "overrides": {"disabled": len(disabled), "severity_changed": changed}}
    if disabled:
        stats["disabled_findings"] = disabled
    return GateResult.decide(result.gate, kept, errors=result.errors, stats=stats)
