"""The example inputs in examples/edge-app/vuln with the [vuln] snippet proposed for
examples/edge-app/edgegate.toml (paths made absolute so the test runs from anywhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edgegate.config import load_config
from edgegate.findings import Status
from edgegate.vuln.gate import run_from_config


def test_example_config(root_dir: Path, pypa_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ex = root_dir / "examples" / "edge-app" / "vuln"
    # config paths outside the project must be allowed explicitly (issue 15)
    monkeypatch.setenv("EDGEGATE_ALLOWED_PATHS", os.pathsep.join([str(ex), str(pypa_dir)]))
    cfg = tmp_path / "edgegate.toml"
    cfg.write_text(f"""
[vuln]
requirements = ["{ex / 'requirements.txt'}"]
db = "{pypa_dir}"
fail-on = "high"
vex = ["{ex / 'vex.cdx.json'}"]

[[vuln.ignore]]
id = "CVE-2019-10906"
reason = "templates are ours; the sandbox is not used"
expires = 2999-06-30
""", encoding="utf-8")
    [result] = run_from_config(load_config(cfg).section("vuln") or {}, load_config(cfg))
    assert result.status is Status.FAILED
    blocking = sorted((f.details["component"], f.rule_id, f.severity.value) for f in result.findings if f.blocking)
    assert blocking == [("jinja2", "PYSEC-2021-66", "high"), ("urllib3", "PYSEC-2023-192", "high"),
                        ("urllib3", "PYSEC-2023-212", "medium")]
    by = sorted((s["advisory"], s["by"]) for s in result.stats["suppressions"])
    assert by == [("PYSEC-2019-217", "ignore"), ("PYSEC-2021-108", "vex")]
    rows = {r[0]: r[4] for r in result.stats["tables"][0]["rows"]}
    assert rows == {"jinja2": "2.11.3", "urllib3": "1.26.18"}
