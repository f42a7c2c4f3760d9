"""Severity of an OSV advisory: CVSS v4/v3/v2 vectors (the `cvss` library), else the record's
``database_specific.severity`` (GHSA words), else unknown (None)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgegate.findings import Severity

_WORDS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.INFO,
    "none": Severity.INFO,
}

_PREFERENCE = ("CVSS_V4", "CVSS_V3", "CVSS_V2")


@dataclass(frozen=True)
class Rating:
    """A severity with where it came from (``CVSS_V3``, ``database_specific``...)."""

    level: Severity
    source: str
    score: float | None = None
    vector: str | None = None


def _from_score(score: float) -> Severity:
    # CVSS v3/v4 qualitative scale (also used for v2 base scores, as NVD does).
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.INFO


def rate_vector(kind: str, vector: str) -> Rating | None:
    """Rate one OSV ``severity`` entry; None when it is not a vector the library accepts."""
    import cvss

    try:
        if kind == "CVSS_V4":
            v4 = cvss.CVSS4(vector)
            score = float(v4.base_score)
        elif kind == "CVSS_V3":
            score = float(cvss.CVSS3(vector).scores()[0])
        elif kind == "CVSS_V2":
            score = float(cvss.CVSS2(vector).scores()[0])
        else:
            return None
    except Exception:  # cvss raises several error types for bad vectors
        return None
    return Rating(_from_score(score), kind, score, vector)


def _best_vector(entries: Any) -> Rating | None:
    if not isinstance(entries, list):
        return None
    found: dict[str, Rating] = {}
    for entry in entries:
        if isinstance(entry, Mapping):
            kind, vector = entry.get("type"), entry.get("score")
            if isinstance(kind, str) and isinstance(vector, str) and kind not in found:
                rating = rate_vector(kind, vector)
                if rating is not None:
                    found[kind] = rating
    for kind in _PREFERENCE:
        if kind in found:
            return found[kind]
    for entry in entries:  # OSV's "Ubuntu" type: a lowercased Ubuntu priority word
        if isinstance(entry, Mapping) and entry.get("type") == "Ubuntu":
            level = _word(entry.get("score"))
            if level is not None:
                return Rating(level, "Ubuntu")
    return None


def _word(value: Any) -> Severity | None:
    return _WORDS.get(value.strip().lower()) if isinstance(value, str) else None


def rate_record(record: Mapping[str, Any]) -> Rating | None:
    """The severity of a raw OSV record, or None when it has none edgegate can read.

    Order: the record's CVSS vectors (v4, then v3, then v2), CVSS vectors on its ``affected``
    entries, then ``database_specific.severity`` of the record or of an affected entry.
    """
    rating = _best_vector(record.get("severity"))
    if rating is not None:
        return rating
    affected = record.get("affected")
    affected = affected if isinstance(affected, list) else []
    for entry in affected:
        if isinstance(entry, Mapping):
            rating = _best_vector(entry.get("severity"))
            if rating is not None:
                return rating
    for holder in [record, *[a for a in affected if isinstance(a, Mapping)]]:
        specific = holder.get("database_specific")
        if isinstance(specific, Mapping):
            level = _word(specific.get("severity"))
            if level is not None:
                return Rating(level, "database_specific")
    return None
