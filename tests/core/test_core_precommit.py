"""The repository's .pre-commit-hooks.yaml exercised with the real `pre-commit` package.

Offline: the hooks are loaded with pre-commit's own manifest loader and run by `pre-commit run`
in a temp git repo as `repo: local` hooks with the same entry/files/pass_filenames (language
`system`, i.e. the edgegate installed beside this Python).

Network: `pre-commit try-repo` of this checkout builds the hook's virtualenv with pip, which
downloads edgegate's dependencies from PyPI; it runs only when EDGEGATE_NETWORK_TESTS=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / ".pre-commit-hooks.yaml"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(not HOOKS.is_file(), reason=".pre-commit-hooks.yaml not written yet")

CLEAN_CONFIG = '[policy]\npaths = ["manifests"]\nrules = ["policy"]\n'
CLEAN_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {team: ml}
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.example/web@sha256:0000
"""


def _hooks() -> dict[str, dict[str, Any]]:
    from pre_commit.clientlib import load_manifest

    return {h["id"]: h for h in load_manifest(str(HOOKS))}


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PRE_COMMIT_HOME"] = str(home)
    env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "edgegate tests"
    env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "tests@example.invalid"
    env.pop("GIT_DIR", None)
    env.pop("GIT_INDEX_FILE", None)
    return env


def _git_repo(path: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", "init", "-q", str(path)], check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)


def _local_config(hook_ids: list[str]) -> str:
    import yaml

    hooks = []
    for hid in hook_ids:
        h = _hooks()[hid]
        hooks.append({
            "id": h["id"], "name": h["name"], "entry": h["entry"], "language": "system",
            "files": h["files"], "exclude": h["exclude"], "pass_filenames": h["pass_filenames"],
            "always_run": h["always_run"], "require_serial": h["require_serial"], "types": h["types"],
            "stages": h["stages"],
        })
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": hooks}]})


def _pre_commit(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "pre-commit"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_manifest_is_valid_and_declares_both_hooks() -> None:
    hooks = _hooks()
    assert set(hooks) == {"edgegate", "edgegate-check"}
    hook = hooks["edgegate"]
    assert hook["entry"].split() == ["edgegate", "precommit"]
    assert hook["pass_filenames"] is True
    import re

    files = re.compile(hook["files"])
    assert files.search("deploy/app.yaml") and files.search("k8s/x.yml") and files.search("a.json")
    assert not files.search("src/app.py")
    check = hooks["edgegate-check"]
    assert check["entry"].split()[:2] == ["edgegate", "check"]
    assert check["pass_filenames"] is False and check["always_run"] is True
    assert "pre-push" in check["stages"]  # every gate before a push; the commit hook stays fast


@pytest.mark.slow
def test_pre_commit_runs_edgegate_check_on_the_example(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "edge-app", repo)
    (repo / ".pre-commit-config.yaml").write_text(_local_config(["edgegate-check"]))
    _git_repo(repo, env)
    proc = _pre_commit(["run", "--hook-stage", "pre-push", "--all-files", "--verbose", "edgegate-check"], repo, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "edgegate check" in out and "Failed" in out
    assert "exit code: 1" in out  # the hook failed because a gate failed, not because of an error
    assert "batch-embedder.yaml" in out


@pytest.mark.slow
def test_pre_commit_hooks_pass_on_a_clean_repo(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    repo = tmp_path / "repo"
    (repo / "manifests").mkdir(parents=True)
    (repo / "policy").mkdir()
    shutil.copy(ROOT / "examples" / "edge-app" / "policy" / "team.rego", repo / "policy" / "team.rego")
    (repo / "edgegate.toml").write_text(CLEAN_CONFIG)
    (repo / "manifests" / "web.yaml").write_text(CLEAN_MANIFEST)
    (repo / ".pre-commit-config.yaml").write_text(_local_config(["edgegate", "edgegate-check"]))
    _git_repo(repo, env)
    proc = _pre_commit(["run", "--all-files", "edgegate"], repo, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout
    proc = _pre_commit(["run", "--hook-stage", "pre-push", "--all-files", "edgegate-check"], repo, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


HELM_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "web.fullname" . }}
{{- if .Values.x }}
  replicas: 2
{{- end }}
"""


@pytest.mark.slow
def test_edgegate_hook_lints_the_changed_files_edgegate_toml_names(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "edge-app", repo)
    (repo / "notes.txt").write_text("not a manifest\n")
    chart = repo / "manifests" / "chart"  # a Helm chart inside the [policy] paths
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "templates" / "deployment.yaml").write_text(HELM_TEMPLATE)
    (repo / "elsewhere.yaml").write_text("kind: [not, a manifest\n")  # outside [policy] paths: not read
    (repo / ".pre-commit-config.yaml").write_text(_local_config(["edgegate"]))
    _git_repo(repo, env)
    # the deliberately broken batch-embedder.yaml is not passed, so it is not linted
    proc = _pre_commit(["run", "--verbose", "edgegate", "--files", "manifests/knative-service.yaml", "notes.txt",
                        "manifests/chart/templates/deployment.yaml", "elsewhere.yaml"], repo, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), out
    assert "batch-embedder" not in out and "Traceback" not in out
    assert "malformed" not in out  # neither the Helm template nor elsewhere.yaml was parsed
    proc = _pre_commit(["run", "--verbose", "edgegate", "--files", "manifests/batch-embedder.yaml"], repo, env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "batch-embedder.yaml" in out and "exit code: 1" in out
    # it reads edgegate.toml: the repo's data (policy/data.yaml) and overrides apply
    with open(repo / "edgegate.toml", "a") as fh:
        fh.write("".join(f'\n[[policy.override]]\nrule = "{r}"\ndisable = true\nreason = "test"\n'
                         for r in ("EGP001", "EGP002", "EGP003", "EGP004", "EGP005", "EGP006", "EGP007",
                                   "EGP008", "EGP009", "EGP010", "EGP011", "main.deny", "main.warn")))
    proc = _pre_commit(["run", "--verbose", "edgegate", "--files", "manifests/batch-embedder.yaml"], repo, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("EDGEGATE_NETWORK_TESTS") != "1",
                    reason="pre-commit try-repo pip-installs edgegate's dependencies from PyPI; "
                    "set EDGEGATE_NETWORK_TESTS=1")
def test_pre_commit_try_repo(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "edge-app", repo)
    _git_repo(repo, env)
    proc = _pre_commit(["try-repo", str(ROOT), "edgegate-check", "--hook-stage", "pre-push", "--all-files",
                        "--verbose"], repo, env,
                       timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "edgegate check" in out and "Failed" in out and "exit code: 1" in out
