"""The JUnit reporter: parse the XML back and check suites, cases and counts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from report_samples import TRICKY, UNICODE, all_results, passing_results

from edgegate.findings import Finding, GateResult, Location, Severity, Status
from edgegate.report import ReportContext, render


def _parse(results: list[GateResult]) -> ET.Element:
    text = render("junit", results, ReportContext(command="edgegate check", root=Path.cwd()))
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(text.encode("utf-8"))


def _cases(suite: ET.Element) -> dict[str, ET.Element]:
    return {c.get("name", ""): c for c in suite.findall("testcase")}


def test_junit_suites_cases_and_counts() -> None:
    root = _parse(all_results())
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["policy", "cost", "vuln", "model-scan"]

    policy = suites["policy"]
    cases = _cases(policy)
    assert sorted(cases) == [
        "EGP001: k8s/edge-ai.yaml",
        "EGP002: k8s/deployment.yaml",
        "EGP003: k8s/deployment.yaml",
        "EGP004: k8s/knative service.yaml",
        "EGP005: k8s/edge-ai.yaml",
        "EGP006: (no file)",
    ]
    # the file is the classname (neither schema allows a file attribute on a test case)
    assert cases["EGP002: k8s/deployment.yaml"].get("classname") == "policy.k8s/deployment.yaml"
    assert cases["EGP006: (no file)"].get("classname") == "policy"
    # two EGP002 findings in one file: one test case, one failure listing both
    fail = cases["EGP002: k8s/deployment.yaml"].find("failure")
    assert fail is not None
    assert fail.get("type") == "high"
    assert fail.get("message", "").startswith("2 failing findings of EGP002 (Image pinned by digest): ")
    assert fail.text is not None
    assert fail.text.splitlines() == [
        "k8s/deployment.yaml:21:18: high: container 'web' image nginx:latest is not pinned by digest"
        " [/spec/template/spec/containers/0/image]",
        "k8s/deployment.yaml:30:18: high: container 'sidecar' image envoy:v1 is not pinned by digest"
        " [/spec/template/spec/containers/1/image]",
    ]
    # a non-blocking finding is a passing case; its text is in the suite's system-out
    warn = cases["EGP004: k8s/knative service.yaml"]
    assert warn.find("failure") is None and warn.find("error") is None and len(warn) == 0
    out = policy.find("system-out")
    assert out is not None and (
        "k8s/knative service.yaml:4: low, warning: annotation finops.acme/cost-center is missing"
    ) in (out.text or "").splitlines()
    # escaping: the tricky message comes back intact (the CR is written as a reference)
    tricky = cases["EGP003: k8s/deployment.yaml"].find("failure")
    assert tricky is not None and tricky.text is not None
    assert TRICKY in tricky.text
    unicode_case = cases["EGP005: k8s/edge-ai.yaml"].find("failure")
    assert unicode_case is not None and UNICODE in (unicode_case.text or "")
    assert (policy.get("tests"), policy.get("failures"), policy.get("errors")) == ("6", "5", "0")

    cost = suites["cost"]
    assert [c.get("name") for c in cost.findall("testcase")] == ["cost: passed"]
    assert cost.find("testcase/failure") is None
    assert (cost.get("tests"), cost.get("failures"), cost.get("errors")) == ("1", "0", "0")

    vuln = suites["vuln"]
    vcases = _cases(vuln)
    err = vcases["gate error"].find("error")
    assert err is not None
    assert err.get("message") == "cannot read the advisory database: db/osv.sqlite: no such file"
    assert vcases["PYSEC-2021-66: requirements.txt"].find("failure") is None  # non-blocking
    assert (vuln.get("tests"), vuln.get("failures"), vuln.get("errors")) == ("2", "0", "1")

    scan = suites["model-scan"]
    assert (scan.get("tests"), scan.get("failures"), scan.get("errors")) == ("2", "0", "0")

    assert root.attrib == {}  # the Ant schema allows no attributes on <testsuites>
    assert policy.get("time") == "0.250"


def test_junit_attribute_sums_match_elements() -> None:
    root = _parse(all_results() + passing_results())
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(cases)
        assert int(suite.get("failures", "-1")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(suite.get("errors", "-1")) == sum(1 for c in cases if c.find("error") is not None)
    assert sum(int(s.get("tests", "-1")) for s in root.findall("testsuite")) == len(root.findall("testsuite/testcase"))


def test_junit_control_characters_and_failed_gate_without_findings() -> None:
    bad = Finding("policy", "R<&>", Severity.HIGH, 'bell\x07 "quoted" <tag>', Location("a&b.yaml", 1))
    root = _parse([GateResult.decide("policy", [bad]), GateResult("odd", Status.FAILED)])
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("name") == "R<&>: a&b.yaml"
    fail = case.find("failure")
    assert fail is not None and fail.text == 'a&b.yaml:1: high: bell\ufffd "quoted" <tag>'
    odd = root.findall("testsuite")[1]
    assert odd.get("failures") == "1"
    assert odd.find("testcase/failure") is not None  # a failed gate is never shown as passing


def test_junit_multiple_gate_errors() -> None:
    result = GateResult.decide("sbom", [], errors=["image not found", "cataloger crashed"])
    suite = _parse([result]).find("testsuite")
    assert suite is not None
    assert [c.get("name") for c in suite.findall("testcase")] == ["gate error 1", "gate error 2"]
    assert suite.get("errors") == "2" and suite.get("tests") == "2"
