"""The [policy] section through `edgegate check` (edgegate.policy.gate.run_from_config) and the
check runner's fail-closed handling."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from edgegate import gates
from edgegate.check import run_check
from edgegate.config import load_config
from edgegate.findings import Status, exit_code

RULES = """\
package main

import rego.v1

deny contains {"msg": sprintf("%s: latest", [input.metadata.name]), "severity": "medium"} if {
    some c in input.spec.containers
    endswith(c.image, ":latest")
}

deny contains {"msg": "privileged", "severity": "critical"} if {
    some c in input.spec.containers
    c.securityContext.privileged == true
}

warn contains sprintf("%s: no team", [input.metadata.name]) if not input.metadata.labels.team
"""

PODS = """\
kind: Pod
metadata: {name: a}
spec:
  containers: [{name: x, image: "x:latest"}]
---
kind: Pod
metadata: {name: b, labels: {team: ml}}
spec:
  containers: [{name: y, image: "y@sha256:0"}]
"""

PRIVILEGED = "kind: Pod\nmetadata: {name: c, labels: {team: ml}}\nspec:\n  containers: [{name: z, image: 'z@sha256:0', securityContext: {privileged: true}}]\n"


def _project(root: Path, config: str, files: dict[str, str] | None = None) -> Path:
    layout = {"manifests/pods.yaml": PODS, "policy/p.rego": RULES, **(files or {})}
    for rel, text in layout.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (root / "edgegate.toml").write_text(textwrap.dedent(config))
    return root / "edgegate.toml"


def _check(cli, root: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    r = cli("check", root, "-f", "json", *args, cwd=root)
    assert r.stdout.strip(), r.stderr
    report = json.loads(r.stdout)
    assert report["exit_code"] == r.exit_code
    return r, report


def test_check_runs_the_policy_gate(cli, tmp_path: Path) -> None:
    _project(tmp_path, '[policy]\npaths = ["manifests"]\nrules = ["policy"]\n')
    r, report = _check(cli, tmp_path)
    assert r.exit_code == 1
    (gate,) = report["gates"]
    assert gate["gate"] == "policy" and gate["status"] == "failed"
    got = sorted((f["message"], f["severity"], f["blocking"], f["location"]["path"], f["location"]["line"])
                 for f in gate["findings"])
    assert got == [("a: latest", "medium", True, "manifests/pods.yaml", 1),
                   ("a: no team", "low", False, "manifests/pods.yaml", 1)]


def test_fail_on_threshold_from_config(cli, tmp_path: Path) -> None:
    _project(tmp_path, '[policy]\npaths = ["manifests"]\nrules = ["policy"]\nfail-on = "high"\n')
    r, report = _check(cli, tmp_path)
    assert r.exit_code == 0  # only a medium finding
    assert report["gates"][0]["status"] == "passed"
    assert len(report["gates"][0]["findings"]) == 2
    (tmp_path / "manifests" / "priv.yaml").write_text(PRIVILEGED)
    r, report = _check(cli, tmp_path)
    assert r.exit_code == 1
    assert "privileged" in [f["message"] for f in report["gates"][0]["findings"]]


def test_fail_on_warn_from_config(cli, tmp_path: Path) -> None:
    _project(tmp_path, '[policy]\npaths = ["manifests/ok.yaml"]\nrules = ["policy"]\nfail-on-warn = true\n',
             {"manifests/ok.yaml": "kind: Pod\nmetadata: {name: ok}\nspec: {containers: []}\n"})
    r, report = _check(cli, tmp_path)
    assert r.exit_code == 1
    (f,) = report["gates"][0]["findings"]
    assert f["message"] == "ok: no team" and f["blocking"] is True


def test_namespaces_data_and_combine_from_config(cli, tmp_path: Path) -> None:
    extra = """\
package team.rules

import rego.v1

