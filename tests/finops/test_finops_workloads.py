from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from edgegate.errors import InputError
from edgegate.finops.estimate import estimate
from edgegate.finops.prices import load_prices
from edgegate.finops.workloads import Workload, WorkloadOptions, extract_workloads, load_manifests

ROOT = Path(__file__).resolve().parents[2]
H = Decimal(730)
CPU = Decimal("0.0316")  # the shipped example sheet's rates
GIB = Decimal("0.0042")


def load(tmp_path: Path, text: str, options: WorkloadOptions | None = None, name: str = "m.yaml") -> list[Workload]:
    f = tmp_path / name
    f.write_text(textwrap.dedent(text))
    return extract_workloads(load_manifests([f]), options)


DEPLOY = """\
apiVersion: apps/v1
kind: {kind}
metadata:
  name: api
  namespace: prod
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: a
          resources:
            requests: {{cpu: 250m, memory: 512Mi}}
        - name: b
          resources:
            limits: {{cpu: "1", memory: 1Gi}}
"""


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "ReplicaSet"])
def test_replicated_kinds_sum_containers_and_fall_back_to_limits(tmp_path: Path, kind: str) -> None:
    (w,) = load(tmp_path, DEPLOY.format(kind=kind))
    assert (w.kind, w.namespace, w.name, w.line) == (kind, "prod", "api", 1)
    assert w.cpu == Decimal("1.25")
    assert w.memory == Decimal(1536 * 1024**2)
    assert [(c.cpu_from, c.memory_from) for c in w.containers] == [("requests", "requests"), ("limits", "limits")]
    assert w.basis == "limits+requests"
    assert (w.scale.min, w.scale.expected, w.scale.max) == (3, 3, 3)
    (cost,) = estimate([w], load_prices()).costs
    hourly = CPU * Decimal("1.25") + GIB * Decimal("1.5")
    assert cost.monthly_min == cost.monthly_max == hourly * 3 * H


def test_hpa_sets_the_scale_range_and_expected_at_target(tmp_path: Path) -> None:
    text = DEPLOY.format(kind="Deployment") + textwrap.dedent(
        """\
        ---
        apiVersion: autoscaling/v2
        kind: HorizontalPodAutoscaler
        metadata: {name: api-hpa, namespace: prod}
        spec:
          scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
          minReplicas: 2
          maxReplicas: 10
          metrics:
            - type: Resource
              resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
        """
    )
    (w,) = load(tmp_path, text)
    # expected: ceil(0.5 load × 10 max / 0.5 target) = 10 → clamped to max
    assert (w.scale.min, w.scale.expected, w.scale.max) == (2, 10, 10)
    assert w.scale.source == "HorizontalPodAutoscaler api-hpa"
    assert w.scale.line == 24  # maxReplicas of the HPA
    (w2,) = load(tmp_path, text.replace("averageUtilization: 50", "averageUtilization: 80"))
    assert w2.scale.expected == 7  # ceil(5 / 0.8)
    (w3,) = load(tmp_path, text, WorkloadOptions(expected_load=Decimal("0.1")))
    assert w3.scale.expected == 2  # ceil(1 / 0.5) = 2 = min


def test_hpa_in_another_namespace_does_not_apply(tmp_path: Path) -> None:
    text = DEPLOY.format(kind="Deployment") + (
        "---\napiVersion: autoscaling/v1\nkind: HorizontalPodAutoscaler\nmetadata: {name: h, namespace: other}\n"
        "spec: {scaleTargetRef: {kind: Deployment, name: api}, maxReplicas: 9}\n"
    )
    (w,) = load(tmp_path, text)
    assert w.scale.max == 3


def test_daemonset_needs_a_node_count(tmp_path: Path) -> None:
    text = DEPLOY.format(kind="DaemonSet").replace("  replicas: 3\n", "")
    with pytest.raises(InputError, match="node count is unknown") as err:
        load(tmp_path, text)
    assert err.value.line == 1
    (w,) = load(tmp_path, text, WorkloadOptions(nodes=7))
    assert (w.scale.min, w.scale.max, w.scale.source) == (7, 7, "nodes")
    annotated = text.replace("namespace: prod\n", "namespace: prod\n  annotations: {cost.edgegate.dev/nodes: '4'}\n")
    (w,) = load(tmp_path, annotated, WorkloadOptions(nodes=7))
    assert w.scale.max == 4


def test_cronjob_runs_from_schedule_and_duration_annotation(tmp_path: Path) -> None:
    text = """\
    apiVersion: batch/v1
    kind: CronJob
    metadata:
      name: nightly
      annotations: {cost.edgegate.dev/job-duration: 30m}
    spec:
      schedule: "0 2 * * *"
      jobTemplate:
        spec:
          parallelism: 4
          activeDeadlineSeconds: 3600
          template:
            spec:
              containers:
                - name: job
                  resources:
                    requests: {cpu: "2", memory: 4Gi, nvidia.com/gpu: 1}
              nodeSelector: {cloud.google.com/gke-accelerator: nvidia-tesla-t4}
    """
    (w,) = load(tmp_path, text)
    runs = Decimal(365) / 12
    assert w.run_hours == (runs / 2, runs / 2, runs)  # 30 min expected, 1 h deadline at most
    assert w.scale.max == 4 and w.gpu == 1 and w.gpu_type == "nvidia-tesla-t4"
    (cost,) = estimate([w], load_prices()).costs
    assert cost.gpu_type == "nvidia-t4"
    hourly = CPU * 2 + GIB * 4 + Decimal("0.35")
    assert cost.monthly_expected == hourly * 4 * runs / 2
    assert cost.monthly_max == hourly * 4 * runs


