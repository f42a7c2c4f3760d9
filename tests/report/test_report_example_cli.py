"""`edgegate check examples/edge-app` through the real CLI, every format in one run."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest


def test_check_example_in_every_format(
    cli, root_dir: Path, shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    out = tmp_path / "reports"
    result = cli(
        "check",
        "examples/edge-app",
        "-f", "text",
        "-f", f"sarif:{out}/edgegate.sarif",
        "-f", f"json:{out}/edgegate.json",
        "-f", f"junit:{out}/junit.xml",
        "-f", f"markdown:{out}/summary.md",
        "-f", f"github:{out}/annotations.txt",
        cwd=root_dir,
    )
    assert result.exit_code == 1, result.stderr  # the example is deliberately non-compliant
    assert "FAILED" in result.stdout.splitlines()[-1]

    report = json.loads((out / "edgegate.json").read_text(encoding="utf-8"))
    schema = json.loads((root_dir / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(report)
    findings = [f for g in report["gates"] for f in g["findings"]]
    assert report["verdict"] == "failed" and findings

    sarif = json.loads((out / "edgegate.sarif").read_text(encoding="utf-8"))
    sarif_schema = json.loads((shared_dir / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(sarif_schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert len(results) == len(findings)
    for res in results:
        art = res["locations"][0]["physicalLocation"]["artifactLocation"]
        # repository-relative, and the file exists there
        assert (root_dir / art["uri"]).exists(), art  # a file, or a signed model folder
        assert art["uri"].startswith("examples/edge-app/")

    suites = ET.parse(out / "junit.xml").getroot()
    assert int(suites.get("failures", "0")) >= 1

    annotations = (out / "annotations.txt").read_text(encoding="utf-8").splitlines()
    assert sum(1 for ln in annotations if ln.startswith(("::error ", "::warning ", "::notice "))) == len(findings)
    assert (out / "summary.md").read_text(encoding="utf-8").startswith("## ❌ edgegate: FAILED")
