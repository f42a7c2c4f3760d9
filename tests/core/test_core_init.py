"""`edgegate init` looks at the repository and `edgegate check` right after it gives a real
verdict (exit 0 or 1, never 2) on a small repo with a Deployment, a Knative Service and a Helm
chart."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

DIGEST = "sha256:" + "0" * 64
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.example/web@{DIGEST}
          resources: {{requests: {{cpu: 100m, memory: 64Mi}}, limits: {{cpu: 200m, memory: 128Mi}}}}
          securityContext: {{runAsNonRoot: true, allowPrivilegeEscalation: false}}
"""
KNATIVE = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: scorer
spec:
  template:
    spec:
      containers:
        - image: registry.example/scorer:latest
"""
# a Helm template is not YAML until `helm template` renders it: init must leave it out
HELM_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "web.fullname" . }}
{{- if .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
{{- end }}
"""


def _small_repo(root: Path) -> Path:
    (root / "deploy" / "knative").mkdir(parents=True)
    (root / "deploy" / "web.yaml").write_text(DEPLOYMENT)
    (root / "deploy" / "knative" / "scorer.yaml").write_text(KNATIVE)
    chart = root / "charts" / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("replicaCount: 1\nautoscaling: {enabled: false}\n")
    (chart / "templates" / "deployment.yaml").write_text(HELM_TEMPLATE)
    (root / "docker-compose.yml").write_text("services:\n  web: {image: nginx}\n")  # YAML, not a manifest
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\njobs: {}\n")
    return root


def test_init_then_check_on_a_small_repo(cli, tmp_path: Path) -> None:
    repo = _small_repo(tmp_path)
    r = cli("init", repo, "--yes")
    assert r.exit_code == 0, r.stderr
    assert "found: 2 manifest file(s): deploy" in r.stdout
    assert "left out: charts/web: a Helm chart" in r.stdout and "helm template charts/web" in r.stdout
    from edgegate.config import load_config

    cfg = load_config(repo / "edgegate.toml")
    assert cfg.section("policy") == {"paths": ["deploy"], "rules": ["builtin:edge-ai", "policy"]}
    assert cfg.section("cost") == {"paths": ["deploy"]}
    assert (repo / "policy" / "team.rego").is_file()

    r = cli("check", repo, "-f", "json", cwd=repo)
    assert r.exit_code in (0, 1), r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert {g["gate"]: g["errors"] for g in report["gates"]} == {"policy": [], "cost": []}
    policy = report["gates"][0]
    files = {Path(f["location"]["path"]).name for f in policy["findings"]}
    assert files == {"web.yaml", "scorer.yaml"}
    # the Knative Service's :latest image is a real finding, so this repo fails the gate
    assert any(f["rule_id"] == "EGP001" and f["location"]["path"].endswith("scorer.yaml")
               for f in policy["findings"])
    assert r.exit_code == 1
    assert report["gates"][1]["stats"]  # the cost gate priced the workloads


def test_init_check_with_the_real_helm_template_left_out(cli, tmp_path: Path) -> None:
    """The chart is really left out: linting its template folder by hand is an input error."""
    repo = _small_repo(tmp_path)
    r = cli("policy", "lint", repo / "charts" / "web" / "templates", "--rules", "builtin:edge-ai")
    assert r.exit_code == 2
    assert cli("init", repo, "--yes").exit_code == 0
    assert cli("check", repo, cwd=repo).exit_code == 1


