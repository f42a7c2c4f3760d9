"""SARIF 2.1.0 output for GitHub code scanning (and any other SARIF viewer).

One run. ``tool.driver.rules`` holds one descriptor per distinct rule id, with GitHub's
``security-severity`` convention; every result has a location (GitHub refuses results without
one), a URI relative to ``%SRCROOT%`` (= `ReportContext.root`), and a ``partialFingerprints``
entry so an alert is tracked across runs even when its line moves. Gate errors become
``toolExecutionNotifications`` and ``executionSuccessful: false``.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from edgegate.findings import Finding, GateResult, Severity
from edgegate.report._common import Writer, jsonable, relative_path, tool_version
from edgegate.report._prepare import GateView, Prepared, Shown, prepare
from edgegate.report._rules import SECURITY, rule_info
from edgegate.report._sanitize import defuse_json

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


def fingerprint(rule_id: str, uri: str, key: str) -> str:
    """A stable hash of rule id, repository-relative path and location key (never the message or
    the line: an alert survives rewording and code moving above it)."""
    digest = hashlib.sha256("\0".join((rule_id, uri, key)).encode("utf-8"))
    return digest.hexdigest()[:32]


_KEY_DETAILS = ("purl", "component", "artifact", "member", "workload", "metric", "cost_center", "file", "model")


def location_key(finding: Finding) -> str:
    """What identifies a finding's place besides its file: the document and JSON pointer when
    known, else identifying details (package, workload, ...), else nothing (the occurrence number
    then tells identical keys apart; the line never counts, so moved code keeps its alerts)."""
    details = finding.details if isinstance(finding.details, Mapping) else {}
    parts: list[str] = []
    doc = details.get("document")
    if isinstance(doc, int) and not isinstance(doc, bool):
        parts.append(f"document={doc}")
    if finding.location.pointer:
        parts.append(f"pointer={finding.location.pointer}")
    if not finding.location.pointer:
        parts += [f"{k}={details[k]}" for k in _KEY_DETAILS if isinstance(details.get(k), (str, int))]
    return ";".join(parts)


def artifact_location(path: str, root: Path) -> dict[str, str]:
    """``artifactLocation`` for a shown path (`prepare`: relative to the repository root when
    inside it, else absolute): relative to ``%SRCROOT%``, or an absolute ``file:`` URI (which may
    not carry a ``uriBaseId``)."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", path):
        return {"uri": path}
    if Path(path).is_absolute():
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(posixpath.normpath(path), safe="/"), "uriBaseId": "%SRCROOT%"}


