"""Image references collected from manifests: every workload kind, init and ephemeral
containers, CronJobs, Knative, EdgeAIDeployment, List objects; file and line of each."""

from __future__ import annotations

from pathlib import Path

from edgegate.admit.policy import ImagePolicy, glob_regex, select
from edgegate.admit.refs import collect_images, load_manifest_documents

MANIFESTS = """\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  initContainers:
    - {name: i, image: "reg.example/a/init:1"}
  containers:
    - name: c
      image: reg.example/a/app:1
  ephemeralContainers:
    - name: debug
      image: reg.example/a/debug:1
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
            - name: job
              image: reg.example/a/job@sha256:0123456789012345678901234567890123456789012345678901234567890123
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: ks}
spec:
  template:
    spec:
      containers:
        - image: reg.example/a/knative:2
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: st}
spec:
  template:
    spec:
      containers:
        - name: s
          image: python
---
apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: ds}
    spec:
      template:
        spec:
          containers:
            - name: d
              image: reg.example/a/ds:3
---
apiVersion: apexlogic.ai/v1
kind: EdgeAIDeployment
metadata: {name: edge}
spec:
  image: reg.example/a/edge:4
  modelRef: {name: m.onnx}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data:
  image: reg.example/not/an-image:1
"""


def test_collects_every_place_an_image_can_be_named(tmp_path: Path) -> None:
    f = tmp_path / "all.yaml"
    f.write_text(MANIFESTS)
    uses = collect_images(load_manifest_documents([f]))
    lines = f.read_text().splitlines()
    got = [(u.image, u.kind, u.pointer) for u in uses]
    assert got == [
        ("reg.example/a/init:1", "Pod", "/spec/initContainers/0/image"),
        ("reg.example/a/app:1", "Pod", "/spec/containers/0/image"),
        ("reg.example/a/debug:1", "Pod", "/spec/ephemeralContainers/0/image"),
        ("reg.example/a/job@sha256:0123456789012345678901234567890123456789012345678901234567890123", "CronJob",
         "/spec/jobTemplate/spec/template/spec/containers/0/image"),
        ("reg.example/a/knative:2", "Service", "/spec/template/spec/containers/0/image"),
        ("python", "StatefulSet", "/spec/template/spec/containers/0/image"),
        ("reg.example/a/ds:3", "List", "/items/0/spec/template/spec/containers/0/image"),
        ("reg.example/a/edge:4", "EdgeAIDeployment", "/spec/image"),
    ]
    for u in uses:
        assert u.image in lines[u.line - 1], (u, lines[u.line - 1])


def test_policy_globs_match_like_cluster_image_policy() -> None:
    assert glob_regex("reg.example/a/*").fullmatch("reg.example/a/app")
    assert not glob_regex("reg.example/a/*").fullmatch("reg.example/a/b/app")
    assert glob_regex("reg.example/**").fullmatch("reg.example/a/b/app")
    assert not glob_regex("reg.example/**").fullmatch("reg.example.evil.io/a")
    ours = ImagePolicy("ours", ("reg.example/a/*",), keys=("k.pub",))
    base = ImagePolicy("base", ("docker.io/library/**",), signed=False, mode="warn")
    assert select([ours, base], "reg.example/a/app") is ours
    assert select([ours, base], "docker.io/library/python") is base
    assert select([ours, base], "ghcr.io/x/y") is None
