"""Severity ordering and parsing, GateResult.decide, and the exit-code rule."""

from __future__ import annotations

import pytest

from edgegate.findings import Finding, GateResult, Location, Severity, Status, exit_code


def _finding(severity: Severity = Severity.HIGH, blocking: bool = True) -> Finding:
    return Finding(gate="g", rule_id="R1", severity=severity, message="m", blocking=blocking)


def test_severity_total_order() -> None:
    ordered = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
    assert sorted(reversed(ordered)) == ordered
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    assert Severity.LOW <= Severity.LOW and Severity.LOW >= Severity.LOW
    assert not Severity.HIGH < Severity.MEDIUM
    assert max(ordered) is Severity.CRITICAL and min(ordered) is Severity.INFO


def test_severity_does_not_compare_with_strings() -> None:
    with pytest.raises(TypeError):
        _ = Severity.HIGH < "low"  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("critical", Severity.CRITICAL), ("HIGH", Severity.HIGH), (" Medium ", Severity.MEDIUM),
     ("low", Severity.LOW), ("info", Severity.INFO)],
)
def test_severity_parse(text: str, expected: Severity) -> None:
    assert Severity.parse(text) is expected


@pytest.mark.parametrize("text", ["", "severe", "warning", "hi"])
def test_severity_parse_rejects_unknown(text: str) -> None:
    with pytest.raises(ValueError, match="expected one of: critical, high, medium, low, info"):
        Severity.parse(text)


def test_decide_without_findings_passes() -> None:
    result = GateResult.decide("g", [], stats={"documents": 3})
    assert result.status is Status.PASSED
    assert result.stats == {"documents": 3}
    assert exit_code([result]) == 0


def test_decide_blocking_finding_fails() -> None:
    result = GateResult.decide("g", [_finding(Severity.LOW)])
    assert result.status is Status.FAILED
    assert exit_code([result]) == 1


def test_decide_non_blocking_never_fails() -> None:
    result = GateResult.decide("g", [_finding(Severity.CRITICAL, blocking=False)])
    assert result.status is Status.PASSED
    assert len(result.findings) == 1


def test_decide_errors_win_over_findings() -> None:
    result = GateResult.decide("g", [_finding()], errors=["could not read x"])
    assert result.status is Status.ERROR
    assert result.errors == ["could not read x"]
    assert exit_code([result]) == 2


def test_decide_errors_without_findings_is_error_not_pass() -> None:
    assert GateResult.decide("g", [], errors=["engine crashed"]).status is Status.ERROR


@pytest.mark.parametrize(
    ("severity", "fail_on", "status"),
    [
        (Severity.HIGH, Severity.HIGH, Status.FAILED),
        (Severity.CRITICAL, Severity.HIGH, Status.FAILED),
        (Severity.MEDIUM, Severity.HIGH, Status.PASSED),
        (Severity.INFO, Severity.INFO, Status.FAILED),
        (Severity.LOW, Severity.CRITICAL, Status.PASSED),
    ],
)
def test_decide_fail_on_threshold(severity: Severity, fail_on: Severity, status: Status) -> None:
    assert GateResult.decide("g", [_finding(severity)], fail_on=fail_on).status is status


def test_decide_fail_on_ignores_non_blocking_above_threshold() -> None:
    findings = [_finding(Severity.CRITICAL, blocking=False), _finding(Severity.LOW)]
    assert GateResult.decide("g", findings, fail_on=Severity.MEDIUM).status is Status.PASSED


def test_decide_accepts_generators() -> None:
    result = GateResult.decide("g", (f for f in [_finding()]), errors=(e for e in []))
    assert result.status is Status.FAILED and len(result.findings) == 1


def test_exit_code_worst_wins() -> None:
    passed = GateResult.decide("a", [])
    failed = GateResult.decide("b", [_finding()])
    errored = GateResult.decide("c", [], errors=["x"])
    assert exit_code([]) == 0
    assert exit_code([passed, passed]) == 0
    assert exit_code([passed, failed]) == 1
    assert exit_code([failed, errored, passed]) == 2
    assert exit_code([errored]) == 2


def test_to_dict_is_json_shaped() -> None:
    f = Finding(
        gate="policy", rule_id="EG1", severity=Severity.MEDIUM, message="bad",
        location=Location("a.yaml", 4, None, "/spec"), title="T", details={"k": 1}, blocking=False,
    )
    d = GateResult.decide("policy", [f]).to_dict()
    assert d["status"] == "passed"
    assert d["findings"] == [{
        "gate": "policy", "rule_id": "EG1", "severity": "medium", "message": "bad", "blocking": False,
        "location": {"path": "a.yaml", "line": 4, "pointer": "/spec"}, "title": "T", "details": {"k": 1},
    }]


def test_location_str() -> None:
    assert str(Location("a.yaml", 3, 7)) == "a.yaml:3:7"
    assert str(Location("a.yaml", 3)) == "a.yaml:3"
    assert str(Location("a.yaml")) == "a.yaml"
    assert str(Location()) == "<input>"