def _descriptor(gate: str, finding: Finding, worst: Finding, lvl: str) -> dict[str, Any]:
    info = rule_info(gate, finding.rule_id, finding.title, finding.details)
    title = finding.title or finding.rule_id
    if gate == "vuln" and info.name.startswith("VulnerableDependency"):
        title = f"Known vulnerability {finding.rule_id}"
    properties: dict[str, Any] = {"tags": list(dict.fromkeys(info.tags))}
    if info.kind == SECURITY:
        properties["security-severity"] = SECURITY_SEVERITY[worst.severity]
    return {
        "id": finding.rule_id,
        "name": info.name,
        "shortDescription": {"text": _cut(title, 120)},
        "fullDescription": {"text": _cut(finding.title or title, 1000)},
        "help": {"text": info.help_text, "markdown": info.help_markdown},
        "helpUri": info.help_uri,
        "defaultConfiguration": {"level": lvl},
        "properties": properties,
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def document(results: Sequence[GateResult], ctx: ReportContext) -> dict[str, Any]:
    """The SARIF log as a JSON-able dict."""
    view = prepare(results, ctx)
    log, emit = _log(view, ctx)
    log["runs"][0]["results"] = list(emit())
    return log


def write(results: Sequence[GateResult], ctx: ReportContext, out: Writer) -> None:
    """Write the SARIF log to `out` one result at a time (the same text as `render`)."""
    from edgegate.report.json import write_array

    view = prepare(results, ctx)
    log, emit = _log(view, ctx)
    token = secrets.token_hex(8)
    log["runs"][0]["results"] = token
    text = json.dumps(log, indent=2, ensure_ascii=False, allow_nan=False)
    head, _, tail = text.partition(f'"{token}"')
    out.write(defuse_json(head))
    write_array(out, emit(), RESULTS_INDENT)
    out.write(defuse_json(tail) + "\n")


RESULTS_INDENT = 6
"""Indent of the run's ``"results"`` key in the log."""


def _log(view: Prepared, ctx: ReportContext) -> tuple[dict[str, Any], Callable[[], Iterator[dict[str, Any]]]]:
    """The log without its results, and a function yielding them (at most `MAX_RESULTS`)."""
    root = view.root
    first_paths = [_first_path(g) for g in view.gates]
    any_path = next((p for p in first_paths if p), None)
    fallback_path = (view.path(ctx.fallback_path) if ctx.fallback_path else None) or any_path or FALLBACK_PATH

    # Rules: one per rule id in order of first appearance; level/severity of its worst finding.
    # Only the first finding with a title is prepared; the rest is read from the originals.
    order: list[str] = []
    first: dict[str, tuple[GateView, int, bool]] = {}  # rule -> (gate, position, has a title)
    worst: dict[str, Finding] = {}
    worst_level: dict[str, str] = {}
    total = 0
    for g in view.gates:
        for pos, f, failing in g.items.raw():
            total += 1
            rid = f.rule_id
            if rid not in first:
                order.append(rid)
                first[rid], worst[rid], worst_level[rid] = (g, pos, bool(f.title)), f, "none"
            elif f.title and not first[rid][2]:
                first[rid] = (g, pos, True)
            if f.severity > worst[rid].severity:
                worst[rid] = f
            lvl = level(f, failing)
            if _LEVEL_RANK[lvl] > _LEVEL_RANK[worst_level[rid]]:
                worst_level[rid] = lvl
    index = {rid: i for i, rid in enumerate(order)}
    rules = []
    for rid in order:
        g, pos, _ = first[rid]
        rules.append(_descriptor(g.gate, g.items.at(pos).finding, worst[rid], worst_level[rid]))

    def emit() -> Iterator[dict[str, Any]]:
        seen: dict[str, int] = {}
        count = 0
        for g, first_path in zip(view.gates, first_paths, strict=True):
            gate_path = first_path or fallback_path
            for s in g.items:
                if count >= MAX_RESULTS:
                    return
                count += 1
                yield _result(s, g.gate, gate_path, root, index, seen)

    notifications: list[dict[str, Any]] = []
    for g in view.gates:
        for err in g.errors:
            notifications.append(
                {"level": "error", "message": {"text": f"{g.gate}: {err}"}, "properties": {"gate": g.gate}}
            )
    listed = min(total, MAX_RESULTS)
    if total > listed:
        notifications.append(
            {
                "level": "warning",
                "message": {
                    "text": f"{total - listed} of {total} results left out "
                    f"(GitHub keeps at most {MAX_RESULTS} per run); see the JSON report"
                },
            }
        )
    invocation: dict[str, Any] = {
        "executionSuccessful": not any(g.errors for g in view.gates),
        "exitCode": view.verdict.exit_code,
    }
    if notifications:
        invocation["toolExecutionNotifications"] = notifications

    version = tool_version()
    driver: dict[str, Any] = {
        "name": "edgegate",
        "version": version,
        "semanticVersion": version,
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }
    engines = _engines(view.gates)
    if engines:
        driver["properties"] = {"engines": engines}
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "automationDetails": {"id": automation_id(ctx, root)},
        "invocations": [invocation],
        "columnKind": "unicodeCodePoints",
        "results": [],
        "properties": {"gates": [{"gate": g.gate, "status": g.status.value} for g in view.gates]},
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}, emit


def _result(s: Shown, gate: str, gate_path: str, root: Path, index: Mapping[str, int],
            seen: dict[str, int]) -> dict[str, Any]:
    f = s.finding
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
    base = fingerprint(f.rule_id, artifact["uri"], location_key(f))
    seen[base] = seen.get(base, 0) + 1
    props: dict[str, Any] = {"gate": gate, "severity": f.severity.value, "blocking": f.blocking}
    if loc.pointer:
        props["pointer"] = loc.pointer
    if not loc.path:
        props["locationFallback"] = True
    if f.details:
        props["details"] = jsonable(dict(f.details))
    return {
        "ruleId": f.rule_id,
        "ruleIndex": index[f.rule_id],
        "level": level(f, s.failing),
        "message": {"text": f.message or f.title or f.rule_id},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: f"{base}:{seen[base]}"},
        "properties": props,
    }


def _first_path(view: GateView) -> str | None:
    found = next((pos for pos, f, _ in view.items.raw() if f.location.path), None)
    return None if found is None else view.items.at(found).finding.location.path


def _engines(gates: Sequence[GateView]) -> dict[str, Any]:
    """``tool.driver.properties.engines``: what each gate evaluated with, from the gate's
    ``stats["engine"]`` (e.g. ``{"name": "opa", "version": "1.22.3"}``)."""
    out: dict[str, Any] = {}
    for g in gates:
        engine = g.stats.get("engine")
        if isinstance(engine, (dict, str)) and engine:
            out[g.gate] = engine
    return out


def automation_id(ctx: ReportContext, root: Path) -> str:
    """``automationDetails.id``: ``CATEGORY/`` where the category is `ctx.category` when set,
    else the command and the checked folder relative to the repository
    (``edgegate-check/examples/edge-app/``), so uploads of different projects do not collide."""
    if ctx.category:
        category = ctx.category.strip().strip("/")
    else:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ctx.command.strip()).strip("-") or "edgegate"
        where = relative_path(str(ctx.root), root)
        category = slug if where in (None, ".") else f"{slug}/{where}"
    return f"{category or 'edgegate'}/"


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The SARIF log as JSON text."""
    buf = io.StringIO()
    write(results, ctx, buf)
    return buf.getvalue()
