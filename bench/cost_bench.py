"""Cost-gate speed over generated manifests, against baselines measured in the same run.

    .venv/bin/python bench/cost_bench.py [--workloads 2000] [--repeat 5] [--samples 200000]

- estimate: edgegate `evaluate` (load + workloads + prices + FinOpsPolicy caps + budgets) vs the
  floor, `yaml.safe_load_all` of the same files, and vs edgegate's own `load_manifests` alone;
- rightsize: `load_usage` + `recommend` over a CSV of N samples vs `csv.reader` reading the file.

Prints a Markdown table (median of --repeat runs); bench/results/cost.md records a run.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from edgegate.finops.gate import CostSettings, evaluate  # noqa: E402
from edgegate.finops.prices import load_prices  # noqa: E402
from edgegate.finops.rightsize import recommend  # noqa: E402
from edgegate.finops.usage import load_usage  # noqa: E402
from edgegate.finops.workloads import extract_workloads, load_manifests  # noqa: E402

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: ns-{ns}
  labels: {{team: t{team}, env: prod}}
  annotations: {{finops.acme.io/cost-center: cc-{team}}}
spec:
  replicas: {replicas}
  template:
    spec:
      containers:
        - name: main
          resources:
            requests: {{cpu: {cpu}m, memory: {mem}Mi}}
            limits: {{cpu: "2", memory: 4Gi}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  scaleTargetRef: {{kind: Deployment, name: app-{i}}}
  minReplicas: 1
  maxReplicas: {maxr}
"""
POLICY = """\
apiVersion: policy.apexlogic.com/v1alpha1
kind: FinOpsPolicy
metadata: {{name: team-{t}}}
spec:
  targetWorkloadSelector: {{matchLabels: {{team: t{t}}}}}
  costLimits: {{maxCPUCores: 40, maxMemoryGB: 64}}
  autoScale: {{maxReplicas: 8}}
"""


def median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workloads", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--samples", type=int, default=200_000)
    args = ap.parse_args()
    rng = random.Random(1)
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "m"
        folder.mkdir()
        for f in range(20):
            docs = [
                DEPLOY.format(i=i, ns=i % 7, team=i % 10, replicas=rng.randint(1, 5), cpu=rng.randint(50, 2000),
                              mem=rng.randint(64, 4096), maxr=rng.randint(2, 12))
                for i in range(f, args.workloads, 20)
            ]
            (folder / f"w{f}.yaml").write_text("---\n".join(docs))
        (folder / "policies.yaml").write_text("---\n".join(POLICY.format(t=t) for t in range(10)))
        files = sorted(folder.glob("*.yaml"))
        settings = CostSettings(org="acme.io", budgets={"*": Decimal(100000)})

        def floor() -> None:
            for f in files:
                list(yaml.safe_load_all(f.read_text()))

        t_floor = median(floor, args.repeat)
        t_load = median(lambda: load_manifests([folder]), args.repeat)
        t_eval = median(lambda: evaluate([folder], settings), args.repeat)
        result = evaluate([folder], settings)

        usage = Path(tmp) / "usage.csv"
        with usage.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["timestamp", "namespace", "pod", "container", "cpu", "memory"])
            for n in range(args.samples):
                i = n % args.workloads
                w.writerow([n, f"ns-{i % 7}", f"app-{i}-5d8f7-abcde", "main", rng.random(), rng.randint(1, 2**31)])
        workloads = extract_workloads(load_manifests([folder]))
        prices = load_prices()

        def read_csv() -> None:
            with usage.open(newline="") as fh:
                for _ in csv.reader(fh):
                    pass

        t_csv = median(read_csv, args.repeat)
        t_rs = median(lambda: recommend(workloads, load_usage([str(usage)]), prices), args.repeat)

    print(f"{args.workloads} Deployments + HPAs in 20 files, 10 FinOpsPolicies; {args.samples} usage samples; "
          f"median of {args.repeat}; {len(result.findings)} findings\n")
    print("| step | seconds | vs baseline |")
    print("|---|---|---|")
    print(f"| yaml.safe_load_all (floor) | {t_floor:.3f} | 1.00 |")
    print(f"| edgegate load_manifests (line-tracking loader) | {t_load:.3f} | {t_load / t_floor:.2f} × floor |")
    print(f"| edgegate evaluate (whole estimate gate) | {t_eval:.3f} | {t_eval / t_floor:.2f} × floor, "
          f"{t_eval / t_load:.2f} × load |")
    print(f"| csv.reader over the usage file (floor) | {t_csv:.3f} | 1.00 |")
    print(f"| edgegate load_usage + recommend | {t_rs:.3f} | {t_rs / t_csv:.2f} × floor |")


if __name__ == "__main__":
    main()
