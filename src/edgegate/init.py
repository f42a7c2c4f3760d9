"""`edgegate init`: a commented starter config and an example rule with its test cases."""

from __future__ import annotations

import os
from pathlib import Path

from edgegate.errors import EdgegateError

STARTER_CONFIG = """\
# edgegate configuration. `edgegate check` runs every gate configured here and exits
# 0 (all gates passed), 1 (a gate failed) or 2 (bad input or configuration).
# Reference: https://github.com/edgegate/edgegate/tree/main/docs

[report]
# Reports `edgegate check` writes: FORMAT or FORMAT:PATH (text, json, sarif, github, junit, markdown).
formats = ["text"]

[policy]
# Manifests (Kubernetes, Knative, EdgeAIDeployment, FinOpsPolicy) to check.
paths = ["deploy"]
# The shipped edge-AI rule pack and this repository's own Rego rules (conftest-compatible).
rules = ["builtin:edge-ai", "policy"]
# Data for the rules, exposed as data.edgegate.* (org, allowed_registries, banned_models, ...).
# data = ["policy/data.yaml"]
# fail-on-warn = false

# [vuln]
# requirements = ["requirements.txt"]
# db = "osv-db.sqlite"          # offline OSV database (edgegate vuln db build); absent = online
# fail-on = "high"

# [model.scan]
# paths = ["models"]

# [cost]
# paths = ["deploy"]
"""

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


def write_starter(folder: str | Path, *, force: bool = False) -> list[Path]:
    """Write edgegate.toml, policy/team.rego and policy/tests/team.yaml into `folder`."""
    root = Path(folder)
    if not root.is_dir():
        raise EdgegateError("no such directory", root)
    files = {
        root / "edgegate.toml": STARTER_CONFIG,
        root / "policy" / "team.rego": EXAMPLE_RULE,
        root / "policy" / "tests" / "team.yaml": EXAMPLE_CASES,
    }
    from edgegate.io.output import write_output
    from edgegate.io.paths import confine

    existing = [p for p in files if os.path.lexists(p)]  # a dangling symlink exists too
    if existing and not force:
        raise EdgegateError("already exists (use --force to overwrite)", existing[0])
    for path in files:
        if os.path.islink(path) and not os.path.exists(path):
            raise EdgegateError("is a dangling symbolic link; refusing to write through it", path)
        confine(path, root, "the file to write")  # a symlink (file or folder) out of `folder`
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_output(path, text, "the starter file")
    return list(files)
