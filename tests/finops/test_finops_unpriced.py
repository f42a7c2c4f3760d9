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
