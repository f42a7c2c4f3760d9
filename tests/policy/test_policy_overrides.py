"""``[[policy.override]]``: disable a rule or change its severity, scoped by path, kind or
namespace, with a reason and an expiry; run through `edgegate check` with the shipped pack."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

DIGEST = "sha256:" + "0" * 64
SECURE = """\
          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 200m, memory: 128Mi}}
          securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false}
"""
DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
spec:
  template:
    spec:
      containers:
        - name: web
          image: registry.example/web@{DIGEST}
{SECURE}"""
KNATIVE = f"""\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: scorer
spec:
  template:
    metadata:
      annotations: {{autoscaling.knative.dev/maxScale: "5"}}
    spec:
      containers:
        - image: registry.example/scorer@{DIGEST}
{SECURE}"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "deploy" / "legacy").mkdir(parents=True)
    (tmp_path / "deploy" / "web.yaml").write_text(DEPLOYMENT)
    (tmp_path / "deploy" / "legacy" / "svc.yaml").write_text(KNATIVE)
    return tmp_path


def _check(cli: Any, repo: Path, overrides: str = "", extra: str = "") -> tuple[int, dict[str, Any]]:
    (repo / "edgegate.toml").write_text(
        f'[policy]\npaths = ["deploy"]\nrules = ["builtin:edge-ai"]\n{extra}\n{overrides}'
    )
    r = cli("check", repo, "-f", "json", cwd=repo)
    report = json.loads(r.stdout) if r.stdout.strip() else {}
    return r.exit_code, report


def _found(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        (f["rule_id"], Path(f["location"].get("path", "")).name, f["severity"])
        for g in report["gates"] for f in g["findings"]
    )


def test_baseline_the_pack_fails_plain_manifests_on_cost_annotations(cli, repo: Path) -> None:
    code, report = _check(cli, repo)
    assert code == 1
    assert ("EGP006", "web.yaml", "medium") in _found(report)
    assert ("EGP006", "svc.yaml", "medium") in _found(report)


def test_disable_a_rule_everywhere(cli, repo: Path) -> None:
    code, report = _check(cli, repo, '[[policy.override]]\nrule = "EGP006"\ndisable = true\n'
                                     'reason = "no FinOps labels in this org"\n')
    found = _found(report)
    assert not [f for f in found if f[0] == "EGP006"]
    assert [f for f in found if f[0] == "EGP007"]  # the other rules still apply
    assert code == 1
    gate = report["gates"][0]
    assert gate["stats"]["overrides"]["disabled"] == 4
    assert {d["reason"] for d in gate["stats"]["disabled_findings"]} == {"no FinOps labels in this org"}


def test_disabling_every_failing_rule_passes(cli, repo: Path) -> None:
    overrides = "".join(
        f'[[policy.override]]\nrule = "{rid}"\ndisable = true\nreason = "not used here"\n'
        for rid in ("EGP006", "EGP007")
    )
    code, report = _check(cli, repo, overrides)
    assert code == 0, report
    assert report["gates"][0]["status"] == "passed"


def test_severity_change_with_fail_on(cli, repo: Path) -> None:
    overrides = ('[[policy.override]]\nrule = "EGP006"\nseverity = "low"\nreason = "tracked in FIN-12"\n'
                 '[[policy.override]]\nrule = "EGP007"\nseverity = "info"\nreason = "tracked in SEC-3"\n')
    code, report = _check(cli, repo, overrides, extra='fail-on = "medium"')
    found = _found(report)
    assert ("EGP006", "web.yaml", "low") in found and ("EGP007", "web.yaml", "info") in found
    assert code == 0  # nothing at or above medium is left
    code, report = _check(cli, repo, overrides.replace('"info"', '"high"'), extra='fail-on = "medium"')
    assert code == 1 and ("EGP007", "svc.yaml", "high") in _found(report)


def test_scope_by_path(cli, repo: Path) -> None:
    code, report = _check(cli, repo, '[[policy.override]]\nrule = "EGP006"\ndisable = true\n'
                                     'paths = ["deploy/legacy"]\nreason = "legacy services"\n')
    assert code == 1  # EGP007 still fails
    found = [f for f in _found(report) if f[0] == "EGP006"]
    assert {f[1] for f in found} == {"web.yaml"}
    code, report = _check(cli, repo, '[[policy.override]]\nrule = "EGP006"\ndisable = true\n'
                                     'paths = ["deploy/*.yaml"]\nreason = "glob"\n')
    assert code == 1  # EGP007 still fails
    # fnmatch's * crosses folders: deploy/*.yaml covers deploy/legacy/svc.yaml too
    assert not [f for f in _found(report) if f[0] == "EGP006"]


def test_scope_by_kind_and_namespace(cli, repo: Path) -> None:
    code, report = _check(cli, repo, '[[policy.override]]\nrule = "EGP006"\ndisable = true\n'
                                     'kinds = ["Service"]\nreason = "Knative is billed elsewhere"\n')
    assert code == 1  # EGP007 still fails
    assert {f[1] for f in _found(report) if f[0] == "EGP006"} == {"web.yaml"}
    code, report = _check(cli, repo, '[[policy.override]]\nrule = "EGP006"\ndisable = true\n'
                                     'namespaces = ["default"]\nreason = "dev namespace"\n')
    assert code == 1  # EGP007 still fails
    # the Knative Service has no namespace: it is in "default"; the Deployment is in "prod"
    assert {f[1] for f in _found(report) if f[0] == "EGP006"} == {"web.yaml"}
    code, report = _check(cli, repo, '[[policy.override]]\nrule = "EGP006"\ndisable = true\n'
                                     'namespaces = ["prod"]\nkinds = ["Service"]\nreason = "both must match"\n')
    assert code == 1  # EGP007 still fails
    assert {f[1] for f in _found(report) if f[0] == "EGP006"} == {"web.yaml", "svc.yaml"}


def test_expired_override_applies_no_more_and_says_so(cli, repo: Path) -> None:
    yesterday = (date.today() - timedelta(days=2)).isoformat()
    code, report = _check(cli, repo, f'[[policy.override]]\nrule = "EGP006"\ndisable = true\n'
                                     f'expires = {yesterday}\nreason = "until the migration"\n')
    assert code == 1
    found = _found(report)
    assert ("EGP006", "web.yaml", "medium") in found
    notes = [f for g in report["gates"] for f in g["findings"] if f["rule_id"] == "EG-POLICY-OVERRIDE-EXPIRED"]
    assert len(notes) == 1 and not notes[0]["blocking"]
    assert yesterday in notes[0]["message"] and "no longer applies" in notes[0]["message"]
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    code, report = _check(cli, repo, f'[[policy.override]]\nrule = "EGP006"\ndisable = true\n'
                                     f'expires = "{tomorrow}"\nreason = "until the migration"\n')
    assert code == 1  # EGP007 still fails
    assert not [f for f in _found(report) if f[0] == "EGP006"]


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ('rule = "EGP006"\ndisable = true\n', "reason"),
        ('rule = "EGP006"\nreason = "x"\n', "exactly one"),
        ('rule = "EGP006"\nreason = "x"\ndisable = true\nseverity = "low"\n', "exactly one"),
        ('rule = "EGP006"\nreason = "x"\ndisable = true\nexpires = "soon"\n', "expires"),
        ('rule = "EGP006"\nreason = "x"\ndisable = true\nkind = ["Service"]\n', "did you mean 'kinds'"),
    ],
)
def test_bad_overrides_are_config_errors(cli, repo: Path, override: str, words: str) -> None:
    (repo / "edgegate.toml").write_text(
        f'[policy]\npaths = ["deploy"]\nrules = ["builtin:edge-ai"]\n[[policy.override]]\n{override}'
    )
    r = cli("check", repo, "-f", "json", cwd=repo)
    assert r.exit_code == 2
    assert words in (r.stdout + r.stderr)


def test_an_override_never_hides_an_error(cli, repo: Path) -> None:
    (repo / "deploy" / "broken.yaml").write_text("kind: [unclosed\n")
    overrides = "".join(
        f'[[policy.override]]\nrule = "{rid}"\ndisable = true\nreason = "x"\n' for rid in ("EGP006", "EGP007")
    )
    code, report = _check(cli, repo, overrides)
    assert code == 2
    assert report["gates"][0]["status"] == "error"


def test_policy_lint_reads_the_policy_section_as_check_does(cli, repo: Path) -> None:
    """`policy lint` takes [policy] from the current folder's config, as conftest takes
    conftest.toml: the same rules and overrides as `check`; options given win; --no-config
    ignores the file; a config beside the inputs (which a pull request could add) is not read."""
    overrides = '[[policy.override]]\nrule = "EGP006"\ndisable = true\nreason = "no FinOps labels here"\n'
    code, report = _check(cli, repo, overrides)
    want = _found(report)
    assert want and not [f for f in want if f[0] == "EGP006"]
    r = cli("policy", "lint", "deploy", "-f", "json", cwd=repo)
    assert (r.exit_code, _found(json.loads(r.stdout))) == (code, want)
    # from another folder: --config names it, its paths resolved from its own folder
    r = cli("policy", "lint", str(repo / "deploy"), "-c", str(repo / "edgegate.toml"), "-f", "json", cwd=repo.parent)
    assert (r.exit_code, _found(json.loads(r.stdout))) == (code, want)
    # a config added beside the inputs cannot switch rules off (review: it did, exit 0)
    (repo / "deploy" / "edgegate.toml").write_text('[policy]\nfail-on = "critical"\n' + overrides.replace("EGP006", "EGP007"))
    r = cli("policy", "lint", "deploy", "-f", "json", cwd=repo)
    assert (r.exit_code, _found(json.loads(r.stdout))) == (code, want)
    (repo / "deploy" / "edgegate.toml").unlink()
    for bad in (["--rego-version", ""], ["--engine", ""], ["-c", "edgegate.toml", "--no-config"], ["-c", "deploy"]):
        r = cli("policy", "lint", "deploy", *bad, cwd=repo)
        assert r.exit_code == 2 and "Traceback" not in r.stderr, bad
    # --no-config: no [policy] rules, so ./policy is looked for (and missing: exit 2)
    r = cli("policy", "lint", "deploy", "--no-config", cwd=repo)
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    # an option given on the command line wins over the config
    (repo / "own").mkdir()
    (repo / "own" / "p.rego").write_text('package main\n\nimport rego.v1\n\ndeny contains "own rule" if input.kind == "Deployment"\n')
    r = cli("policy", "lint", "deploy", "-p", "own", "-f", "json", cwd=repo)
    found = json.loads(r.stdout)["gates"][0]["findings"]
    assert r.exit_code == 1 and [f["message"] for f in found] == ["own rule"]
