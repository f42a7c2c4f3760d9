"""`edgegate init`: an edgegate.toml that fits the repository, plus an example rule with its tests.

`plan_init` looks at the repository (`edgegate.discover`) and builds the config from what
exists; `write_plan` writes it. What was left out, and why, is part of the plan so the command can
print it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from edgegate.discover import RepoScan, covering_paths, scan_repo, top_folders
from edgegate.errors import EdgegateError

EXAMPLE_RULE = """\
# An example rule: every workload names the team that owns it (a warning, not a failure).
package main

import rego.v1

warn contains msg if {
\tinput.kind in {"Deployment", "StatefulSet", "DaemonSet"}
\tnot input.metadata.labels.team
\tmsg := sprintf("%s/%s has no 'team' label", [input.kind, input.metadata.name])
}
"""

EXAMPLE_CASES = """\
# Test cases for policy/team.rego: run them with `edgegate policy test policy`.
cases:
  - name: a labelled deployment passes
    input: {apiVersion: apps/v1, kind: Deployment, metadata: {name: web, labels: {team: ml}}}
    warn: []
  - name: an unlabelled deployment warns
    input: {apiVersion: apps/v1, kind: Deployment, metadata: {name: web}}
    warn: ["Deployment/web has no 'team' label"]
"""



@dataclass
class InitPlan:
    """What `edgegate init` will write and what it tells the user."""

    root: Path
    files: dict[Path, str] = field(default_factory=dict)
    found: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    gates: list[str] = field(default_factory=list)


def _toml_list(paths: list[Path]) -> str:
    return "[" + ", ".join(json.dumps(p.as_posix()) for p in paths) + "]"


def _signed(scan: RepoScan) -> list[tuple[Path, Path]]:
    """(artifact, bundle) for every signature whose artifact is there."""
    pairs = []
    for sig in scan.signatures:
        name = sig.name
        for suffix in (".sigstore.json", ".sigstore", ".sig"):
            if name.endswith(suffix):
                target = sig.with_name(name[: -len(suffix)])
                if (scan.root / target).exists():
                    pairs.append((target, sig))
                break
    return pairs


def plan_init(folder: str | Path) -> InitPlan:
    """Look at `folder` and plan the config."""
    root = Path(folder)
    scan = scan_repo(root)
    plan = InitPlan(root=root)
    parts = [_HEADER, '[report]\n# FORMAT or FORMAT:PATH (text, json, sarif, github, junit, markdown).\nformats = ["text"]\n']
    has_rules = (root / "policy").is_dir() and any((root / "policy").rglob("*.rego"))
    manifests = scan.manifests
    everything = [*scan.documents, *scan.charts]
    if manifests:
        paths = covering_paths(manifests, everything)
        plan.found.append(f"{len(manifests)} manifest file(s): {', '.join(p.as_posix() for p in paths)}")
        plan.gates += ["policy", "cost"]
        parts.append(_POLICY.format(paths=_toml_list(paths)))
        parts.append(_COST.format(paths=_toml_list(paths)))
        if not has_rules:
            plan.files[root / "policy" / "team.rego"] = EXAMPLE_RULE
            plan.files[root / "policy" / "tests" / "team.yaml"] = EXAMPLE_CASES
    else:
        plan.left_out.append("no Kubernetes/Knative/edge-AI manifests found: [policy] and [cost] are commented out")
        parts.append("\n".join("# " + ln if ln else "#" for ln in _POLICY.format(paths='["deploy"]').splitlines()) + "\n")
    for chart in scan.charts:
        plan.left_out.append(
            f"{chart.as_posix()}: a Helm chart (Go templates); render it with `helm template {chart.as_posix()}"
            f" > rendered/{chart.name}.yaml` and add the output to [policy] paths"
        )
    for t in scan.templated:
        plan.left_out.append(f"{t.as_posix()}: a template ({{{{ }}}}), not a manifest; check what it renders to")
    if scan.models:
        folders = top_folders(scan.models)
        plan.found.append(f"{len(scan.models)} model file(s) in {', '.join(p.as_posix() for p in folders)}")
        plan.gates.append("model-scan")
        parts.append(_MODEL.format(paths=_toml_list(folders)))
    if scan.requirements:
        plan.found.append(f"Python requirements: {', '.join(p.as_posix() for p in scan.requirements)}")
        plan.gates.append("vuln")
        parts.append(_VULN.format(paths=_toml_list(scan.requirements)))
    signed = _signed(scan)
    if signed and len(scan.keys) == 1:
        key = scan.keys[0]
        plan.found.append(f"{len(signed)} signature(s), public key {key.as_posix()}")
        plan.gates.append("verify")
        arts = "".join(f'\n[[verify.artifacts]]\npath = {json.dumps(a.as_posix())}\nbundle = {json.dumps(b.as_posix())}\n'
                       for a, b in signed)
        parts.append(f"[verify]\n# Signatures found beside their artifacts, checked against this public key.\n"
                     f"key = {json.dumps(key.as_posix())}\n{arts}")
    elif signed:
        plan.left_out.append(
            f"{len(signed)} signature(s) ({', '.join(b.as_posix() for _, b in signed)}): [verify] needs the signer's"
            " public key or identity (key = ..., or identity + issuer); see docs/sign.md"
        )
    if scan.truncated:
        plan.left_out.append(f"the repository has more than {scan_limit()} files; only the first were looked at")
    plan.files[root / "edgegate.toml"] = "\n".join(parts)
    return plan


def scan_limit() -> int:
    from edgegate.discover import MAX_ENTRIES

    return MAX_ENTRIES


def write_plan(plan: InitPlan, *, force: bool = False) -> list[Path]:
    """Write the planned files; an existing file is refused unless `force`."""
    from edgegate.io.output import write_output
    from edgegate.io.paths import confine

    if not plan.root.is_dir():
        raise EdgegateError("no such directory", plan.root)
    existing = [p for p in plan.files if os.path.lexists(p)]  # a dangling symlink exists too
    if existing and not force:
        raise EdgegateError("already exists (use --force to overwrite)", existing[0])
    for path in plan.files:
        if os.path.islink(path) and not os.path.exists(path):
            raise EdgegateError("is a dangling symbolic link; refusing to write through it", path)
        confine(path, plan.root, "the file to write")  # a symlink (file or folder) out of the folder
    for path, text in plan.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_output(path, text, "the starter file")
    return list(plan.files)


def write_starter(folder: str | Path, *, force: bool = False) -> list[Path]:
    """Plan and write in one step (the library form of `edgegate init --yes`)."""
    return write_plan(plan_init(folder), force=force)


_HEADER = """\
# edgegate configuration, written by `edgegate init` from what it found in this repository.
# `edgegate check` runs every gate configured here and exits 0 (all gates passed), 1 (a gate
# failed) or 2 (bad input or configuration). Keys: docs/ in https://github.com/edgegate/edgegate
"""

_POLICY = """\
[policy]
# Kubernetes, Knative, EdgeAIDeployment and FinOpsPolicy manifests found here (Helm charts are
# left to `helm template`: add its output here).
paths = {paths}
# The shipped edge-AI rule pack and this repository's own Rego rules (conftest-compatible).
rules = ["builtin:edge-ai", "policy"]
# data = ["policy/data.yaml"]   # data.edgegate.* for the rules: org, allowed_registries, ...
# The pack's cost (EGP006) and data-classification (EGP007) rules want annotations under your
# organisation's prefix (data.edgegate.org). Until they are rolled out, switch a rule off or
# lower its severity, with a reason and an expiry:
# [[policy.override]]
# rule = "EGP006"
# disable = true
# reason = "cost-center annotations are not rolled out yet"
# expires = 2027-06-30
"""

_COST = """\
[cost]
# What the manifests cost, from the shipped EXAMPLE price sheet (set prices = "..." for yours).
paths = {paths}
"""

_MODEL = """\
[model.scan]
# Model files scanned for code-execution risks without loading them.
paths = {paths}
"""

_VULN = """\
[vuln]
# Known vulnerabilities of these requirements: online through pip-audit (PyPI) unless db = an
# offline OSV database (`edgegate vuln db build`).
requirements = {paths}
# db = "osv-db.sqlite"
# fail-on = "high"
"""
