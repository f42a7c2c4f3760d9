"""GateResults for the database commands (``vuln db build``, ``vuln db info``)."""

from __future__ import annotations

import time
from pathlib import Path

from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.vuln.db import DbInfo, build_db, open_db
from edgegate.vuln.scan import GATE, MAX_LOAD_WARNINGS_SHOWN, RULE_DB_STALE, RULE_RECORD_SKIPPED


def _tables(info: DbInfo) -> list[dict[str, object]]:
    about: list[list[object]] = [
        ["database", info.path],
        ["built (UTC)", info.built_at.strftime("%Y-%m-%d %H:%M:%S")],
        ["age (days)", round(info.age_days(), 2)],
        ["source", info.source],
        ["advisories", info.advisories],
        ["withdrawn (left out)", info.withdrawn],
        ["skipped (malformed)", info.skipped],
        ["schema / edgegate", f"{info.schema_version} / {info.edgegate_version}"],
    ]
    rows: list[list[object]] = [[eco, n] for eco, n in info.packages.items()]
    return [
        {"title": "Vulnerability database", "columns": ["field", "value"], "rows": about},
        {"title": "Affected packages per ecosystem", "columns": ["ecosystem", "affected packages"], "rows": rows},
    ]


def _stats(info: DbInfo) -> dict[str, object]:
    return {
        "db": info.path,
        "schema_version": info.schema_version,
        "built_at": info.built_at.isoformat(),
        "age_days": round(info.age_days(), 2),
        "source": info.source,
        "edgegate_version": info.edgegate_version,
        "advisories": info.advisories,
        "files": info.files,
        "withdrawn": info.withdrawn,
        "skipped": info.skipped,
        "tables": _tables(info),
    }


def _skipped(warnings: list[str], total: int, where: str) -> list[Finding]:
    out = []
    for w in warnings[:MAX_LOAD_WARNINGS_SHOWN]:
        source = w.partition(": ")[0]
        out.append(Finding(gate=GATE, rule_id=RULE_RECORD_SKIPPED, severity=Severity.LOW, title="OSV record skipped",
                           message=w, location=Location(path=source), blocking=False))
    if total > MAX_LOAD_WARNINGS_SHOWN:
        out.append(Finding(gate=GATE, rule_id=RULE_RECORD_SKIPPED, severity=Severity.LOW, title="OSV record skipped",
                           message=f"{total - MAX_LOAD_WARNINGS_SHOWN} more OSV records were skipped",
                           location=Location(path=where), blocking=False))
    return out


def build_result(source: Path, output: Path) -> GateResult:
    """Build the database and report what went in and what was skipped."""
    start = time.perf_counter()
    info, warnings = build_db(source, output)
    stats = _stats(info)
    stats["seconds"] = round(time.perf_counter() - start, 3)
    return GateResult.decide(GATE, _skipped([str(w) for w in warnings], len(warnings), str(source)), stats=stats)


def info_result(path: Path, max_age_days: float | None) -> GateResult:
    """Age and counts of a database; a warning when older than `max_age_days`."""
    from edgegate.errors import InputError
    from edgegate.vuln.db import is_sqlite

    if path.is_file() and not is_sqlite(path):
        raise InputError("not a database from `edgegate vuln db build`", path)
    if path.is_dir():
        raise InputError("is a folder; `vuln db info` reads a database file from `vuln db build`", path)
    db = open_db(path)
    try:
        info = db.info()
    finally:
        db.close()
    findings = _skipped(info.warnings, info.skipped, str(path))
    age = info.age_days()
    if max_age_days is not None and age > max_age_days:
        findings.append(Finding(
            gate=GATE, rule_id=RULE_DB_STALE, severity=Severity.LOW, title="Vulnerability database is old",
            message=f"built {age:.1f} days ago ({info.built_at:%Y-%m-%d}), older than {max_age_days:g} days:"
            " rebuild it with `edgegate vuln db build`",
            location=Location(path=str(path)), blocking=False,
        ))
    return GateResult.decide(GATE, findings, stats=_stats(info))
