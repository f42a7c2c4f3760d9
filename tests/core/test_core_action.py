"""The composite Action (action.yml): pinned actions, an upload that cannot decide the verdict,
and its shell steps run for real with the GITHUB_* variables in a temp workspace."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
STEPS: list[dict[str, Any]] = ACTION["runs"]["steps"]
BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")


def _step(name: str) -> dict[str, Any]:
    (step,) = [s for s in STEPS if s.get("name") == name or s.get("id") == name]
    return step


def test_actions_are_pinned_by_commit_with_the_tag_in_a_comment() -> None:
    text = (ROOT / "action.yml").read_text()
    for path in (ROOT / "action.yml", *(ROOT / ".github" / "workflows").glob("*.yml")):
        for line in path.read_text().splitlines():
            m = re.search(r"uses:\s*([^\s#]+)", line)
            if m is None or m.group(1).startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", m.group(1)), (path.name, line)
            assert re.search(r"#\s*v\d+(\.\d+)*\s*$", line), (path.name, line)
    assert "github/codeql-action/upload-sarif@" in text and "upload-sarif@v3" not in text


def test_upload_cannot_decide_the_verdict() -> None:
    upload = _step("upload")
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["continue-on-error"] is True
    warn = _step("Warn when the upload failed")
    assert "steps.upload.outcome == 'failure'" in warn["if"] and "::warning" in warn["run"]
    verdict = _step("Verdict")
    assert "always()" in verdict["if"]
    assert ACTION["outputs"]["exit-code"]["value"] == "${{ steps.check.outputs.exit-code }}"
    assert ACTION["outputs"]["sarif-file"]["value"] == "${{ steps.check.outputs.sarif-file }}"


def test_pip_cache_and_an_isolated_venv() -> None:
    setup = STEPS[0]
    assert setup["uses"].startswith("actions/setup-python@") and setup["with"]["cache"] == "pip"
    install = _step("Install edgegate (isolated virtual environment)")
    assert "python -m venv" in install["run"] and "EDGEGATE_BIN=" in install["run"]
    assert "pip install" in install["run"] and "--user" not in install["run"]


class Runner:
    """Runs composite `run:` steps the way the runner does: `${{ }}` only in `env:` (the scripts
    never interpolate inputs), GITHUB_OUTPUT/GITHUB_ENV files, step outputs read back."""

    def __init__(self, workspace: Path, inputs: dict[str, str], env: dict[str, str]) -> None:
        self.workspace = workspace
        self.temp = workspace.parent / "runner-temp"
        self.temp.mkdir(exist_ok=True)
        self.inputs = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()} | inputs
        self.outputs: dict[str, dict[str, str]] = {}
        self.env = env
        self.summary = self.temp / "summary.md"

    def _expr(self, text: str) -> str:
        def one(m: re.Match[str]) -> str:
            expr = m.group(1).strip()
            if expr.startswith("inputs."):
                return self.inputs[expr[7:]]
            if expr == "github.action_path":
                return str(ROOT)
            sm = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr)
            if sm:
                return self.outputs.get(sm.group(1), {}).get(sm.group(2), "")
            raise AssertionError(f"expression the test runner does not know: {expr}")

        return re.sub(r"\$\{\{(.*?)\}\}", one, text)

    def run(self, name: str) -> subprocess.CompletedProcess[str]:
        step = _step(name)
        assert "${{" not in step["run"], "inputs reach the script through env:, never interpolated"
        out = self.temp / f"out-{len(self.outputs)}"
        out.write_text("")
        env = {**self.env, "GITHUB_WORKSPACE": str(self.workspace), "RUNNER_TEMP": str(self.temp),
               "GITHUB_OUTPUT": str(out), "GITHUB_ENV": str(self.temp / "env"),
               "GITHUB_STEP_SUMMARY": str(self.summary), "GITHUB_ACTIONS": "true", "CI": "true"}
        env |= {k: self._expr(str(v)) for k, v in (step.get("env") or {}).items()}
        proc = subprocess.run([BASH, "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                              cwd=self.workspace, env=env, capture_output=True, text=True, timeout=600)
        values = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
        self.outputs[step.get("id", name)] = values
        return proc


def _workspace(tmp_path: Path, example: bool) -> Path:
    ws = tmp_path / "workspace"
    if example:
        shutil.copytree(ROOT / "examples" / "edge-app", ws)
    else:
        (ws / "deploy").mkdir(parents=True)
        (ws / "deploy" / "web.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
        (ws / "edgegate.toml").write_text('[policy]\npaths = ["deploy"]\nrules = ["builtin:edge-ai"]\n')
    return ws


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "EDGEGATE_"))}
    env["EDGEGATE_BIN"] = str(Path(sys.executable).parent / "edgegate")  # what the install step exports
    env["NO_COLOR"] = "1"
    return env


def test_check_and_verdict_steps_on_the_example(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, example=True)
    runner = Runner(ws, {"path": "."}, _env())
    check = runner.run("check")
    assert check.returncode == 0, check.stderr  # the step itself never fails: the verdict step decides
    assert runner.outputs["check"]["exit-code"] == "1"
    sarif = runner.outputs["check"]["sarif-file"]
    assert sarif == "edgegate.sarif" and (ws / sarif).is_file()
    assert "::error" in check.stdout  # the annotations were printed for the runner
    assert runner.summary.read_text().strip()  # and the step summary written
    verdict = runner.run("Verdict")
    assert verdict.returncode == 1


def test_a_passing_repo_and_the_gates_input(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, example=False)
    runner = Runner(ws, {"gates": "policy"}, _env())
    assert runner.run("check").returncode == 0
    assert runner.outputs["check"]["exit-code"] == "0"
    assert runner.run("Verdict").returncode == 0


def test_edgegate_that_did_not_run_is_never_a_pass(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, example=False)
    runner = Runner(ws, {}, {**_env(), "EDGEGATE_BIN": str(tmp_path / "missing" / "edgegate")})
    runner.run("check")
    assert runner.outputs["check"]["exit-code"] == "127"
    assert runner.outputs["check"]["sarif-file"] == ""  # nothing to upload
    assert runner.run("Verdict").returncode == 2
    runner.outputs["check"] = {}  # the check step crashed before writing its outputs
    verdict = runner.run("Verdict")
    assert verdict.returncode == 2 and "did not run" in verdict.stdout


def test_bad_input_is_exit_2_and_the_upload_warning(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, example=False)
    runner = Runner(ws, {"path": "no-such-folder"}, _env())
    runner.run("check")
    assert runner.outputs["check"]["exit-code"] == "2"
    assert runner.run("Verdict").returncode == 2
    warn = runner.run("Warn when the upload failed")
    assert warn.returncode == 0 and warn.stdout.startswith("::warning")


@pytest.mark.network
@pytest.mark.skipif(os.environ.get("EDGEGATE_NETWORK_TESTS") != "1",
                    reason="the install step pip-installs edgegate's dependencies from PyPI; set EDGEGATE_NETWORK_TESTS=1")
def test_install_step_builds_an_isolated_venv(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, example=False)
    runner = Runner(ws, {}, {k: v for k, v in _env().items() if k != "EDGEGATE_BIN"})
    proc = runner.run("Install edgegate (isolated virtual environment)")
    assert proc.returncode == 0, proc.stderr
    exported = (runner.temp / "env").read_text()
    assert exported.startswith(f"EDGEGATE_BIN={runner.temp}/edgegate-venv/bin/edgegate")