def test_job_is_one_run_with_the_configured_duration(tmp_path: Path) -> None:
    text = """\
    apiVersion: batch/v1
    kind: Job
    metadata: {name: once}
    spec:
      completions: 1
      parallelism: 3
      template:
        spec:
          containers: [{name: j, resources: {requests: {cpu: "1", memory: 1Gi}}}]
    """
    (w,) = load(tmp_path, text, WorkloadOptions(job_duration_hours=Decimal(2)))
    assert w.scale.max == 1  # parallelism is capped by completions
    assert w.run_hours == (Decimal(2), Decimal(2), Decimal(2))
    assert any("assumed" in n for n in w.notes)


def test_suspended_cronjob_costs_nothing(tmp_path: Path) -> None:
    text = """\
    apiVersion: batch/v1
    kind: CronJob
    metadata: {name: paused}
    spec:
      schedule: "@hourly"
      suspend: true
      jobTemplate: {spec: {template: {spec: {containers: [{name: j, resources: {requests: {cpu: "1"}}}]}}}}
    """
    (w,) = load(tmp_path, text)
    assert estimate([w], load_prices()).costs[0].monthly_max == 0


def test_knative_scale_annotations(tmp_path: Path) -> None:
    (w,) = extract_workloads(load_manifests([ROOT / "examples/edge-app/manifests/knative-service.yaml"]))
    assert (w.kind, w.api_version) == ("Service", "serving.knative.dev/v1")
    # min 1, max 5, target utilisation 70 % (Knative's default; `target` is concurrency):
    # expected = ceil(0.5 × 5 / 0.7) = 4
    assert (w.scale.min, w.scale.expected, w.scale.max) == (1, 4, 5)
    assert w.scale.line == 18


def test_knative_without_max_scale_is_unbounded(tmp_path: Path) -> None:
    text = """\
    apiVersion: serving.knative.dev/v1
    kind: Service
    metadata: {name: fn}
    spec:
      template:
        metadata:
          annotations: {autoscaling.knative.dev/target-utilization-percentage: "50"}
        spec:
          containers: [{image: x, resources: {requests: {cpu: 100m, memory: 128Mi}}}]
    """
    (w,) = load(tmp_path, text, WorkloadOptions(assume_max_replicas=8))
    assert (w.scale.min, w.scale.max, w.scale.target_utilisation) == (0, None, Decimal("0.5"))
    assert w.scale.expected == 8  # ceil(0.5 × 8 / 0.5)
    (cost,) = estimate([w], load_prices(), assume_max_replicas=8).costs
    assert cost.max_pods_priced == 8 and cost.monthly_min == 0


def test_core_service_is_not_a_workload(tmp_path: Path) -> None:
    assert load(tmp_path, "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: []}\n") == []


def test_edge_ai_deployment(tmp_path: Path) -> None:
    docs = load_manifests([ROOT / "examples/edge-app/manifests/edge-ai.yaml"])
    vision, lobby = extract_workloads(docs)
    assert vision.scale.max == 40
    assert (lobby.name, lobby.line, lobby.device_type) == ("lobby-face-matcher", 22, "smart-camera")
    assert (lobby.cpu, lobby.memory, lobby.gpu, lobby.scale.max) == (12, 16 * 1024**3, 1, 12)
    assert lobby.basis == "resourceLimits"
    (cost,) = estimate([lobby], load_prices()).costs
    # per device: 12 vCPU + 16 GiB + 1 edge-npu GPU + the smart-camera itself, × 12 devices
    hourly = CPU * 12 + GIB * 16 + Decimal("0.002") + Decimal("0.004")
    assert cost.hourly == hourly
    assert cost.monthly_expected == hourly * 12 * H


def test_unknown_device_type_is_an_input_error(tmp_path: Path) -> None:
    text = """\
    apiVersion: apexlogic.ai/v1
    kind: EdgeAIDeployment
    metadata: {name: x}
    spec:
      targetDevices: {labels: {deviceType: toaster}, count: 3}
      resourceLimits: {cpu: "1"}
    """
    with pytest.raises(InputError, match="toaster") as err:
        estimate(load(tmp_path, text), load_prices())
    assert err.value.line == 5


