"""SARIF 2.1.0 output for GitHub code scanning (and any other SARIF viewer).

One run. ``tool.driver.rules`` holds one descriptor per distinct rule id, with GitHub's
``security-severity`` convention; every result has a location (GitHub refuses results without
one), a URI relative to ``%SRCROOT%`` (= `ReportContext.root`), and a ``partialFingerprints``
entry so an alert is tracked across runs even when its line moves. Gate errors become
``toolExecutionNotifications`` and ``executionSuccessful: false``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from edgegate.findings import Finding, GateResult, Severity
from edgegate.report._common import (
    first_path,
    is_failing,
    jsonable,
    relative_path,
    source_root,
    tool_version,
    verdict,
)

if TYPE_CHECKING:
    from edgegate.report import ReportContext

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/edgegate/edgegate"
FINGERPRINT_KEY = "edgegateFindingHash/v1"
MAX_RESULTS = 25_000
"""GitHub code scanning keeps at most 25,000 results per run; more are counted, not listed."""
FALLBACK_PATH = "edgegate.toml"
"""Where a finding that names no file is placed when its gate names no file either."""

SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.INFO: "0.0",
}
"""GitHub maps >9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low."""

_LEVEL_RANK = {"none": 0, "note": 1, "warning": 2, "error": 3}


def level(finding: Finding, failing: bool) -> str:
    """SARIF level: a failing finding is ``error`` (critical/high), ``warning`` (medium/low) or
    ``note`` (info); a non-failing one is ``warning`` (medium and above) or ``note``."""
    sev = finding.severity
    if failing:
        if sev >= Severity.HIGH:
            return "error"
        return "warning" if sev >= Severity.LOW else "note"
    return "warning" if sev >= Severity.MEDIUM else "note"


def fingerprint(rule_id: str, uri: str, message: str) -> str:
    """A stable hash of rule id, path and message (no line: alerts survive code moving)."""
    digest = hashlib.sha256("\0".join((rule_id, uri, message)).encode("utf-8"))
    return digest.hexdigest()[:32]


def artifact_location(path: str, root: Path) -> dict[str, str]:
    """``artifactLocation`` for `path`: relative to ``%SRCROOT%`` when inside `root`, else an
    absolute ``file:`` URI (which may not carry a ``uriBaseId``)."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", path):
        return {"uri": path}
    rel = relative_path(path, root)
    if rel is not None:
        return {"uri": quote(rel, safe="/"), "uriBaseId": "%SRCROOT%"}
    absolute = Path(path) if Path(path).is_absolute() else Path.cwd() / path
    return {"uri": absolute.as_uri()}


def _rule_name(finding: Finding) -> str:
    words = re.findall(r"[A-Za-z0-9]+", finding.title or "")
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name or finding.rule_id


def _descriptor(finding: Finding, gates: list[str], worst: Finding, lvl: str) -> dict[str, Any]:
    title = finding.title or finding.rule_id
    full = f"{title} (edgegate {', '.join(gates)} gate)"
    return {
        "id": finding.rule_id,
        "name": _rule_name(finding),
        "shortDescription": {"text": title},
        "fullDescription": {"text": full},
        "defaultConfiguration": {"level": lvl},
        "properties": {
            "security-severity": SECURITY_SEVERITY[worst.severity],
            "tags": [*gates, "security"],
        },
    }


def document(results: Sequence[GateResult], ctx: ReportContext) -> dict[str, Any]:
    """The SARIF log as a JSON-able dict."""
    root = source_root(Path(ctx.root))
    any_path = next((p for p in (first_path(r) for r in results) if p), None)
    fallback_path = ctx.fallback_path or any_path or FALLBACK_PATH

    # Rules: one per rule id in order of first appearance; level/severity of its worst finding.
    order: list[str] = []
    first: dict[str, Finding] = {}
    worst: dict[str, Finding] = {}
    worst_level: dict[str, str] = {}
    rule_gates: dict[str, list[str]] = {}
    for r in results:
        for f in r.findings:
            rid = f.rule_id
            if rid not in first:
                order.append(rid)
                first[rid] = f
                worst[rid] = f
                worst_level[rid] = "none"
                rule_gates[rid] = []
            if f.title and not first[rid].title:
                first[rid] = f
            if f.severity > worst[rid].severity:
                worst[rid] = f
            lvl = level(f, is_failing(r, f))
            if _LEVEL_RANK[lvl] > _LEVEL_RANK[worst_level[rid]]:
                worst_level[rid] = lvl
            if r.gate not in rule_gates[rid]:
                rule_gates[rid].append(r.gate)
    index = {rid: i for i, rid in enumerate(order)}
    rules = [_descriptor(first[rid], rule_gates[rid], worst[rid], worst_level[rid]) for rid in order]

    sarif_results: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    total = 0
    for r in results:
        gate_path = first_path(r) or fallback_path
        for f in r.findings:
            total += 1
            if len(sarif_results) >= MAX_RESULTS:
                continue
            loc = f.location
            path = loc.path or gate_path
            artifact = artifact_location(path, root)
            physical: dict[str, Any] = {"artifactLocation": artifact}
            if loc.path and loc.line:
                region: dict[str, int] = {"startLine": loc.line}
                if loc.column:
                    region["startColumn"] = loc.column
                physical["region"] = region
            else:
                physical["region"] = {"startLine": 1}
            location: dict[str, Any] = {"physicalLocation": physical}
            base = fingerprint(f.rule_id, artifact["uri"], f.message)
            seen[base] = seen.get(base, 0) + 1
            props: dict[str, Any] = {
                "gate": r.gate,
                "severity": f.severity.value,
                "blocking": f.blocking,
            }
            if loc.pointer:
                props["pointer"] = loc.pointer
            if not loc.path:
                props["locationFallback"] = True
            if f.details:
                props["details"] = jsonable(dict(f.details))
            sarif_results.append(
                {
                    "ruleId": f.rule_id,
                    "ruleIndex": index[f.rule_id],
                    "level": level(f, is_failing(r, f)),
                    "message": {"text": f.message or f.title or f.rule_id},
                    "locations": [location],
                    "partialFingerprints": {FINGERPRINT_KEY: f"{base}:{seen[base]}"},
                    "properties": props,
                }
            )

    notifications: list[dict[str, Any]] = []
    for r in results:
        for err in r.errors:
            notifications.append(
                {
                    "level": "error",
                    "message": {"text": f"{r.gate}: {err}"},
                    "properties": {"gate": r.gate},
                }
            )
    if total > len(sarif_results):
        notifications.append(
            {
                "level": "warning",
                "message": {
                    "text": f"{total - len(sarif_results)} of {total} results left out "
                    f"(GitHub keeps at most {MAX_RESULTS} per run); see the JSON report"
                },
            }
        )
    invocation: dict[str, Any] = {
        "executionSuccessful": not any(r.errors for r in results),
        "exitCode": verdict(results).exit_code,
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications

    version = tool_version()
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "edgegate",
                "version": version,
                "semanticVersion": version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "automationDetails": {"id": _category(ctx.command)},
        "invocations": [invocation],
        "originalUriBaseIds": {"%SRCROOT%": {"uri": _dir_uri(root)}},
        "columnKind": "unicodeCodePoints",
        "results": sarif_results,
        "properties": {"gates": [{"gate": r.gate, "status": r.status.value} for r in results]},
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _category(command: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", command.strip()).strip("-") or "edgegate"
    return f"{slug}/"


def _dir_uri(root: Path) -> str:
    uri = (root if root.is_absolute() else Path.cwd() / root).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The SARIF log as JSON text."""
    return json.dumps(document(results, ctx), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