deny contains sprintf("%d pods, owner %s", [count(input), data.owner]) if is_array(input)
"""
    _project(
        tmp_path,
        '[policy]\npaths = ["manifests"]\nrules = ["policy"]\nnamespaces = ["team.rules"]\n'
        'data = ["data.toml"]\ncombine = true\n',
        {"policy/extra.rego": extra, "data.toml": 'owner = "platform"\n'},
    )
    r, report = _check(cli, tmp_path)
    assert r.exit_code == 1, report
    assert [f["message"] for f in report["gates"][0]["findings"]] == ["2 pods, owner platform"]
    assert report["gates"][0]["stats"]["namespaces"] == ["team.rules"]


def test_all_namespaces_from_config(cli, tmp_path: Path) -> None:
    extra = 'package other\n\nimport rego.v1\n\ndeny contains "other" if input.metadata.name == "b"\n'
    _project(tmp_path, '[policy]\npaths = ["manifests"]\nrules = ["policy"]\nall-namespaces = true\n',
             {"policy/other.rego": extra})
    _, report = _check(cli, tmp_path)
    assert sorted(f["rule_id"] for f in report["gates"][0]["findings"]) == ["main.deny", "main.warn", "other.deny"]


def test_paths_are_relative_to_the_config_not_the_cwd(cli, tmp_path: Path) -> None:
    project = tmp_path / "project"
    _project(project, '[policy]\npaths = ["manifests"]\nrules = ["policy"]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = cli("check", project, "-f", "json", cwd=elsewhere)
    assert r.exit_code == 1, r.stderr
    findings = json.loads(r.stdout)["gates"][0]["findings"]
    assert {Path(f["location"]["path"]).name for f in findings} == {"pods.yaml"}
    # the config is also found from a subfolder of the project
    r = cli("check", project / "manifests", "-f", "json", cwd=elsewhere)
    assert r.exit_code == 1


def test_gate_error_is_exit_2_and_reported(cli, tmp_path: Path) -> None:
    _project(tmp_path, '[policy]\npaths = ["manifests", "missing"]\nrules = ["policy"]\n')
    r, report = _check(cli, tmp_path)
    assert r.exit_code == 2
    (gate,) = report["gates"]
    assert gate["status"] == "error"
    assert any("missing" in e for e in gate["errors"])


def test_bad_manifest_in_check_is_exit_2(cli, tmp_path: Path) -> None:
    _project(tmp_path, '[policy]\npaths = ["manifests"]\nrules = ["policy"]\n',
             {"manifests/broken.yaml": "kind: Pod\nmetadata: [\n"})
    r, report = _check(cli, tmp_path)
    assert r.exit_code == 2
    assert any("broken.yaml" in e for e in report["gates"][0]["errors"])


def test_explicit_config_file(cli, tmp_path: Path) -> None:
    cfg = _project(tmp_path, '[policy]\npaths = ["manifests"]\nrules = ["policy"]\n')
    other = tmp_path / "ci.toml"
    other.write_text(cfg.read_text().replace('rules = ["policy"]', 'rules = ["policy"]\nfail-on = "critical"'))
    r, _ = _check(cli, tmp_path, "--config", str(other))
    assert r.exit_code == 0


def test_run_check_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(_project(tmp_path, '[policy]\npaths = ["manifests"]\nrules = ["policy"]\n'))
    monkeypatch.chdir(tmp_path)
    results = run_check(cfg)
    assert [r.status for r in results] == [Status.FAILED]
    assert exit_code(results) == 1
    assert results[0].stats["documents"] == 2


def test_run_check_broken_gate_module_is_an_error_not_a_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(_project(tmp_path, '[policy]\npaths = ["manifests"]\nrules = ["policy"]\n'))
    monkeypatch.setitem(gates.GATES, "policy", "edgegate._no_such_gate_module")
    results = run_check(cfg)
    assert [r.status for r in results] == [Status.ERROR]
    assert "internal error in gate 'policy'" in results[0].errors[0]
    assert exit_code(results) == 2


def test_combine_with_no_documents_is_a_clear_error(cli, tmp_path: Path) -> None:
    _project(tmp_path, '[policy]\npaths = ["empty"]\nrules = ["policy"]\n', {"empty/a.yaml": "# nothing\n"})
    r = cli("policy", "lint", "empty", "--combine", cwd=tmp_path)
    assert r.exit_code == 2
    assert "internal error" not in r.stderr


HELM_TEMPLATE = """\
apiVersion: v1
kind: Pod
metadata: {name: "{{ .Values.name }}"}
spec:
  containers: [{name: x, image: "x@sha256:0", securityContext: {privileged: "{{ .Values.privileged }}"}}]
