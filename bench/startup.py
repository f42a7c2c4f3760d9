"""`edgegate --help` wall time against `pip-audit --help`, in the same run (median of N).

    .venv/bin/python bench/startup.py [--runs 15]

edgegate's modules are byte-compiled first, as a wheel install does (an editable install run
with PYTHONDONTWRITEBYTECODE=1, as on the project machine, compiles them on every run).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _median_seconds(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    edgegate = shutil.which("edgegate", path=str(bindir)) or "edgegate"
    pip_audit = shutil.which("pip-audit", path=str(bindir)) or "pip-audit"
    python = [sys.executable, "-c", "pass"]
    spec = importlib.util.find_spec("edgegate")
    assert spec is not None and spec.origin is not None
    compileall.compile_dir(str(Path(spec.origin).parent), quiet=1)
    for cmd in ([edgegate, "--help"], [pip_audit, "--help"], python):  # warm the page cache
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    eg = _median_seconds([edgegate, "--help"], args.runs)
    pa = _median_seconds([pip_audit, "--help"], args.runs)
    py = _median_seconds(python, args.runs)
    print(f"python -c pass      {py * 1000:7.1f} ms")
    print(f"edgegate --help     {eg * 1000:7.1f} ms")
    print(f"pip-audit --help    {pa * 1000:7.1f} ms")
    print(f"ratio edgegate / pip-audit: {eg / pa:.2f}")
    print("load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
