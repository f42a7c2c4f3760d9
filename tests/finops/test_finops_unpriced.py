"""Nothing priced is never a pass: containers of a kind the cost gate does not price are a
blocking EGC005 (their cost is unknown, not zero); inputs without any workload are exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edgegate.errors import NothingToCheckError
from edgegate.findings import Status
from edgegate.finops.gate import CostSettings, evaluate

DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
          "spec": {"replicas": 1, "template": {"spec": {"containers": [
              {"name": "c", "image": "x", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}}}
CONTAINERS = [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "8", "memory": "32Gi"}}}]
UNPRICED = {
    "argo-rollout": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
                     "spec": {"replicas": 50, "template": {"spec": {"containers": CONTAINERS}}}},
    "kserve": {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "m"},
               "spec": {"predictor": {"containers": CONTAINERS}}},
    "knative-configuration": {"apiVersion": "serving.knative.dev/v1", "kind": "Configuration",
                              "metadata": {"name": "k"}, "spec": {"template": {"spec": {"containers": CONTAINERS}}}},
    "init-containers-only": {"apiVersion": "example.com/v1", "kind": "Runner", "metadata": {"name": "i"},
                             "spec": {"pod": {"initContainers": CONTAINERS}}},
}
NOT_WORKLOADS = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"containers": "[]"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}},
    {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
     "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api"}, "minReplicas": 1, "maxReplicas": 2}},
]


def _write(tmp_path: Path, *docs: dict[str, Any]) -> Path:
    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump_all(docs))
    return f


@pytest.mark.parametrize("name", sorted(UNPRICED))
def test_containers_of_an_unpriced_kind_fail_the_gate(tmp_path: Path, name: str) -> None:
    r = evaluate([_write(tmp_path, DEPLOY, UNPRICED[name])], CostSettings())
    assert r.status is Status.FAILED
    found = [f for f in r.findings if f.rule_id == "EGC005"]
    assert len(found) == 1 and found[0].blocking
    assert found[0].details["kind"] == UNPRICED[name]["kind"]


def test_an_unpriced_kind_in_a_list_is_found(tmp_path: Path) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": [UNPRICED["argo-rollout"]]}
    r = evaluate([_write(tmp_path, doc)], CostSettings())
    assert r.status is Status.FAILED
    assert [f.rule_id for f in r.findings if f.blocking] == ["EGC005"]


def test_objects_without_containers_are_not_flagged(tmp_path: Path) -> None:
    r = evaluate([_write(tmp_path, DEPLOY, *NOT_WORKLOADS)], CostSettings())
    assert r.status is Status.PASSED
    assert not [f for f in r.findings if f.rule_id == "EGC005"]


def test_no_workload_at_all_is_nothing_to_check(tmp_path: Path) -> None:
    with pytest.raises(NothingToCheckError):
        evaluate([_write(tmp_path, *NOT_WORKLOADS)], CostSettings())


def test_cli_exit_codes(cli, tmp_path: Path) -> None:
    assert cli("cost", "estimate", str(_write(tmp_path, *NOT_WORKLOADS))).exit_code == 2
    assert cli("cost", "estimate", str(_write(tmp_path, UNPRICED["argo-rollout"]))).exit_code == 1


UNPRICED_SHAPES = {
    # a re-review: each passed with EGC005 searching only container lists in spec, 12 levels deep
    "argo-workflow-container-objects": {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "wf"},
        "spec": {"parallelism": 100, "templates": [{"name": "t", "container": {"image": "x", "resources": {}}},
                                                    {"name": "s", "script": {"image": "python", "source": "x"}}]}},
    "containers-as-a-map": {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "m"},
                            "spec": {"containers": {"main": {"image": "busybox"}}}},
    "pod-template-outside-spec": {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "pt"},
                                  "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}},
    "past-a-thousand-items": {"apiVersion": "example.com/v1", "kind": "Batch", "metadata": {"name": "b"},
                              "spec": {"tasks": [{} for _ in range(1000)] + [{"containers": [{"image": "x"}]}]}},
}


def _nested(depth: int) -> dict[str, Any]:
    inner: dict[str, Any] = {"containers": [{"image": "x"}]}
    for _ in range(depth):
        inner = {"a": inner}
    return {"apiVersion": "example.com/v1", "kind": "Deep", "metadata": {"name": "d"}, "spec": inner}


@pytest.mark.parametrize("name", sorted(UNPRICED_SHAPES))
def test_an_image_however_it_is_written_is_unpriced(tmp_path: Path, name: str) -> None:
    r = evaluate([_write(tmp_path, DEPLOY, UNPRICED_SHAPES[name])], CostSettings())
    assert [f.rule_id for f in r.findings if f.blocking] == ["EGC005"]


@pytest.mark.parametrize("depth", [20, 200])
def test_deep_objects_are_searched_or_called_unpriced(tmp_path: Path, depth: int) -> None:
    r = evaluate([_write(tmp_path, DEPLOY, _nested(depth))], CostSettings())
    assert [f.rule_id for f in r.findings if f.blocking] == ["EGC005"]


def test_config_maps_and_secrets_holding_image_names_are_not_workloads(tmp_path: Path) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "y"},
          "binaryData": {}, "spec": {"image": "kept as data"}}
    r = evaluate([_write(tmp_path, DEPLOY, cm)], CostSettings())
    assert r.status is Status.PASSED


def test_any_list_kind_is_priced_item_by_item_as_kubectl_applies_it(tmp_path: Path) -> None:
    # a re-review: a DeploymentList of 500 pods x 64 CPUs was invisible (total 2.69, PASSED)
    big = dict(DEPLOY, metadata={"name": "big"})
    big["spec"] = dict(DEPLOY["spec"], replicas=500)
    bare = {k: v for k, v in DEPLOY.items() if k not in ("kind", "apiVersion")}
    bare["metadata"] = {"name": "bare"}
    lists = [{"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [big]},
             {"apiVersion": "apps/v1", "kind": "DeploymentList", "items": [bare]},  # kind from the list
             dict(DEPLOY, metadata={"name": "outer"}, items=[dict(DEPLOY, metadata={"name": "inner"})])]
    r = evaluate([_write(tmp_path, *lists)], CostSettings())
    names = sorted(row[0] for row in r.stats["tables"][0]["rows"] if row[0] != "Total")
    assert names == ["Deployment/bare", "Deployment/big", "Deployment/inner"]  # "outer" is not applied


def test_objects_that_only_name_images_are_not_unpriced(tmp_path: Path) -> None:
    # a review: Kyverno patterns, Flux image scans and a label named "image" were EGC005
    others = [
        {"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": {"name": "p"},
         "spec": {"rules": [{"validate": {"pattern": {"spec": {"containers": [{"name": "*", "image": "!*:latest"}]}}}}]}},
        {"apiVersion": "image.toolkit.fluxcd.io/v1beta2", "kind": "ImageRepository", "metadata": {"name": "r"},
         "spec": {"image": "ghcr.io/org/app"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"image": "app"}},
         "spec": {"ports": [{"port": 80}]}},
    ]
    r = evaluate([_write(tmp_path, DEPLOY, *others)], CostSettings())
    assert r.status is Status.PASSED
