"""JUnit XML for CI test-report viewers: one ``<testsuite>`` per gate, one ``<testcase>`` per
rule × file.

- A group with a finding that fails the gate gets a ``<failure>`` listing its findings.
- A group of warnings only is a passing test case whose ``<system-out>`` lists them.
- Each gate error is a test case with an ``<error>``.
- A gate that passed with no findings has one passing test case, so it is visible.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edgegate.findings import Finding, GateResult, Status
from edgegate.report._common import is_failing, plural, repo_path, sort_key, source_root

if TYPE_CHECKING:
    from edgegate.report import ReportContext

NO_FILE = "(no file)"

# XML 1.0 forbids most control characters even escaped; ElementTree would write them anyway.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _line(f: Finding, root: Path, failing: bool) -> str:
    loc = f.location
    where = repo_path(loc.path, root) if loc.path else NO_FILE
    if loc.line:
        where += f":{loc.line}"
        if loc.column:
            where += f":{loc.column}"
    tag = f.severity.value + ("" if failing else ", warning")
    pointer = f" [{loc.pointer}]" if loc.pointer else ""
    return f"{where}: {tag}: {f.message}{pointer}"


def _suite(result: GateResult, ctx: ReportContext) -> ET.Element:
    suite = ET.Element("testsuite", name=_clean(result.gate))
    root = source_root(ctx.root)
    tests = failures = errors = 0

    for i, err in enumerate(result.errors, 1):
        case = ET.SubElement(suite, "testcase", classname=_clean(result.gate))
        case.set("name", "gate error" if len(result.errors) == 1 else f"gate error {i}")
        e = ET.SubElement(case, "error", message=_clean(err), type="GateError")
        e.text = _clean(err)
        tests += 1
        errors += 1

    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in sorted(result.findings, key=sort_key):
        path = repo_path(f.location.path, root) if f.location.path else NO_FILE
        groups.setdefault((f.rule_id, path), []).append(f)
    for (rule_id, path), found in sorted(groups.items()):
        case = ET.SubElement(
            suite, "testcase", classname=_clean(result.gate), name=_clean(f"{rule_id}: {path}")
        )
        tests += 1
        failing = [f for f in found if is_failing(result, f)]
        body = "\n".join(_clean(_line(f, root, is_failing(result, f))) for f in found)
        if failing:
            worst = max(failing, key=lambda f: f.severity.rank)
            title = f" ({worst.title})" if worst.title else ""
            message = f"{plural(len(failing), 'failing finding')} of {rule_id}{title}: {failing[0].message}"
            fail = ET.SubElement(case, "failure", message=_clean(message), type=worst.severity.value)
            fail.text = body
            failures += 1
        else:
            out = ET.SubElement(case, "system-out")
            out.text = body

    if tests == 0:
        case = ET.SubElement(suite, "testcase", classname=_clean(result.gate))
        case.set("name", f"{_clean(result.gate)}: {result.status.value}")
        if result.status is not Status.PASSED:  # failed without saying why: never shown as a pass
            ET.SubElement(case, "failure", message=f"gate {result.status.value} with no findings")
            failures = 1
        tests = 1

    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    seconds = result.stats.get("seconds") if isinstance(result.stats, dict) else None
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
        suite.set("time", f"{seconds:.3f}")
    return suite


def render(results: Sequence[GateResult], ctx: ReportContext) -> str:
    """The JUnit XML document."""
    root = ET.Element("testsuites", name=_clean(ctx.command))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for r in results:
        suite = _suite(r, ctx)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        root.append(suite)
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
