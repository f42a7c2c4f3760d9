"""The core result types every gate returns: `Finding`, `GateResult`, and the exit-code rule."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.Enum):
    """Finding severity, ordered: critical > high > medium > low > info."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    @classmethod
    def parse(cls, value: str) -> Severity:
        """Parse a severity name (case-insensitive); raise `ValueError` on anything else."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {value!r} (expected one of: {names})") from None


_RANK = {
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class Status(enum.Enum):
    """A gate's verdict."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"


@dataclass(frozen=True)
class Location:
    """Where a finding is: a file, a line and column (1-based) and a pointer into the document."""

    path: str | None = None
    line: int | None = None
    column: int | None = None
    pointer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def __str__(self) -> str:
        out = self.path or "<input>"
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        return out


@dataclass(frozen=True)
class Finding:
    """One thing a gate found. `details` must be JSON-serialisable."""

    gate: str
    rule_id: str
    severity: Severity
    message: str
    location: Location = field(default_factory=Location)
    title: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    blocking: bool = True
    """False for warnings and informational findings that never fail the gate by themselves."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "gate": self.gate,
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "message": self.message,
            "blocking": self.blocking,
            "location": self.location.to_dict(),
        }
        if self.title:
            out["title"] = self.title
        if self.details:
            out["details"] = dict(self.details)
        return out


@dataclass
class GateResult:
    """What one gate decided. Build it with `GateResult.decide` to get the status right."""

    gate: str
    status: Status
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    """Counts and durations for the report (JSON-serialisable)."""

    @classmethod
    def decide(
        cls,
        gate: str,
        findings: Iterable[Finding],
        *,
        errors: Iterable[str] = (),
        stats: Mapping[str, Any] | None = None,
        fail_on: Severity | None = None,
    ) -> GateResult:
        """Status from the findings: error if anything could not be checked, failed if any
        blocking finding is at or above `fail_on` (any blocking finding when None)."""
        found = list(findings)
        errs = list(errors)
        if errs:
            status = Status.ERROR
        elif any(f.blocking and (fail_on is None or f.severity >= fail_on) for f in found):
            status = Status.FAILED
        else:
            status = Status.PASSED
        return cls(gate=gate, status=status, findings=found, errors=errs, stats=dict(stats or {}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "status": self.status.value,
            "findings": [f.to_dict() for f in self.findings],
            "errors": list(self.errors),
            "stats": dict(self.stats),
        }


def exit_code(results: Iterable[GateResult]) -> int:
    """0 when every gate passed, 1 when one failed, 2 when one could not decide (an error)."""
    statuses = [r.status for r in results]
    if Status.ERROR in statuses:
        return 2
    if Status.FAILED in statuses:
        return 1
    return 0
