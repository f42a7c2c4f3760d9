"""`edgegate check examples/edge-app` through the real CLI, every format in one run, each format
checked by the tool its consumers trust (JSON Schema, the SARIF schema and Microsoft's SARIF
multitool with its GitHub rules, the Ant JUnit and Jenkins xunit XSDs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
from report_checks import junit_schema_errors, runner_commands

REPORTS = ("edgegate.sarif", "edgegate.json", "junit.xml", "summary.md", "annotations.txt")


@pytest.fixture(scope="module")
def example_reports(root_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from typer.testing import CliRunner

    from edgegate.cli import app

    out = tmp_path_factory.mktemp("reports")
    old = Path.cwd()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    try:
        os.chdir(root_dir)
        result = CliRunner().invoke(
            app,
            ["check", "examples/edge-app", "-f", "text",
             "-f", f"sarif:{out}/edgegate.sarif", "-f", f"json:{out}/edgegate.json",
             "-f", f"junit:{out}/junit.xml", "-f", f"markdown:{out}/summary.md",
             "-f", f"github:{out}/annotations.txt"],
            env={**env, "COLUMNS": "80"}, catch_exceptions=False,
        )
    finally:
        os.chdir(old)
    assert result.exit_code == 1, result.stderr  # the example is deliberately non-compliant
    return out, result.stdout


def test_json_report_validates_and_is_deduplicated(example_reports: tuple[Path, str], root_dir: Path) -> None:
    out, _ = example_reports
    report = json.loads((out / "edgegate.json").read_text(encoding="utf-8"))
    schema = json.loads((root_dir / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(report)
    assert report["verdict"] == "failed" and report["exit_code"] == 1
    gates = [g["gate"] for g in report["gates"]]
    assert len(gates) == len(set(gates))  # one entry per gate (model-quant was two results)
    findings = [f for g in report["gates"] for f in g["findings"]]
    rules = [f["rule_id"] for f in findings]
    # the same fact once: EGC013 carries both EGP006 and EGC011; EGP009 carries EGC001 of its
    # deployment; EGM021 carries EGP010
    batch = next(f for f in findings if f["rule_id"] == "EGC013" and "batch-embedder" in f["location"]["path"])
    assert sorted(a["rule_id"] for a in batch["details"]["also_reported_by"]) == ["EGC011", "EGP006", "EGP006"]
    assert "EGP010" not in rules and "EGC011" not in rules
    egp009 = next(f for f in findings if f["rule_id"] == "EGP009")
    assert [a["rule_id"] for a in egp009["details"]["also_reported_by"]] == ["EGC001"]
    assert rules.count("EGC001") == 1  # the other deployment's CPU cap is a different fact
    # a verification is a row of the Signatures table, not a finding
    assert not [f for f in findings if f["gate"] == "verify"]
    verify = next(g for g in report["gates"] if g["gate"] == "verify")
    assert verify["stats"]["tables"][0]["rows"][0][3:] == ["verified", "3 files"]
    # the drift check ran on random inputs, and says so (an info finding that blocks nothing)
    assert [f["severity"] for f in findings if f["rule_id"] == "EGQ008"] == ["info"]
    assert len(findings) == 23  # 29 before: 6 duplicates and one success gone, EGQ008 new


def test_no_report_of_the_example_has_an_absolute_path(example_reports: tuple[Path, str], root_dir: Path) -> None:
    out, text = example_reports
    for body in [text] + [(out / name).read_text(encoding="utf-8") for name in REPORTS]:
        assert str(root_dir) not in body
        assert "file://" not in body
        assert os.path.realpath(root_dir) not in body


def test_sarif_of_the_example(example_reports: tuple[Path, str], root_dir: Path, shared_dir: Path) -> None:
    out, _ = example_reports
    sarif = json.loads((out / "edgegate.sarif").read_text(encoding="utf-8"))
    schema = json.loads((shared_dir / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(sarif)
    run = sarif["runs"][0]
    assert run["automationDetails"]["id"] == "edgegate-check/examples/edge-app/"
    for res in run["results"]:
        art = res["locations"][0]["physicalLocation"]["artifactLocation"]
        assert (root_dir / art["uri"]).exists(), art  # repository-relative, and it exists there
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    for rule in rules.values():
        assert rule["help"]["text"] and rule["help"]["markdown"] and rule["helpUri"].startswith("https://")
        assert len(rule["name"]) <= 48
        security = "security" in rule["properties"]["tags"]
        assert security == ("security-severity" in rule["properties"])
    assert "security" not in rules["EGC002"]["properties"]["tags"]  # a FinOps cap is not a vulnerability
    assert "cost" in rules["EGC002"]["properties"]["tags"]
    assert rules["EGP008"]["properties"]["security-severity"] == "9.5"
    assert rules["PYSEC-2021-66"]["helpUri"] == "https://osv.dev/vulnerability/PYSEC-2021-66"


def _multitool(root_dir: Path) -> str | None:
    for candidate in (
        os.environ.get("EDGEGATE_SARIF_MULTITOOL"),
        str(root_dir / ".cache" / "tools" / "sarif" / "node_modules" / ".bin" / "sarif-multitool"),
        shutil.which("sarif-multitool"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def test_sarif_passes_the_multitool_github_rules(example_reports: tuple[Path, str], root_dir: Path, tmp_path: Path) -> None:
    tool = _multitool(root_dir)
    if tool is None:
        pytest.skip("@microsoft/sarif-multitool is not installed (scripts/fixtures/ci-setup.sh installs it)")
    out, _ = example_reports
    log = tmp_path / "validation.sarif"
    proc = subprocess.run(
        [tool, "validate", "--rule-kind", "Gh", "--output", str(log), str(out / "edgegate.sarif")],
        capture_output=True, text=True, timeout=300,
    )
    assert log.exists(), proc.stdout + proc.stderr
    results = json.loads(log.read_text(encoding="utf-8-sig"))["runs"][0].get("results", [])
    problems = [(r["ruleId"], r["message"].get("text", "")) for r in results if r.get("level") == "error"]
    assert problems == [], problems
    # the validator does run its GitHub rules: a SARIF without rule help fails GH2012
    bad = json.loads((out / "edgegate.sarif").read_text(encoding="utf-8"))
    del bad["runs"][0]["tool"]["driver"]["rules"][0]["help"]
    (tmp_path / "bad.sarif").write_text(json.dumps(bad), encoding="utf-8")
    subprocess.run([tool, "validate", "--rule-kind", "Gh", "--output", str(tmp_path / "bad-log.sarif"),
                    str(tmp_path / "bad.sarif")], capture_output=True, text=True, timeout=300)
    flagged = json.loads((tmp_path / "bad-log.sarif").read_text(encoding="utf-8-sig"))["runs"][0]["results"]
    assert any(r["ruleId"] == "GH2012" for r in flagged)


def test_junit_of_the_example_validates_against_both_schemas(example_reports: tuple[Path, str]) -> None:
    out, _ = example_reports
    text = (out / "junit.xml").read_text(encoding="utf-8")
    assert junit_schema_errors(text) == {"ant": [], "jenkins": []}
    from lxml import etree

    suites = etree.fromstring(text.encode("utf-8"))
    names = [s.get("name") for s in suites]
    assert len(names) == len(set(names))  # one suite per gate
    assert sum(int(s.get("failures")) for s in suites) >= 1
    assert all(s.get("timestamp") and s.get("hostname") and s.get("time") for s in suites)


def test_github_output_of_the_example(example_reports: tuple[Path, str]) -> None:
    out, _ = example_reports
    lines = (out / "annotations.txt").read_text(encoding="utf-8").splitlines()
    commands = runner_commands(lines)
    assert commands[0].name == "error" and "EGP008 (critical)" in commands[0].properties["title"]
    errors = [c for c in commands if c.name == "error"]
    assert len(errors) == 10  # GitHub's limit per step, the last one counting the rest
    assert "more errors" in errors[-1].properties["title"]
    # every gate that failed is visible among the errors GitHub shows
    gates_shown = {c.properties["title"].split(":")[0].split()[-1] for c in errors[:-1]}
    assert {"policy", "vuln", "model-quant", "cost"} <= gates_shown
    # the ones not annotated are still in the log, as plain lines
    assert any("not annotated" in ln for ln in lines)


def test_markdown_of_the_example(example_reports: tuple[Path, str]) -> None:
    out, _ = example_reports
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert md.startswith("<!-- edgegate-report -->\n## ❌ edgegate: FAILED")
    top, _, rest = md.partition("<details>")
    assert "EGP008" in top and "Top findings" in top
    assert "| policy |" not in top and "| policy |" in rest  # the tables are folded away
    assert len(top.encode("utf-8")) < 6000
