"""The `edgegate` command: help, version, lazy imports, check and init, errors as one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("sigstore", "onnx", "onnxruntime", "regopy", "huggingface_hub", "cyclonedx",
         "model_signing", "pip_audit", "numpy", "pandas")


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("edgegate: error: ")
    return lines[0]


def test_help_in_process(cli) -> None:
    r = cli("--help")
    assert r.exit_code == 0
    for word in ("check", "init", "policy"):
        assert word in r.stdout


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "import typer.main\n"
        "from edgegate.cli import app\n"
        "command = typer.main.get_command(app)\n"
        "ctx = command.make_context('edgegate', ['--help'], resilient_parsing=True)\n"
        "command.get_help(ctx)\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_help_importtime_has_no_heavy_libraries() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "edgegate", "--help"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0
    assert "Usage" in proc.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "edgegate" in imported  # the importtime output was parsed
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


@pytest.mark.parametrize("sub", ["policy", "policy lint", "policy test", "check", "init"])
def test_subcommand_help_does_not_import_heavy(sub: str) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from edgegate.cli import app\n"
        f"r = CliRunner().invoke(app, {sub.split()!r} + ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"heavy = {HEAVY!r}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_version(cli, cli_subprocess) -> None:
    from edgegate import __version__
    from edgegate.policy.opa import engine_version

    opa = engine_version() or "not installed"
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"edgegate {__version__} (OPA {opa})"
    r = cli_subprocess("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"edgegate {__version__} (OPA {opa})"


def test_check_without_config_is_exit_2_one_line(cli_subprocess, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # stop the upward search here
    r = cli_subprocess("check", tmp_path)
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "edgegate.toml" in line and str(tmp_path) in line


def test_check_missing_path_is_exit_2(cli_subprocess, tmp_path: Path) -> None:
    r = cli_subprocess("check", tmp_path / "nope")
    assert r.exit_code == 2
    assert "no such file or directory" in _one_error_line(r.stderr)


def test_check_bad_config_names_key_and_file(cli_subprocess, tmp_path: Path) -> None:
    (tmp_path / "edgegate.toml").write_text('[policy]\npaths = ["."]\nrulez = ["policy"]\n')
    r = cli_subprocess("check", tmp_path)
    assert r.exit_code == 2
    line = _one_error_line(r.stderr)
    assert "policy.rulez" in line
    assert str(tmp_path / "edgegate.toml") in line


def test_check_unknown_gate_is_exit_2(cli, tmp_path: Path) -> None:
    (tmp_path / "edgegate.toml").write_text('[policy]\npaths = ["."]\n')
    r = cli("check", tmp_path, "--gate", "nuclear")
    assert r.exit_code == 2
    assert "unknown gate 'nuclear'" in _one_error_line(r.stderr)


def test_unknown_format_is_exit_2(cli, tmp_path: Path) -> None:
    (tmp_path / "edgegate.toml").write_text('[policy]\npaths = ["."]\n')
    r = cli("check", tmp_path, "-f", "pdf")
    assert r.exit_code == 2
    assert "unknown format 'pdf'" in _one_error_line(r.stderr)


def test_init_on_a_folder_with_nothing_to_check_says_so(cli, tmp_path: Path) -> None:
    r = cli("init", tmp_path, "--yes")
    assert r.exit_code == 0, r.stderr
    assert "left out: no Kubernetes/Knative/edge-AI manifests found" in r.stdout
    assert "no gate could be configured" in r.stdout
    assert f"wrote {tmp_path / 'edgegate.toml'}" in r.stdout
    from edgegate.config import load_config

    assert load_config(tmp_path / "edgegate.toml").section("policy") is None
    # nothing configured is not a pass: check says so, exit 2
    r = cli("check", tmp_path)
    assert r.exit_code == 2
    assert "no gate is configured" in _one_error_line(r.stderr)


def test_init_refuses_to_overwrite(cli, tmp_path: Path) -> None:
    assert cli("init", tmp_path).exit_code == 0
    (tmp_path / "edgegate.toml").write_text("# mine\n")
    r = cli("init", tmp_path)
    assert r.exit_code == 2
    assert "--force" in _one_error_line(r.stderr)
    assert (tmp_path / "edgegate.toml").read_text() == "# mine\n"
    assert cli("init", tmp_path, "--force").exit_code == 0
    assert "[policy]" in (tmp_path / "edgegate.toml").read_text()


def test_init_missing_folder(cli, tmp_path: Path) -> None:
    r = cli("init", tmp_path / "nope")
    assert r.exit_code == 2
    assert "no such directory" in _one_error_line(r.stderr)


def test_check_example_edge_app(cli, root_dir: Path, tmp_path: Path) -> None:
    """The README's command: the example has deliberate violations, so exit 1 with findings."""
    app = tmp_path / "edge-app"
    shutil.copytree(root_dir / "examples" / "edge-app", app)
    r = cli("check", app, "-f", "json", cwd=tmp_path)
    assert r.exit_code == 1, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["exit_code"] == 1
    (policy,) = [g for g in report["gates"] if g["gate"] == "policy"]
    assert policy["status"] == "failed" and policy["errors"] == []
    blocking = [f for f in policy["findings"] if f["blocking"]]
    assert blocking
    for f in policy["findings"]:
        # relative to the project (no repository around the copy), whatever the working directory
        assert f["location"]["path"].startswith("manifests/"), f
        assert f["location"]["line"] >= 1
    # the repo's own rule (policy/team.rego) runs beside the shipped pack
    assert "Deployment/batch-embedder has no 'team' label" in [f["message"] for f in policy["findings"]]
    # the :latest image in batch-embedder.yaml is reported at its line
    text = (app / "manifests" / "batch-embedder.yaml").read_text().splitlines()
    latest_line = next(i for i, ln in enumerate(text, 1) if ":latest" in ln)
    assert any(
        f["location"]["path"].endswith("batch-embedder.yaml") and f["location"]["line"] == latest_line
        for f in blocking
    )


