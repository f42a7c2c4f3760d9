"""JUnit XML for CI test-report viewers (Jenkins, GitLab, ...): one ``<testsuite>`` per gate, one
``<testcase>`` per rule × file.

Valid against both the Apache Ant JUnit schema (windyroad's ``JUnit.xsd``) and Jenkins' xunit
``junit-10.xsd``, so only what both allow is written: ``<testsuites>`` has no attributes; every
suite has ``package``, ``id``, ``name``, ``timestamp`` (UTC, no zone), ``hostname``, ``tests``,
``failures``, ``errors``, ``skipped``, ``time``, then ``<properties>``, its test cases,
``<system-out>`` and ``<system-err>``; a test case has ``name``, ``classname``, ``time`` and at
most one ``<failure>`` or ``<error>``. Neither schema allows a ``file`` attribute on a test case,
so the file is the test case's classname (``gate.path``) and part of its name.

- A test case with a finding that fails the gate has a ``<failure>`` listing its findings.
- A test case of warnings only passes; its findings are listed in the suite's ``<system-out>``.
- Each gate error is a test case with an ``<error>``.
- A gate with no findings has one test case, passing only when the gate passed.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgegate.findings import Finding, GateResult, Status
from edgegate.report._common import plural, sort_key
from edgegate.report._prepare import GateView, Shown, prepare
from edgegate.report._sanitize import defuse_xml

if TYPE_CHECKING:
    from edgegate.report import ReportContext

NO_FILE = "(no file)"

# XML 1.0 forbids most control characters even escaped; ElementTree would write them anyway.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _line(f: Finding, failing: bool) -> str:
    loc = f.location
    where = loc.path or NO_FILE
    if loc.line:
        where += f":{loc.line}"
        if loc.column:
            where += f":{loc.column}"
    tag = f.severity.value + ("" if failing else ", warning")
    pointer = f" [{loc.pointer}]" if loc.pointer else ""
    also = f.details.get("also_reported_by") if f.details else None
    extra = ""
    if isinstance(also, list) and also:
        extra = " (also: " + ", ".join(str(a.get("rule_id")) for a in also if isinstance(a, dict)) + ")"
    return f"{where}: {tag}: {f.message}{pointer}{extra}"


def _hostname() -> str:
    try:
        name = socket.gethostname().strip()
    except OSError:
        name = ""
    return name or "localhost"


def _suite(index: int, view: GateView, ctx: ReportContext, hostname: str) -> ET.Element:
    gate = _clean(view.gate) or "gate"
    suite = ET.Element("testsuite", name=gate)
    suite.set("package", f"edgegate.{gate}")
    suite.set("id", str(index))
    suite.set("timestamp", ctx.started.strftime("%Y-%m-%dT%H:%M:%S"))
    suite.set("hostname", hostname)
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="status", value=view.status.value)
    ET.SubElement(props, "property", name="command", value=_clean(ctx.command))
    cases: list[ET.Element] = []
    warnings: list[str] = []
    failures = errors = 0

    for i, err in enumerate(view.errors, 1):
        case = ET.Element("testcase", classname=gate, time="0")
        case.set("name", "gate error" if len(view.errors) == 1 else f"gate error {i}")
        e = ET.SubElement(case, "error", message=_clean(err), type="GateError")
        e.text = _clean(err)
        cases.append(case)
        errors += 1

    groups: dict[tuple[str, str], list[Shown]] = {}
    for s in sorted(view.items, key=lambda s: sort_key(s.finding)):
        groups.setdefault((s.finding.rule_id, s.finding.location.path or NO_FILE), []).append(s)
    for (rule_id, path), found in sorted(groups.items()):
        classname = gate if path == NO_FILE else f"{gate}.{path}"
        case = ET.Element("testcase", classname=_clean(classname), name=_clean(f"{rule_id}: {path}"), time="0")
        cases.append(case)
        failing = [s for s in found if s.failing]
        body = "\n".join(_clean(_line(s.finding, s.failing)) for s in found)
        if failing:
            worst = max(failing, key=lambda s: s.finding.severity.rank).finding
            title = f" ({worst.title})" if worst.title else ""
            first = failing[0].finding.message
            message = f"{plural(len(failing), 'failing finding')} of {rule_id}{title}: {first}"
            fail = ET.SubElement(case, "failure", message=_clean(message), type=worst.severity.value)
            fail.text = body
            failures += 1
        else:
            warnings.append(body)

    if not cases:
        case = ET.Element("testcase", classname=gate, name=f"{gate}: {view.status.value}", time="0")
        if view.status is not Status.PASSED:  # failed without saying why: never shown as a pass
            ET.SubElement(case, "failure", message=f"gate {view.status.value} with no findings", type="GateFailed")
            failures = 1
        cases.append(case)
    for case in cases:
        suite.append(case)
    out = ET.SubElement(suite, "system-out")
    out.text = ("Warnings (these do not fail the gate):\n" + "\n".join(warnings)) if warnings else ""
    ET.SubElement(suite, "system-err").text = ""

    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    seconds = view.stats.get("seconds")
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        seconds = 0
    suite.set("time", f"{seconds:.3f}")
    return suite


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The JUnit XML document."""
    view = prepare(results, ctx)
    root = ET.Element("testsuites")
    hostname = _hostname()
    for i, g in enumerate(view.gates):
        root.append(_suite(i, g, ctx, hostname))
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + defuse_xml(text) + "\n"
