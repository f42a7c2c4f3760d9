"""`edgegate check` with an [sbom] section: SBOMs written, required ones checked, bad inputs exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edgegate.sbom.bom import validate_file

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "edge-app"


def _project(tmp_path: Path, sbom_section: str) -> Path:
    shutil.copytree(EXAMPLE / "sbom", tmp_path / "sbom")
    shutil.copytree(EXAMPLE / "models", tmp_path / "models", ignore=shutil.ignore_patterns("*.py", "*.csv"))
    (tmp_path / "edgegate.toml").write_text(sbom_section)
    return tmp_path


SECTION = """
[sbom]
images = [{ source = "sbom/rootfs", output = "build/sbom/app.cdx.json" }]
models = [{ source = "models", output = "build/sbom/models.cdx.json" }]
python = [{ path = "sbom/requirements.txt", output = "build/sbom/python.cdx.json" }]
require = ["build/sbom/app.cdx.json"]
"""


def test_check_writes_and_requires_sboms(tmp_path: Path, cli) -> None:
    root = _project(tmp_path, SECTION)
    r = cli("check", root, "-f", "json")
    assert r.exit_code == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    gate = next(g for g in report["gates"] if g["gate"] == "sbom")
    assert gate["status"] == "passed"
    assert gate["stats"]["sboms"] == 3
    for name in ("app", "models", "python"):
        assert validate_file(root / "build/sbom" / f"{name}.cdx.json") is None
    app = json.loads((root / "build/sbom/app.cdx.json").read_text())
    assert {c["name"] for c in app["components"]} >= {
        "base-files",
        "libc6",
        "zlib1g",
        "tzdata",
        "onnxruntime",
    }
    models = json.loads((root / "build/sbom/models.cdx.json").read_text())
    assert {c["name"] for c in models["components"]} == {"classifier.fp32.onnx", "classifier.int8.onnx"}


def test_required_sbom_missing_or_invalid_fails(tmp_path: Path, cli) -> None:
    root = _project(tmp_path, '[sbom]\nrequire = ["missing.cdx.json", "bad.cdx.json"]\n')
    (root / "bad.cdx.json").write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": 3}')
    r = cli("check", root, "-f", "json")
    assert r.exit_code == 1, r.stdout + r.stderr
    gate = next(g for g in json.loads(r.stdout)["gates"] if g["gate"] == "sbom")
    msgs = sorted(f["message"] for f in gate["findings"])
    assert msgs[0].startswith("bad.cdx.json: ")
    assert msgs[1] == "missing.cdx.json: required SBOM does not exist"
    # its own rule id: EGS001 is the verify gate's "signature does not verify" (one SARIF rule per id)
    from edgegate.sign.bundles import BAD_SIGNATURE

    assert {f["rule_id"] for f in gate["findings"]} == {"EGD001"} != {BAD_SIGNATURE}
    # what a required path is, when it is not an SBOM file (a FIFO was "does not exist")
    import os

    os.mkfifo(root / "pipe.cdx.json")
    (root / "folder.cdx.json").mkdir()
    (root / "edgegate.toml").write_text('[sbom]\nrequire = ["pipe.cdx.json", "folder.cdx.json"]\n')
    r = cli("check", root, "-f", "json")
    gate = next(g for g in json.loads(r.stdout)["gates"] if g["gate"] == "sbom")
    assert r.exit_code == 1 and sorted(f["message"] for f in gate["findings"]) == [
        "folder.cdx.json: is a directory, expected a file", "pipe.cdx.json: not a regular file (a FIFO)"]
    r = cli("check", root, "-f", "sarif")
    (rule,) = [x for x in json.loads(r.stdout)["runs"][0]["tool"]["driver"]["rules"] if x["id"] == "EGD001"]
    assert "sbom.md" in rule["helpUri"] and "security-severity" in rule["properties"]


def test_unreadable_image_in_config_is_exit_2(tmp_path: Path, cli) -> None:
    root = _project(tmp_path, '[sbom]\nimages = [{ source = "nope.tar", output = "o.json" }]\n')
    r = cli("check", root)
    assert r.exit_code == 2
    assert "nope.tar" in r.stdout + r.stderr
    assert not (root / "o.json").exists()


def test_config_schema_rejects_unknown_keys(tmp_path: Path, cli) -> None:
    root = _project(tmp_path, "[sbom]\nimagez = []\n")
    r = cli("check", root)
    assert r.exit_code == 2
    assert "unknown key 'sbom.imagez'" in r.stderr