def test_check_example_via_library(root_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgegate.check import load_for_check, run_check
    from edgegate.findings import Status, exit_code

    monkeypatch.chdir(root_dir)
    results = run_check(load_for_check(root_dir / "examples" / "edge-app"))
    by_gate = {r.gate: r for r in results}
    assert list(by_gate) == [
        "policy", "sbom", "vuln", "verify", "model-scan", "model-quant", "model-bias", "cost"
    ]
    assert results[0].gate == "policy" and results[0].status is Status.FAILED
    assert by_gate["vuln"].status is Status.FAILED and by_gate["cost"].status is Status.FAILED
    assert by_gate["verify"].status is Status.PASSED and by_gate["sbom"].status is Status.PASSED
    assert exit_code(results) == 1
    assert results[0].stats["documents"] >= 5


def test_check_subprocess_text_report(cli_subprocess, root_dir: Path) -> None:
    r = cli_subprocess("check", "examples/edge-app", cwd=root_dir,
                       env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"})
    assert r.exit_code == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert "policy" in r.stdout and "batch-embedder.yaml" in r.stdout


def test_debug_shows_the_traceback(cli_subprocess, tmp_path: Path) -> None:
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "p.rego").write_text("package main\n")
    r = cli_subprocess("policy", "lint", "missing.yaml", cwd=tmp_path)
    assert r.exit_code == 2
    assert "missing.yaml" in _one_error_line(r.stderr)
    r = cli_subprocess("policy", "lint", "missing.yaml", "--debug", cwd=tmp_path)
    assert r.exit_code == 2
    assert "Traceback" in r.stderr
    assert r.stderr.rstrip().splitlines()[-1].startswith("edgegate: error: ")


def test_check_accepts_the_config_file_itself(cli, root_dir: Path) -> None:
    r = cli("check", root_dir / "examples" / "edge-app" / "edgegate.toml", "-f", "json", cwd=root_dir)
    assert r.exit_code == 1, r.stderr
    assert json.loads(r.stdout)["gates"][0]["gate"] == "policy"


def test_usage_errors_are_exit_2(cli_subprocess) -> None:
    r = cli_subprocess("policy", "lint", "--no-such-option", "x")
    assert r.exit_code == 2
    assert "Traceback" not in r.stderr
    r = cli_subprocess("no-such-command")
    assert r.exit_code == 2
