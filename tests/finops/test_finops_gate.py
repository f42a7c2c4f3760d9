from __future__ import annotations

import json
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from edgegate.config import load_config
from edgegate.errors import ConfigError, InputError
from edgegate.findings import Status
from edgegate.finops.gate import CostSettings, evaluate, run_from_config
from edgegate.finops.prices import load_prices

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "edge-app"

POLICY = """\
apiVersion: policy.apexlogic.com/v1alpha1
kind: FinOpsPolicy
metadata: {name: caps}
spec:
  targetWorkloadSelector:
    matchLabels: {team: ml}
  costLimits: {maxCPUCores: 4, maxMemoryGB: 8, dailyGPUHours: 48}
  autoScale: {maxReplicas: 3}
"""

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {labels}
  annotations: {annotations}
spec:
  replicas: {replicas}
  template:
    spec:
      containers:
        - name: c
          resources:
            requests: {{cpu: "{cpu}", memory: {memory}, nvidia.com/gpu: {gpu}}}
"""


def deploy(name: str = "api", labels: str = "{team: ml}", annotations: str = "{}", replicas: int = 2,
           cpu: str = "1", memory: str = "2Gi", gpu: int = 0) -> str:
    return DEPLOY.format(name=name, labels=labels, annotations=annotations, replicas=replicas, cpu=cpu,
                         memory=memory, gpu=gpu)


def write(tmp_path: Path, *docs: str) -> Path:
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    (folder / "all.yaml").write_text("---\n".join(textwrap.dedent(d) for d in docs))
    return folder


def rules(result) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(f.rule_id for f in result.findings if f.blocking)


def test_within_caps_passes(tmp_path: Path) -> None:
    result = evaluate([write(tmp_path, POLICY, deploy())], CostSettings())
    assert result.status is Status.PASSED
    assert result.stats["policy_matches"] == [{"policy": "caps", "workload": "Deployment/default/api"}]
    assert result.stats["tables"][0]["rows"][-1][0] == "Total"


def test_caps_compare_the_total_at_max_scale(tmp_path: Path) -> None:
    # 3 replicas × 2 CPU = 6 > 4; 3 × 3Gi = 9 GiB > 8 (maxMemoryGB is read as GiB); 3 × 1 GPU × 24 h = 72 > 48; 3 replicas ok
    result = evaluate([write(tmp_path, POLICY, deploy(replicas=3, cpu="2", memory="3Gi", gpu=1))], CostSettings())
    assert result.status is Status.FAILED
    assert rules(result) == ["EGC001", "EGC002", "EGC003"]
    cpu = next(f for f in result.findings if f.rule_id == "EGC001")
    assert "Deployment default/api: 6 CPU cores at max scale (2 per pod × 3 pods)" in cpu.message
    assert cpu.location.line == 9 + 13  # the policy, "---", then the container's `resources:` key
    # per replica every cap holds
    per_pod = evaluate([write(tmp_path, POLICY, deploy(replicas=3, cpu="2", memory="3Gi", gpu=1))],
                       CostSettings(scope="replica"))
    assert per_pod.status is Status.PASSED


def test_max_replicas_and_selector(tmp_path: Path) -> None:
    result = evaluate([write(tmp_path, POLICY, deploy(replicas=5, cpu="100m", memory="1Mi"))], CostSettings())
    assert rules(result) == ["EGC004"]
    f = result.findings[0]
    assert f.location.line == 8 + POLICY.count("\n") + 1 and "maximum scale 5 (spec.replicas)" in f.message
    other = evaluate([write(tmp_path, POLICY, deploy(replicas=50, labels="{team: web}"))], CostSettings())
    assert other.status is Status.PASSED and other.stats["policy_matches"] == []


def test_match_expressions(tmp_path: Path) -> None:
    policy = POLICY.replace(
        "matchLabels: {team: ml}",
        "matchExpressions: [{key: tier, operator: In, values: [gpu]}, {key: legacy, operator: DoesNotExist}]",
    )
    hit = evaluate([write(tmp_path, policy, deploy(replicas=9, labels="{tier: gpu}"))], CostSettings())
    assert "EGC004" in rules(hit)
    miss = evaluate([write(tmp_path, policy, deploy(replicas=9, labels="{tier: gpu, legacy: 'y'}"))], CostSettings())
    assert miss.status is Status.PASSED


def test_example_lobby_face_matcher_breaches_its_policy() -> None:
    result = evaluate([EXAMPLE], CostSettings())
    assert result.status is Status.FAILED
    lobby = [f for f in result.findings if "lobby-face-matcher" in f.message]
    assert {f.rule_id for f in lobby} == {"EGC001", "EGC002", "EGC003"}
    assert all(f.location.path.endswith("edge-ai.yaml") and f.location.line == 35 for f in lobby)
    # per device (what the Rego pack checks) the face matcher still breaches CPU (12 > 8)
    per_device = evaluate([EXAMPLE], CostSettings(scope="replica"))
    assert any(f.rule_id == "EGC001" and "lobby-face-matcher" in f.message for f in per_device.findings)
    assert not any(f.rule_id == "EGC001" and "vision" in f.message for f in per_device.findings)


def test_finops_policy_ref_selects_by_name_and_missing_ref_fails(tmp_path: Path) -> None:
    edge = """\
    apiVersion: apexlogic.ai/v1
    kind: EdgeAIDeployment
    metadata: {name: cam, labels: {team: other}}
    spec:
      targetDevices: {labels: {deviceType: jetson-orin}, count: 2}
      resourceLimits: {cpu: "3", memory: 1Gi}
      finopsPolicyRef: caps
    """
    result = evaluate([write(tmp_path, POLICY, edge)], CostSettings())
    assert rules(result) == ["EGC001"]  # 3 × 2 devices = 6 > 4
    dangling = evaluate([write(tmp_path, edge)], CostSettings())
    assert rules(dangling) == ["EGC006"]


def test_budgets_required_tags_and_thresholds(tmp_path: Path) -> None:
    ann = "{finops.acme.io/cost-center: cc-1}"
    folder = write(tmp_path, deploy(annotations=ann), deploy(name="web", labels="{team: web}"))
    prices = load_prices()
    monthly = (prices.vcpu_hour + 2 * prices.gib_hour) * 2 * 730  # each deployment
    settings = CostSettings(org="acme.io", budgets={"cc-1": monthly - 1},
                            required_annotations=["finops.acme.io/cost-center"], max_monthly=monthly * 2 - 1)
    result = evaluate([folder], settings)
    assert rules(result) == ["EGC010", "EGC013", "EGC020"]
    budget = next(f for f in result.findings if f.rule_id == "EGC010")
    assert "cost center 'cc-1' costs" in budget.message and budget.location.line == 6
    missing = next(f for f in result.findings if f.rule_id == "EGC013")
    assert "Deployment default/web" in missing.message
    unattributed = [f for f in result.findings if f.rule_id == "EGC011"]
    assert len(unattributed) == 1 and not unattributed[0].blocking
    ok = evaluate([folder], CostSettings(org="acme.io", budgets={"cc-1": monthly}, max_monthly=monthly * 2))
    assert ok.status is Status.PASSED


def test_increase_thresholds_need_a_base(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="need a base"):
        evaluate([write(tmp_path, deploy())], CostSettings(max_increase_percent=Decimal(10)))


def test_run_from_config_uses_the_cost_section(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "manifests", app / "manifests")
    (app / "prices.yaml").write_text(
        "version: 1\ncurrency: EUR\nvcpu_hour: 0.01\ngib_hour: 0.001\ngpu_hour: {default: 0.1}\n"
        "devices: {smart-camera: {hour: 0.001}}\n"
    )
    (app / "edgegate.toml").write_text(
        textwrap.dedent(
            """\
            [cost]
            paths = ["manifests"]
            prices = "prices.yaml"
            org = "apexlogic.ai"
            basis = "expected"
            required_annotations = ["finops.{org}/cost-center", "finops.{org}/project-id"]
            [cost.budgets]
            cc-4711 = 100000
            """
        )
    )
    config = load_config(app / "edgegate.toml")
    (result,) = run_from_config(config.section("cost") or {}, config)
    assert result.stats["currency"] == "EUR" and result.stats["example_prices"] is False
    assert result.status is Status.FAILED
    missing = {f.message.split(":")[0] for f in result.findings if f.rule_id == "EGC013"}
    assert missing == {"Deployment ai-workloads/batch-embedder", "Service ai-workloads/text-classifier"}


def test_config_schema_refuses_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "edgegate.toml").write_text('[cost]\nbudget = 5\n')
    with pytest.raises(ConfigError, match=r"unknown key 'cost\.budget'"):
        load_config(tmp_path / "edgegate.toml")
    (tmp_path / "edgegate.toml").write_text('[cost]\nbasis = "peak"\n')
    with pytest.raises(ConfigError, match=r"cost\.basis"):
        load_config(tmp_path / "edgegate.toml")


def test_price_sheet_validation_points_at_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 1\ncurrency: USD\nvcpu_hour: 0.03\ngib_hour: -1\ngpu_hour: {default: 1}\n")
    with pytest.raises(InputError, match="invalid price sheet at /gib_hour") as err:
        load_prices(bad)
    assert err.value.line == 4
    shipped = load_prices()
    assert shipped.example and shipped.hours_per_month == 730
    assert {"nvidia-t4", "nvidia-l4", "nvidia-a10g", "default"} <= set(shipped.gpu_hour)
    assert {"smart-camera", "jetson-orin"} <= set(shipped.devices)


# --- the command line -------------------------------------------------------------------------


def test_cli_example_prints_a_cost_table_and_exits_1(cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("cost", "estimate", EXAMPLE, "--no-config")
    assert res.exit_code == 1, res.stderr
    assert "Monthly cost, USD (EXAMPLE prices)" in res.stdout
    assert "lobby-face-matcher" in res.stdout and "EGC001" in res.stdout


def test_cli_json_and_markdown(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = write(tmp_path, POLICY, deploy())
    res = cli("cost", "estimate", folder, "-f", "json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    (gate,) = [r for r in data["gates"] if r["gate"] == "cost"]
    assert gate["stats"]["costs"][0]["name"] == "api"
    md = cli("cost", "estimate", folder, "-f", "markdown")
    assert md.exit_code == 0 and "| Deployment/api |" in md.stdout


def test_cli_bad_input_exits_2_with_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = write(tmp_path, deploy(cpu="2e3m"))
    res = cli("cost", "estimate", folder)
    assert res.exit_code == 2
    assert "all.yaml:14: Deployment 'api': invalid quantity '2e3m'" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert cli("cost", "estimate", tmp_path / "nope").exit_code == 2
    assert cli("cost", "estimate", folder, "--prices", tmp_path / "missing.yaml").exit_code == 2


def test_cli_daemonset_nodes_option(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ds = deploy().replace("kind: Deployment", "kind: DaemonSet").replace("  replicas: 2\n", "")
    folder = write(tmp_path, ds)
    assert cli("cost", "estimate", folder).exit_code == 2
    res = cli("cost", "estimate", folder, "--nodes", "4", "-f", "json")
    assert res.exit_code == 0
    assert '"max": 4' in res.stdout


def test_edgegate_check_fails_on_a_finops_breach(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE / "manifests", app / "manifests")
    (app / "edgegate.toml").write_text('[cost]\npaths = ["manifests"]\norg = "apexlogic.ai"\n')
    res = cli("check", app)
    assert res.exit_code == 1, res.stdout + res.stderr
    assert "lobby-face-matcher" in res.stdout


def test_caps_are_inclusive_and_memory_is_gib(tmp_path: Path) -> None:
    # 2 × 2 CPU = 4 cores and 2 × 4Gi = 8 GiB: exactly at the caps
    at_cap = evaluate([write(tmp_path, POLICY, deploy(replicas=2, cpu="2", memory="4Gi"))], CostSettings())
    assert at_cap.status is Status.PASSED
    over = evaluate([write(tmp_path, POLICY, deploy(replicas=2, cpu="2", memory="4097Mi"))], CostSettings())
    assert rules(over) == ["EGC002"]


def test_unbounded_knative_breaches_every_cap_it_is_under(tmp_path: Path) -> None:
    knative = """\
    apiVersion: serving.knative.dev/v1
    kind: Service
    metadata: {name: fn, labels: {team: ml}}
    spec:
      template:
        spec:
          containers: [{image: x, resources: {requests: {cpu: 10m, memory: 16Mi}}}]
    """
    result = evaluate([write(tmp_path, POLICY, knative)], CostSettings())
    assert rules(result) == ["EGC001", "EGC002", "EGC004"]
    replicas = next(f for f in result.findings if f.rule_id == "EGC004")
    assert "maximum scale unbounded" in replicas.message
    (note,) = [f for f in result.findings if f.rule_id == "EGC030"]
    assert not note.blocking and "no max-scale (unbounded); priced at 10 at most" in note.message


def test_hpa_v1_target_and_replicas_cap(tmp_path: Path) -> None:
    hpa = """\
    apiVersion: autoscaling/v1
    kind: HorizontalPodAutoscaler
    metadata: {name: h}
    spec:
      scaleTargetRef: {kind: Deployment, name: api}
      minReplicas: 1
      maxReplicas: 6
      targetCPUUtilizationPercentage: 60
    """
    result = evaluate([write(tmp_path, POLICY, deploy(cpu="100m", memory="64Mi"), hpa)], CostSettings())
    assert rules(result) == ["EGC004"]
    f = result.findings[0]
    assert "HorizontalPodAutoscaler h" in f.message and f.location.line == 9 + 15 + 7
    (cost,) = result.stats["costs"]
    assert cost["pods"] == {"min": 1, "expected": 5, "max": 6}  # ceil(0.5 × 6 / 0.6)


def test_unpriced_gpu_without_default_is_an_error(tmp_path: Path) -> None:
    sheet = tmp_path / "p.yaml"
    sheet.write_text("version: 1\ncurrency: USD\nvcpu_hour: 0.03\ngib_hour: 0.004\ngpu_hour: {nvidia-t4: 0.35}\n")
    with pytest.raises(InputError, match="GPU type '\\(unknown\\)' is not in the price sheet"):
        evaluate([write(tmp_path, deploy(gpu=1))], CostSettings(prices=sheet))


def test_folder_without_manifests_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no YAML or JSON manifests"):
        evaluate([tmp_path / "empty"], CostSettings())


def test_unset_resources_under_a_cap_fail_closed(tmp_path: Path) -> None:
    bare = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: bare, labels: {team: ml}}
    spec:
      replicas: 1
      template:
        spec:
          containers: [{name: c, image: x}]
    """
    result = evaluate([write(tmp_path, POLICY, bare)], CostSettings())
    assert rules(result) == ["EGC001", "EGC002"]
    assert all("cannot be checked" in f.message for f in result.findings if f.blocking)
    (note,) = [f for f in result.findings if f.rule_id == "EGC030"]
    assert "no cpu or memory request or limit" in note.message