def test_init_points_other_gates_at_models_requirements_and_signatures(cli, root_dir: Path, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    repo = tmp_path
    shutil.copytree(root_dir / "examples" / "edge-app" / "signing", repo / "signing")
    (repo / "models").mkdir()
    np.save(repo / "models" / "weights.npy", np.arange(6, dtype=np.float32))
    (repo / "requirements.txt").write_text("requests==2.31.0\n")
    r = cli("init", repo, "--yes")
    assert r.exit_code == 0, r.stderr
    from edgegate.config import load_config

    cfg = load_config(repo / "edgegate.toml")
    assert cfg.section("vuln") == {"requirements": ["requirements.txt"]}
    assert cfg.data["model"]["scan"]["paths"] == ["models", "signing/tiny-classifier"]
    assert cfg.section("verify") == {
        "key": "signing/edgegate.pub",
        "artifacts": [{"path": "signing/tiny-classifier", "bundle": "signing/tiny-classifier.sig"}],
    }
    assert "gates: model-scan, vuln, verify" in r.stdout
    # offline gates only (vuln would ask PyPI): the signature verifies and the models are safe
    r = cli("check", repo, "-g", "verify", "-g", "model-scan", "-f", "json", cwd=repo)
    assert r.exit_code == 0, r.stdout + r.stderr
    assert [g["gate"] for g in json.loads(r.stdout)["gates"]] == ["verify", "model-scan"]


def test_init_leaves_out_signatures_without_a_key(cli, root_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(root_dir / "examples" / "edge-app" / "signing", tmp_path / "signing")
    (tmp_path / "signing" / "edgegate.pub").unlink()
    r = cli("init", tmp_path, "--yes")
    assert r.exit_code == 0
    assert "left out: 1 signature(s) (signing/tiny-classifier.sig): [verify] needs" in r.stdout


def test_init_does_not_read_fifos(cli, tmp_path: Path) -> None:
    import os

    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "web.yaml").write_text(DEPLOYMENT)
    os.mkfifo(tmp_path / "deploy" / "pipe.yaml")
    r = cli("init", tmp_path, "--yes")  # would hang if the FIFO were opened for reading
    assert r.exit_code == 0
    assert "found: 1 manifest file(s)" in r.stdout


def test_init_in_a_subprocess_without_a_terminal_writes(cli_subprocess, tmp_path: Path) -> None:
    """No terminal, no --yes: init writes (it asks only on a terminal)."""
    _small_repo(tmp_path)
    r = cli_subprocess("init", cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "edgegate.toml").is_file()
    git = shutil.which("git")
    if git:
        subprocess.run([git, "init", "-q", str(tmp_path)], check=True)
    assert cli_subprocess("check", cwd=tmp_path).exit_code == 1


def test_precommit_keeps_the_finopspolicy_context_of_unchanged_files(cli, root_dir: Path, tmp_path: Path) -> None:
    """EGP009/EGP010 need the FinOpsPolicy objects: linting only the changed file must not lose
    their findings (a pass that should be a fail)."""
    app = tmp_path / "edge-app"
    shutil.copytree(root_dir / "examples" / "edge-app", app)
    full = cli("check", app, "-g", "policy", "-f", "json", cwd=app)
    wanted = sorted(
        (f["rule_id"], Path(f["location"]["path"]).name)
        for f in json.loads(full.stdout)["gates"][0]["findings"]
        if f["location"]["path"].endswith("edge-ai.yaml")
    )
    assert ("EGP009", "edge-ai.yaml") in wanted
    r = cli("precommit", "manifests/edge-ai.yaml", "-f", "json", cwd=app)
    assert r.exit_code == 1, r.stderr
    gate = json.loads(r.stdout)["gates"][0]
    got = sorted((f["rule_id"], Path(f["location"]["path"]).name) for f in gate["findings"])
    assert got == wanted  # the same findings for that file as the full run, and no others
    assert gate["stats"]["context"] >= 1


def test_precommit_without_files_in_scope_passes_and_without_policy_is_exit_2(cli, tmp_path: Path) -> None:
    (tmp_path / "edgegate.toml").write_text('[policy]\npaths = ["deploy"]\nrules = ["builtin:edge-ai"]\n')
    (tmp_path / "deploy").mkdir()
    (tmp_path / "notes.yaml").write_text("a: 1\n")
    r = cli("precommit", "notes.yaml", "-f", "json", cwd=tmp_path)
    assert r.exit_code == 0
    assert json.loads(r.stdout)["gates"][0]["stats"]["changed"] == 0
    (tmp_path / "edgegate.toml").write_text('[cost]\npaths = ["deploy"]\n')
    r = cli("precommit", "notes.yaml", cwd=tmp_path)
    assert r.exit_code == 2 and "no [policy]" in r.stderr
