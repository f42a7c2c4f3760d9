from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from edgegate.errors import InputError
from edgegate.finops.prices import load_prices
from edgegate.finops.rightsize import Settings, apply_edits, percentile, recommend, unified_patch
from edgegate.finops.usage import load_usage
from edgegate.finops.workloads import extract_workloads, load_manifests

MI = 1024**2
MANIFEST = """\
# The API tier. Keep this comment.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: prod
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: server
          image: example/api@sha256:0000
          resources:
            requests:
              cpu: "1"          # one core
              memory: 2Gi
            limits:
              cpu: '2'
              memory: 4Gi
        - name: proxy
          resources: {limits: {cpu: 500m, memory: 256Mi}}
        - name: logger
          resources:
            limits:
              cpu: "1"
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api-worker, namespace: prod}
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: worker
          resources: {requests: {cpu: 250m, memory: 256Mi}}
"""


def cpu_samples() -> list[Decimal]:
    """0.001 … 1.000 cores, shuffled: the nearest-rank 90th percentile is exactly 0.900."""
    values = [Decimal(i) / 1000 for i in range(1, 1001)]
    random.Random(7).shuffle(values)
    return values


def write_csv(path: Path) -> None:
    mem_peak = 300 * MI
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "namespace", "pod", "container", "cpu_cores", "memory_bytes"])
        for i, cpu in enumerate(cpu_samples()):
            pod = "api-7d9f8b6c5-x2k4p" if i % 2 else "api-7d9f8b6c5-q8r7t"
            mem = mem_peak if i == 500 else 100 * MI + i
            w.writerow([f"2024-05-01T00:{i // 60:02d}:{i % 60:02d}Z", "prod", pod, "server", str(cpu), mem])
            w.writerow([f"2024-05-01T00:{i // 60:02d}:{i % 60:02d}Z", "prod", pod, "proxy", "50m", "64Mi"])
            # the worker pod starts with "api-" too: it must go to api-worker, not api
            w.writerow(["t", "prod", "api-worker-6b5d4-zzzzz", "worker", "2", str(1024 * MI)])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "api.yaml").write_text(MANIFEST)
    write_csv(tmp_path / "usage.csv")
    return tmp_path


def test_percentile_is_nearest_rank() -> None:
    assert percentile(cpu_samples(), Decimal(90)) == Decimal("0.9")
    assert percentile([Decimal(5)], Decimal(90)) == 5
    assert percentile([Decimal(x) for x in (1, 2, 3, 4)], Decimal(50)) == 2


def test_recommendations_have_the_known_answer(project: Path) -> None:
    prices = load_prices()
    workloads = extract_workloads(load_manifests([project / "manifests"]))
    recs, notes = recommend(workloads, load_usage([str(project / "usage.csv")]), prices)
    by = {(r.workload.name, r.container.name): r for r in recs}
    server = by[("api", "server")]
    assert (server.samples_cpu, server.samples_memory) == (1000, 1000)
    assert server.cpu_p == Decimal("0.9")
    assert server.cpu_request == Decimal("1.035")  # 0.9 × 1.15
    assert server.memory_peak == 300 * MI
    assert server.memory_request == 345 * MI  # 300Mi × 1.15
    assert server.cpu_limit == Decimal("2.07") and server.memory_limit == 690 * MI  # ratio 2 kept
    assert server.edits == [
        ("/spec/template/spec/containers/0/resources/requests/cpu", "1035m"),
        ("/spec/template/spec/containers/0/resources/limits/cpu", "2070m"),
        ("/spec/template/spec/containers/0/resources/requests/memory", "345Mi"),
        ("/spec/template/spec/containers/0/resources/limits/memory", "690Mi"),
    ]
    hourly = (Decimal(1) - Decimal("1.035")) * prices.vcpu_hour + (Decimal(2048 - 345) / 1024) * prices.gib_hour
    assert server.monthly_saving == hourly * 2 * 730
    proxy = by[("api", "proxy")]
    # 50m × 1.15 = 57.5m → 58m; 64Mi × 1.15 → 74Mi, raised to the 250Mi floor
    assert (proxy.cpu_request, proxy.memory_request) == (Decimal("0.058"), 250 * MI)
    worker = by[("api-worker", "worker")]
    assert worker.cpu_request == Decimal("2.3") and worker.samples_cpu == 1000
    assert notes == ["Deployment/prod/api container 'logger': no usage samples"]


