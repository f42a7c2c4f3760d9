"""Policy engines, whole process, same files and rules, same run: `edgegate policy lint` on OPA
(the default) against the real conftest and against edgegate's regopy fallback; N generated
Deployments (100 per multi-document YAML file) with the shipped pack and with a public library
(redhat-cop/rego-policies, used in place from its fetched repository: its `policy/` folder is
exported to the run's temp dir), and one manifest for start-up. Peak memory from GNU time
(``%M``: the largest single process of the run). Each row checks that edgegate and conftest
report the same failure messages (as multisets) and prints the load average.

    .venv/bin/python bench/policy_engines.py --conftest PATH [--docs 2000 10000] [--repeat 1]
        [--library DIR_OR_GIT_DIR] [--only pack|library]
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
from collections import Counter
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from policy_throughput import _manifest

ROOT = Path(__file__).resolve().parents[1]
EDGEGATE = str(Path(sys.executable).with_name("edgegate"))
DATA = {"edgegate": {"org": "example.com", "allowed_registries": ["registry.example.com"]}}
LIBRARY = Path("/work/.mirror/redhat-cop+rego-policies/repo")


def _write_docs(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    for start in range(0, n, 100):
        docs = [_manifest(i) for i in range(start, min(n, start + 100))]
        (folder / f"m{start:06d}.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")


def _library(source: Path, root: Path) -> Path:
    """The library's policy folder: `source`/policy, or exported from a bare git repository."""
    if (source / "policy").is_dir():
        return source / "policy"
    out = root / "library"
    out.mkdir()
    archive = subprocess.run(["git", "--git-dir", str(source), "archive", "HEAD", "policy"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out / "policy"


def _timed(cmd: list[str], cwd: Path) -> tuple[float, int, int, bytes]:
    """Seconds, peak RSS (KiB), exit code and stdout of one run of `cmd`."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    out = cwd / "time.txt"
    started = time.perf_counter()
    proc = subprocess.run([gnu_time, "-f", "%M", "-o", str(out), *cmd], cwd=cwd,
                          capture_output=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1, 2):
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return seconds, int(out.read_text().split()[-1]), proc.returncode, proc.stdout


def _best(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, int, int, bytes]:
    runs = [_timed(cmd, cwd) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[0][2], runs[0][3]


def _conftest_failures(out: bytes) -> Counter[str]:
    return Counter(m["msg"] for r in json.loads(out) for m in r.get("failures") or [])


def _edgegate_failures(out: bytes) -> Counter[str]:
    # one finding per fact in the report: the others are under details.also_reported_by
    gate = json.loads(out)["gates"][0]
    shown = [*gate["findings"]]
    for f in gate["findings"]:
        shown += [r for r in f["details"].get("also_reported_by", []) if r.get("gate") == gate["gate"]]
    return Counter(f["message"] for f in shown
                   if not (f.get("rule") or f["details"]["rule"]).startswith("warn"))


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conftest", default=os.environ.get("EDGEGATE_TEST_CONFTEST") or shutil.which("conftest"))
    parser.add_argument("--docs", type=int, nargs="*", default=[2000, 10000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--regopy-max", type=int, default=2000, help="regopy is slow: only up to this many")
    parser.add_argument("--library", type=Path, default=LIBRARY, help="redhat-cop/rego-policies (folder or git dir)")
    parser.add_argument("--only", choices=["pack", "library"], default=None)
    parser.add_argument("--no-one", action="store_true", help="skip the one-manifest table")
    args = parser.parse_args()
    if not args.conftest:
        raise SystemExit("conftest not found: --conftest PATH")
    with tempfile.TemporaryDirectory(prefix="edgegate-bench-") as tmp:
        root = Path(tmp)
        (root / "data.json").write_text(json.dumps(DATA), encoding="utf-8")
        (root / "one.yaml").write_text(yaml.safe_dump(_manifest(3)), encoding="utf-8")
        pack = str(ROOT / "rules" / "edge-ai")
        sets = []
        if args.only in (None, "pack"):
            sets.append(("shipped pack", ["-p", pack, "-d", "data.json"]))
        if args.only in (None, "library") and args.library.exists():
            lib = str(_library(args.library, root))
            sets.append(("redhat-cop/rego-policies", ["-p", lib, "--rego-version", "v0", "--all-namespaces"]))
        print("| rules | documents | conftest docs/s | edgegate (OPA) docs/s | edgegate (regopy) docs/s | "
              "OPA / conftest | OPA / regopy | same failures as conftest | peak RSS conftest / OPA run / regopy run | load average |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for name, rules in sets:
            edge = [EDGEGATE, "policy", "lint", *rules, "--no-builtin-schemas", "-f", "json"]
            conf = [args.conftest, "test", *rules, "--no-color", "-o", "json"]
            for n in args.docs:
                folder = root / f"d{n}"
                if not folder.exists():
                    _write_docs(folder, n)
                load = _load()
                c_s, c_m, _, c_out = _best([*conf, folder.name], root, args.repeat)
                o_s, o_m, o_code, o_out = _best([*edge, folder.name], root, args.repeat)
                if o_code == 2:
                    raise SystemExit(f"edgegate exit 2 on {name}: {o_out[-300:]!r}")
                same = "yes" if _conftest_failures(c_out) == _edgegate_failures(o_out) else "NO"
                regopy, ratio_r, r_mem = "—", "—", "—"
                if n <= args.regopy_max:
                    r_s, r_m, r_code, _ = _best([*edge, "--engine", "regopy", folder.name], root, 1)
                    if r_code == 2:
                        regopy = "refused (exit 2)"
                    else:
                        regopy, ratio_r, r_mem = f"{n / r_s:,.0f}", f"{r_s / o_s:.1f}×", f"{r_m // 1024} MB"
                print(f"| {name} | {n:,} | {n / c_s:,.0f} | {n / o_s:,.0f} | {regopy} | {c_s / o_s:.2f}× | "
                      f"{ratio_r} | {same} | {c_m // 1024} MB / {o_m // 1024} MB / {r_mem} | {load} → {_load()} |",
                      flush=True)
        if args.no_one or args.only == "library":
            return
        edge = [EDGEGATE, "policy", "lint", "-p", pack, "-d", "data.json", "--no-builtin-schemas", "-f", "json"]
        conf = [args.conftest, "test", "-p", pack, "-d", "data.json", "--no-color", "-o", "json"]
        one = [[*conf, "one.yaml"], [*edge, "one.yaml"], [*edge, "--engine", "regopy", "one.yaml"],
               [EDGEGATE, "policy", "lint", "-p", "builtin:edge-ai", "one.yaml"]]
        print()
        print(f"| one manifest, whole process (median of 9; load average {_load()}) | seconds |")
        print("|---|---|")
        names = ["conftest test", "edgegate policy lint (OPA)", "edgegate policy lint --engine regopy",
                 "edgegate policy lint -p builtin:edge-ai one.yaml (schemas on, text)"]
        for label, cmd in zip(names, one, strict=True):
            times = [_timed(cmd, root)[0] for _ in range(9)]
            print(f"| {label} | {statistics.median(times):.3f} |", flush=True)
        print(f"(load average after: {_load()})")


if __name__ == "__main__":
    main()
