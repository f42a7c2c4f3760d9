"""Reporter speed on many findings: each format's render time against a baseline in the same run.

    .venv/bin/python bench/report_render.py [--findings 10000] [--runs 5]

Baseline: ``json.dumps`` of every ``GateResult.to_dict()`` (the least work any report can do).
The findings are spread over 40 files, 500 rule ids, every severity, a fifth non-blocking, with
locations and pointers; the numbers are medians over ``--runs``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.report import FORMATS, ReportContext, render


def _results(n: int) -> list[GateResult]:
    severities = list(Severity)
    findings = [
        Finding(
            "vuln",
            f"CVE-2024-{i % 500:04d}",
            severities[i % 5],
            f"package pkg{i} 1.0.{i % 9} is affected by CVE-2024-{i % 500:04d}; fixed in 1.{i % 7}",
            Location(f"services/s{i % 40}/requirements.txt", i % 300 + 1, 1, f"/packages/{i}"),
            title=f"Advisory {i % 500}",
            blocking=i % 5 != 4,
        )
        for i in range(n)
    ]
    table = {"title": "per service", "columns": ["service", "findings"], "rows": [[f"s{i}", n // 40] for i in range(40)]}
    return [GateResult.decide("vuln", findings, stats={"tables": [table]})]


def _median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results = _results(args.findings)
    ctx = ReportContext(command="edgegate check", root=Path.cwd())
    base = _median(lambda: json.dumps([r.to_dict() for r in results]), args.runs)
    print(f"{args.findings} findings, median of {args.runs}")
    print(f"{'baseline json.dumps':<22} {base * 1000:8.1f} ms   1.0x")
    for fmt in FORMATS:
        t = _median(lambda fmt=fmt: render(fmt, results, ctx), args.runs)  # type: ignore[misc]
        print(f"{fmt:<22} {t * 1000:8.1f} ms {t / base:6.1f}x  ({args.findings / t:,.0f} findings/s)")


if __name__ == "__main__":
    main()