def test_init_containers_sidecars_and_overhead(tmp_path: Path) -> None:
    text = """\
    apiVersion: v1
    kind: Pod
    metadata: {name: p}
    spec:
      overhead: {cpu: 50m}
      initContainers:
        - {name: big-init, resources: {requests: {cpu: "3", memory: 64Mi}}}
        - {name: sidecar, restartPolicy: Always, resources: {requests: {cpu: 100m, memory: 64Mi}}}
      containers:
        - {name: app, resources: {requests: {cpu: "1", memory: 1Gi}}}
    """
    (w,) = load(tmp_path, text)
    assert w.cpu == Decimal("3.05")  # max(1 + 0.1, 3) + overhead
    assert w.memory == Decimal(1088 * 1024**2)  # max(1Gi + 64Mi, 64Mi)


def test_list_documents_are_expanded(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: List\nitems:\n" + textwrap.indent(
        "- " + DEPLOY.format(kind="Deployment").replace("\n", "\n  ").rstrip() + "\n", "  "
    )
    (w,) = load(tmp_path, text)
    assert w.pointer == "/items/0" and w.line == 4


@pytest.mark.parametrize(
    ("bad", "line"),
    [("cpu: 250m", 13), ("memory: 512Mi", 13)],
)
def test_invalid_quantity_reports_file_and_line(tmp_path: Path, bad: str, line: int) -> None:
    text = DEPLOY.format(kind="Deployment").replace(bad, bad.split(":")[0] + ": 2e3m")
    with pytest.raises(InputError, match="Deployment 'api': invalid quantity '2e3m'") as err:
        load(tmp_path, text)
    assert (err.value.path, err.value.line) == (str(tmp_path / "m.yaml"), line)


def test_bad_replicas_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="replicas must be a whole number") as err:
        load(tmp_path, DEPLOY.format(kind="Deployment").replace("replicas: 3", "replicas: lots"))
    assert err.value.line == 7


def test_json_manifests_and_non_workloads_are_read(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {}\n")
    (tmp_path / "random.yaml").write_text("just: data\n")
    (tmp_path / "d.json").write_text(
        '{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "j"},'
        ' "spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}}}'
    )
    (w,) = extract_workloads(load_manifests([tmp_path]))
    assert (w.name, w.cpu, w.scale.max) == ("j", 1, 1)


def test_edge_ai_bad_quantity_points_at_resource_limits(tmp_path: Path) -> None:
    text = """\
    apiVersion: apexlogic.ai/v1
    kind: EdgeAIDeployment
    metadata: {name: x}
    spec:
      targetDevices: {labels: {deviceType: smart-camera}, count: 3}
      resourceLimits:
        cpu: "1"
        memory: 1 Gi
    """
    with pytest.raises(InputError, match="invalid quantity '1 Gi'") as err:
        load(tmp_path, text)
    assert err.value.line == 8


def test_unnamed_knative_container_is_user_container() -> None:
    (w,) = extract_workloads(load_manifests([ROOT / "examples/edge-app/manifests/knative-service.yaml"]))
    assert [c.name for c in w.containers] == ["user-container"]


def test_requests_that_are_not_a_mapping_are_refused(tmp_path: Path) -> None:
    text = DEPLOY.format(kind="Deployment").replace("requests: {cpu: 250m, memory: 512Mi}", 'requests: "1"')
    with pytest.raises(InputError, match=r"resources\.requests must be a mapping") as err:
        load(tmp_path, text)
    assert err.value.line == 13


@pytest.mark.parametrize(
    ("label", "priced_as"),
    [("NVIDIA-A10G", "nvidia-a10g"), ("a10g", "nvidia-a10g"), ("Tesla-T4", "nvidia-t4"), ("mystery-x", "default")],
)
def test_gpu_type_spellings(tmp_path: Path, label: str, priced_as: str) -> None:
    text = f"""\
    apiVersion: v1
    kind: Pod
    metadata: {{name: g, annotations: {{cost.edgegate.dev/gpu-type: {label}}}}}
    spec:
      containers: [{{name: c, resources: {{limits: {{nvidia.com/gpu: 2}}}}}}]
    """
    (cost,) = estimate(load(tmp_path, text), load_prices()).costs
    prices = load_prices()
    assert cost.gpu_type == priced_as
    assert cost.hourly == 2 * prices.gpu_hour[priced_as]


def test_expected_load_annotation(tmp_path: Path) -> None:
    text = """\
    apiVersion: serving.knative.dev/v1
    kind: Service
    metadata: {name: fn, annotations: {cost.edgegate.dev/expected-load: "0.9"}}
    spec:
      template:
        metadata: {annotations: {autoscaling.knative.dev/min-scale: "2", autoscaling.knative.dev/max-scale: "20"}}
        spec:
          containers: [{image: x, resources: {requests: {cpu: 100m}}}]
    """
    (w,) = load(tmp_path, text)
    assert (w.scale.min, w.scale.expected, w.scale.max) == (2, 20, 20)  # ceil(0.9 × 20 / 0.7) → 20
    (w,) = load(tmp_path, text.replace('"0.9"', '"0.1"'))
    assert w.scale.expected == 3  # ceil(0.1 × 20 / 0.7) = 3
    with pytest.raises(InputError, match=r"outside 0\.\.1"):
        load(tmp_path, text.replace('"0.9"', '"1.5"'))
