"""Policy engines, whole process, same files and rules, same run: `edgegate policy lint` on OPA
(the default) against the real conftest and against edgegate's regopy fallback; N generated
Deployments (100 per multi-document YAML file) with the shipped pack, and one manifest for
start-up. Peak memory from GNU time (``%M``, the largest process of the run).

    .venv/bin/python bench/policy_engines.py --conftest PATH [--docs 2000 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policy_throughput import _manifest

ROOT = Path(__file__).resolve().parents[1]
EDGEGATE = str(Path(sys.executable).with_name("edgegate"))
DATA = {"edgegate": {"org": "example.com", "allowed_registries": ["registry.example.com"]}}


def _write_docs(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for start in range(0, n, 100):
        docs = [_manifest(i) for i in range(start, min(n, start + 100))]
        (folder / f"m{start:06d}.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")


def _timed(cmd: list[str], cwd: Path) -> tuple[float, int, int]:
    """Seconds, peak RSS (KiB) and exit code of one run of `cmd`."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    out = cwd / "time.txt"
    started = time.perf_counter()
    proc = subprocess.run([gnu_time, "-f", "%M", "-o", str(out), *cmd], cwd=cwd,
                          capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return seconds, int(out.read_text().split()[-1]), proc.returncode


def _best(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, int]:
    runs = [_timed(cmd, cwd) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conftest", default=os.environ.get("EDGEGATE_TEST_CONFTEST") or shutil.which("conftest"))
    parser.add_argument("--docs", type=int, nargs="*", default=[2000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--regopy-max", type=int, default=2000, help="regopy is slow: only up to this many")
    args = parser.parse_args()
    if not args.conftest:
        raise SystemExit("conftest not found: --conftest PATH")
    pack = str(ROOT / "rules" / "edge-ai")
    with tempfile.TemporaryDirectory(prefix="edgegate-bench-") as tmp:
        root = Path(tmp)
        (root / "data.json").write_text(json.dumps(DATA), encoding="utf-8")
        (root / "one.yaml").write_text(yaml.safe_dump(_manifest(3)), encoding="utf-8")
        edge = [EDGEGATE, "policy", "lint", "-p", pack, "-d", "data.json", "--no-builtin-schemas", "-f", "json"]
        conf = [args.conftest, "test", "-p", pack, "-d", "data.json", "--no-color", "-o", "json"]
        print("| documents | conftest docs/s | edgegate (OPA) docs/s | edgegate (regopy) docs/s | OPA / conftest | OPA / regopy | peak RSS conftest / OPA run / regopy run |")
        print("|---|---|---|---|---|---|---|")
        for n in args.docs:
            folder = root / f"d{n}"
            _write_docs(folder, n)
            c_s, c_m = _best([*conf, folder.name], root, args.repeat)
            o_s, o_m = _best([*edge, folder.name], root, args.repeat)
            if n <= args.regopy_max:
                r_s, r_m = _best([*edge, "--engine", "regopy", folder.name], root, 1)
                regopy = f"{n / r_s:,.0f}"
                ratio_r = f"{r_s / o_s:.1f}×"
                r_mem = f"{r_m // 1024} MB"
            else:
                regopy, ratio_r, r_mem = "—", "—", "—"
            print(f"| {n:,} | {n / c_s:,.0f} | {n / o_s:,.0f} | {regopy} | {c_s / o_s:.2f}× | {ratio_r} | "
                  f"{c_m // 1024} MB / {o_m // 1024} MB / {r_mem} |")
        one = [[*conf, "one.yaml"], [*edge, "one.yaml"], [*edge, "--engine", "regopy", "one.yaml"],
               [EDGEGATE, "policy", "lint", "-p", "builtin:edge-ai", "one.yaml"]]
        print()
        print("| one manifest, whole process (median of 9) | seconds |")
        print("|---|---|")
        names = ["conftest test", "edgegate policy lint (OPA)", "edgegate policy lint --engine regopy",
                 "edgegate policy lint -p builtin:edge-ai one.yaml (schemas on, text)"]
        for name, cmd in zip(names, one, strict=True):
            times = [_timed(cmd, root)[0] for _ in range(9)]
            print(f"| {name} | {statistics.median(times):.3f} |")


if __name__ == "__main__":
    main()
