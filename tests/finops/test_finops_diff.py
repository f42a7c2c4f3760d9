from __future__ import annotations

import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from edgegate.errors import InputError
from edgegate.findings import Status
from edgegate.finops.diff import load_manifests_at
from edgegate.finops.gate import CostSettings, evaluate
from edgegate.finops.prices import load_prices

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

DEPLOY = """\
# a comment
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  template:
    spec:
      containers:
        - name: c
          resources:
            requests: {{cpu: "{cpu}", memory: 1Gi}}
"""


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose first commit has api (2 × 1 CPU) and worker (1 × 500m)."""
    r = tmp_path / "repo"
    (r / "deploy").mkdir(parents=True)
    git(r, "init", "-q", "-b", "main")
    (r / "deploy" / "api.yaml").write_text(DEPLOY.format(name="api", replicas=2, cpu="1"))
    (r / "deploy" / "worker.yaml").write_text(DEPLOY.format(name="worker", replicas=1, cpu="500m"))
    git(r, "add", "-A")
    git(r, "commit", "-qm", "base")
    return r


def change_head(r: Path) -> None:
    """The pull request: api scales to 4 × 2 CPU, worker is removed, batch is added."""
    (r / "deploy" / "api.yaml").write_text(DEPLOY.format(name="api", replicas=4, cpu="2"))
    (r / "deploy" / "worker.yaml").unlink()
    (r / "deploy" / "batch.yaml").write_text(DEPLOY.format(name="batch", replicas=1, cpu="250m"))


def monthly(cpu: str, replicas: int) -> Decimal:
    p = load_prices()
    return (p.vcpu_hour * Decimal(cpu) + p.gib_hour) * replicas * 730


def test_documents_at_a_ref_keep_working_tree_paths(repo: Path) -> None:
    change_head(repo)
    docs = load_manifests_at("HEAD", [repo / "deploy"])
    assert sorted((d.path, d.line) for d in docs) == [
        (str(repo / "deploy" / "api.yaml"), 2),
        (str(repo / "deploy" / "worker.yaml"), 2),
    ]
    assert {d.data["spec"]["replicas"] for d in docs} == {2, 1}


def test_base_diff_per_workload_and_total(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    change_head(repo)
    monkeypatch.chdir(repo)
    result = evaluate(["deploy"], CostSettings(base="main"))
    assert result.status is Status.PASSED
    _cost_table, diff_table = result.stats["tables"]
    assert diff_table["title"].startswith("Monthly cost change against main")
    rows = {row[0]: row for row in diff_table["rows"]}
    before, after = monthly("1", 2), monthly("2", 4)
    assert rows["Deployment/api"][3] == f"+{after - before:,.2f}"
    assert rows["Deployment/api"][4] == f"+{(after - before) / before * 100:.1f} %"
    assert rows["Deployment/worker"][2:] == ["—", f"−{monthly('0.5', 1):,.2f}", "removed"]
    assert rows["Deployment/batch"][1] == "—" and rows["Deployment/batch"][4] == "new"
    total_before = before + monthly("0.5", 1)
    total_after = after + monthly("0.25", 1)
    assert rows["Total"][1:3] == [f"{total_before:,.2f}", f"{total_after:,.2f}"]
    assert result.stats["base_monthly_total"] == float(total_before.quantize(Decimal("0.01")))


def test_increase_thresholds_against_the_base(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    change_head(repo)
    monkeypatch.chdir(repo)
    result = evaluate(["deploy"], CostSettings(base="HEAD", max_increase_percent=Decimal(100)))
    assert [f.rule_id for f in result.findings] == ["EGC022"]  # it roughly triples
    assert result.status is Status.FAILED
    f = result.findings[0]  # pointed at the workload that grew most
    assert (f.location.path, f.location.line) == ("deploy/api.yaml", 2)
    assert f.message.endswith("(largest: Deployment default/api)")
    ok = evaluate(["deploy"], CostSettings(base="HEAD", max_increase_percent=Decimal(1000)))
    assert ok.status is Status.PASSED
    absolute = evaluate(["deploy"], CostSettings(base="HEAD", max_increase=Decimal(1)))
    assert [f.rule_id for f in absolute.findings] == ["EGC021"]


def test_markdown_pr_comment(repo: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    change_head(repo)
    res = cli("cost", "estimate", "deploy", "--base", "main", "-f", "markdown", cwd=repo)
    assert res.exit_code == 0, res.stderr
    assert "Monthly cost change against main" in res.stdout
    assert "| Deployment/worker |" in res.stdout and "| removed |" in res.stdout


def test_bad_refs_and_non_repositories(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="git rev-parse failed"):
        load_manifests_at("no-such-branch", [repo / "deploy"])
    with pytest.raises(InputError, match="invalid git ref"):
        load_manifests_at("--output=/tmp/x", [repo / "deploy"])
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(InputError, match="not inside a git repository"):
        load_manifests_at("HEAD", [outside])


def test_malformed_file_at_base_names_the_ref(repo: Path) -> None:
    (repo / "deploy" / "api.yaml").write_text("a: [broken\n")
    git(repo, "commit", "-qam", "broken")
    (repo / "deploy" / "api.yaml").write_text(DEPLOY.format(name="api", replicas=2, cpu="1"))
    with pytest.raises(InputError) as err:
        load_manifests_at("HEAD", [repo / "deploy"])
    assert str(err.value).startswith("HEAD:deploy/api.yaml:")


def test_new_folder_has_no_base_cost(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "fresh").mkdir()
    (repo / "fresh" / "x.yaml").write_text(DEPLOY.format(name="x", replicas=1, cpu="1"))
    monkeypatch.chdir(repo)
    result = evaluate(["fresh"], CostSettings(base="HEAD", max_increase_percent=Decimal(50)))
    assert [f.rule_id for f in result.findings] == ["EGC022"]
    assert "from nothing" in result.findings[0].message