"""


def test_helm_chart_templates_are_refused_not_linted(cli, tmp_path: Path) -> None:
    """A chart's templates are Go template text: this one even parses as YAML, with the quoted
    '{{ .Values.privileged }}' where the rendered chart may say true, so linting it would pass a
    privileged pod unseen. check and policy lint refuse it (exit 2) and say how to render it; the
    chart's own Chart.yaml and values.yaml are YAML and stay linted."""
    chart = {"chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
             "chart/values.yaml": "name: web\nprivileged: true\n", "chart/templates/pod.yaml": HELM_TEMPLATE}
    _project(tmp_path, '[policy]\npaths = ["manifests", "chart"]\nrules = ["policy"]\n', chart)
    r, report = _check(cli, tmp_path)
    assert r.exit_code == 2
    (gate,) = report["gates"]
    assert gate["status"] == "error" and "chart/templates/pod.yaml" in gate["errors"][0]
    assert "helm template chart" in gate["errors"][0]
    r = cli("policy", "lint", "chart/templates/pod.yaml", "-p", "policy", cwd=tmp_path)
    assert r.exit_code == 2 and "helm template" in r.stderr and "Traceback" not in r.stderr
    r = cli("policy", "lint", "chart/Chart.yaml", "chart/values.yaml", "-p", "policy", cwd=tmp_path)
    assert r.exit_code == 0, r.stderr
    # reached through a symlink to the templates folder: still the chart's template
    (tmp_path / "link").symlink_to(tmp_path / "chart" / "templates")
    r = cli("policy", "lint", "link", "-p", "policy", cwd=tmp_path)
    assert r.exit_code == 2 and "helm template chart" in r.stderr
    # a symlinked file, and a subchart's template (rendered with its parent chart)
    (tmp_path / "manifests" / "pod.yaml").symlink_to(tmp_path / "chart" / "templates" / "pod.yaml")
    r = cli("policy", "lint", "manifests/pod.yaml", "-p", "policy", cwd=tmp_path)
    assert r.exit_code == 2 and "helm template chart" in r.stderr
    sub = tmp_path / "chart" / "charts" / "sub"
    (sub / "templates").mkdir(parents=True)
    (sub / "Chart.yaml").write_text("apiVersion: v2\nname: sub\nversion: 0.1.0\n")
    (sub / "templates" / "a.yaml").write_text(HELM_TEMPLATE)
    r = cli("policy", "lint", "chart/charts/sub/templates/a.yaml", "-p", "policy", cwd=tmp_path)
    assert r.exit_code == 2 and "`helm template chart`" in r.stderr
    # re-review: a template that is a symlink to a file elsewhere, and a templates folder that is
    # a symlink (Helm follows both), were linted as manifests
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "web.yaml").write_text(HELM_TEMPLATE)
    (tmp_path / "chart" / "templates" / "web.yaml").symlink_to(tmp_path / "files" / "web.yaml")
    r = cli("policy", "lint", "chart/templates/web.yaml", "-p", "policy", cwd=tmp_path)
    assert r.exit_code == 2 and "helm template chart" in r.stderr
    (tmp_path / "chart2").mkdir()
    (tmp_path / "chart2" / "Chart.yaml").write_text("apiVersion: v2\nname: c2\nversion: 0.1.0\n")
    (tmp_path / "chart2" / "templates").symlink_to(tmp_path / "files")
    r = cli("policy", "lint", "chart2/templates", "-p", "policy", cwd=tmp_path)
    assert r.exit_code == 2 and "helm template chart2" in r.stderr