def test_patch_and_write_edit_only_the_quantities(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    original = (project / "manifests" / "api.yaml").read_text()
    res = cli("cost", "rightsize", "manifests", "--usage", "usage.csv", "--patch", "fix.diff", cwd=project)
    assert res.exit_code == 0, res.stderr
    assert "Rightsizing" in res.stdout and "1035m" in res.stdout
    assert (project / "manifests" / "api.yaml").read_text() == original  # nothing written without --write
    patch = (project / "fix.diff").read_text()
    assert patch.startswith("--- a/manifests/api.yaml\n+++ b/manifests/api.yaml\n")
    assert '\n-              cpu: "1"          # one core\n' in patch
    assert '\n+              cpu: "1035m"          # one core\n' in patch  # quotes and comment kept
    assert "\n+              cpu: '2070m'\n" in patch

    res = cli("cost", "rightsize", "manifests", "--usage", "usage.csv", "--write", cwd=project)
    assert res.exit_code == 0, res.stderr
    written = (project / "manifests" / "api.yaml").read_text()
    assert written.startswith("# The API tier. Keep this comment.\n")
    assert "resources: {limits: {cpu: 58m, memory: 250Mi}, requests: {cpu: 58m, memory: 250Mi}}" in written
    docs = list(yaml.safe_load_all(written))
    server = docs[0]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert server == {"requests": {"cpu": "1035m", "memory": "345Mi"}, "limits": {"cpu": "2070m", "memory": "690Mi"}}
    worker = docs[1]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert worker == {"requests": {"cpu": "2300m", "memory": "1178Mi"}}
    # every line not about resources is untouched
    changed = [ln for ln in patch.splitlines() if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---"))]
    assert all(any(k in ln for k in ("cpu", "memory", "resources")) for ln in changed)

    if shutil.which("git"):
        (project / "manifests" / "api.yaml").write_text(original)
        subprocess.run(["git", "apply", "fix.diff"], cwd=project, check=True)
        assert (project / "manifests" / "api.yaml").read_text() == written


def test_block_mapping_insertion(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(
        "kind: Deployment\napiVersion: apps/v1\nmetadata: {name: solo}\nspec:\n  template:\n    spec:\n"
        "      containers:\n      - name: c\n        resources:\n          limits:\n            cpu: 1\n"
    )
    usage = tmp_path / "u.csv"
    usage.write_text("pod,container,cpu,memory\nsolo-abc-def,c,0.5,\n")
    workloads = extract_workloads(load_manifests([f]))
    recs, _ = recommend(workloads, load_usage([str(usage)]), load_prices())
    (old, new) = apply_edits(recs)[str(f)]
    assert "          requests: {cpu: 575m}\n          limits:\n            cpu: 575m\n" in new
    patch = unified_patch({str(f): (old, new)})
    assert len([ln for ln in patch.splitlines() if ln.startswith("+") and not ln.startswith("+++")]) == 2
    assert "\n--- a/" in "\n" + patch and "a//" not in patch


def test_prometheus_matrix_counter_and_gauge(tmp_path: Path) -> None:
    rates = [Decimal(i) / 100 for i in range(1, 101)]  # 0.01 … 1.00 cores; p90 = 0.90
    counter, t, values = Decimal(0), 1714521600, []
    values.append([t, "0"])
    for r in rates:
        t += 60
        counter += r * 60
        values.append([t, str(counter)])
    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {
                    "metric": {"__name__": "container_cpu_usage_seconds_total", "namespace": "prod",
                               "pod": "api-1", "container": "server"},
                    "values": values,
                },
                {"metric": {"__name__": "container_cpu_usage_seconds_total", "namespace": "prod",
                            "pod": "api-1", "container": "POD"}, "values": [[t, "99"]]},
                {
                    "metric": {"__name__": "container_memory_working_set_bytes", "namespace": "prod",
                               "pod": "api-1", "container": "server"},
                    "values": [[t, str(200 * MI)], [t + 60, "NaN"], [t + 120, str(400 * MI)]],
                },
            ],
        },
    }
    path = tmp_path / "prom.json"
    path.write_text(json.dumps(body))
    usage = load_usage([str(path)])
    series = usage.series[("prod", "api-1", "server")]
    assert series.cpu == rates and series.memory == [200 * MI, 400 * MI]
    assert ("prod", "api-1", "POD") not in usage.series
    # a rate() query result has no __name__: the kind comes with the file
    del body["data"]["result"][0]["metric"]["__name__"]
    body["data"]["result"] = body["data"]["result"][:1]
    body["data"]["result"][0]["values"] = [[1, "0.5"], [2, "0.25"]]
    path.write_text(json.dumps(body))
    with pytest.raises(InputError, match="cpu=FILE"):
        load_usage([str(path)])
    assert load_usage([f"cpu={path}"]).series[("prod", "api-1", "server")].cpu == [Decimal("0.5"), Decimal("0.25")]


def test_settings_change_the_answer(project: Path) -> None:
    workloads = extract_workloads(load_manifests([project / "manifests"]))
    recs, _ = recommend(workloads, load_usage([str(project / "usage.csv")]), load_prices(),
                        Settings(cpu_percentile=Decimal(50), margin=Decimal(0)))
    server = next(r for r in recs if r.container.name == "server")
    assert server.cpu_request == Decimal("0.5") and server.memory_request == 300 * MI


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("pod,container,cpu\napi-1,server,fast\n", "invalid quantity 'fast'", 2),
        ("pod,container,cpu\napi-1,server\n", "expected 3 fields", 2),
        ("namespace,cpu\nprod,1\n", "header needs pod", 1),
    ],
)
def test_bad_usage_csv(tmp_path: Path, text: str, message: str, line: int) -> None:
    f = tmp_path / "u.csv"
    f.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        load_usage([str(f)])
    assert err.value.line == line


def test_cli_bad_usage_exits_2(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project / "bad.json").write_text('{"data": {"resultType": "vector", "result": []}}')
    res = cli("cost", "rightsize", "manifests", "--usage", "bad.json", cwd=project)
    assert res.exit_code == 2 and "resultType must be 'matrix'" in res.stderr


def test_json_manifest_single_file_write(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    manifest = tmp_path / "d.json"
    manifest.write_text(
        '{\n  "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "j", "namespace": "p"},\n'
        '  "spec": {"template": {"spec": {"containers": [\n'
        '    {"name": "c", "resources": {"limits": {"cpu": 2, "memory": "1Gi"}}}\n  ]}}}\n}\n'
    )
    (tmp_path / "u.csv").write_text("namespace,pod,container,cpu,memory\np,j-1,c,0.4,300Mi\n")
    res = cli("cost", "rightsize", "d.json", "--usage", "u.csv", "--write", cwd=tmp_path)
    assert res.exit_code == 0, res.stderr
    data = json.loads(manifest.read_text())  # still JSON
    assert data["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "460m", "memory": "345Mi"},
        "requests": {"cpu": "460m", "memory": "345Mi"},
    }
    assert cli("cost", "estimate", "d.json", cwd=tmp_path).exit_code == 0
