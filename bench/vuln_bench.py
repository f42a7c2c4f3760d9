"""Offline vulnerability matching: build the database from the PyPA advisory data, then match a
1,000-component CycloneDX SBOM. Baseline in the same run: the same scan with the OSV folder as
``--db`` (records parsed on every scan, no prebuilt index).

    .venv/bin/python bench/vuln_bench.py [--components 1000] [--repeat 5] [--source DIR]

Prints a Markdown table; bench/results/vuln.md records a run. Goal: matching < 1 s after build.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "osv" / "pypa-advisory-database" / "vulns"


def make_sbom(source: Path, n: int, out: Path) -> dict[str, int]:
    """A deterministic SBOM: every PyPA package once (a version from an advisory's `versions`
    list half the time, else a far-future clean version), then PyPI packages the data has no
    advisories for (clean lookups), up to `n` components."""
    import yaml

    rng = random.Random(42)
    comps: list[dict[str, str]] = []
    for pkg_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        versions: list[str] = []
        for f in sorted(pkg_dir.glob("*.yaml"))[:3]:
            rec = yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
            for aff in rec.get("affected", []):
                versions += [str(v) for v in aff.get("versions", [])]
        version = rng.choice(versions) if versions and rng.random() < 0.5 else "999.0"
        comps.append({"type": "library", "name": pkg_dir.name, "version": version,
                      "purl": f"pkg:pypi/{pkg_dir.name}@{version}"})
        if len(comps) >= n:
            break
    i = 0
    while len(comps) < n:  # PyPI packages without advisories: clean lookups through the index
        comps.append({"type": "library", "name": f"bench-pkg-{i}", "version": f"1.{i % 7}.0",
                      "purl": f"pkg:pypi/bench-pkg-{i}@1.{i % 7}.0"})
        i += 1
    out.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": comps}))
    return {"pypi": sum(c["purl"].startswith("pkg:pypi") for c in comps), "total": len(comps)}


def _time(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--components", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    args = ap.parse_args()

    from edgegate.vuln.db import build_db
    from edgegate.vuln.scan import ScanInput, ScanSettings, scan

    with tempfile.TemporaryDirectory(prefix="edgegate-vuln-bench-") as tmp:
        tmpd = Path(tmp)
        db = tmpd / "pypa.db"
        sbom = tmpd / "bench.cdx.json"
        counts = make_sbom(args.source, args.components, sbom)

        build_s, built = _time(lambda: build_db(args.source, db), 1)
        info = built[0]  # type: ignore[index]

        from edgegate.vuln.versions import parse

        inputs = [ScanInput("sbom", sbom, "bench.cdx.json")]

        def cold_scan():  # type: ignore[no-untyped-def]
            parse.cache_clear()  # no version parsed by an earlier run: every run starts cold
            return scan(inputs, ScanSettings(db=db))

        scan_s, result = _time(cold_scan, args.repeat)
        base_s, base = _time(lambda: scan(inputs, ScanSettings(db=args.source)), max(1, args.repeat // 2))
        same = sorted((f.rule_id, f.message) for f in result.findings) == sorted(  # type: ignore[union-attr]
            (f.rule_id, f.message) for f in base.findings)  # type: ignore[union-attr]

        def cli() -> int:
            proc = subprocess.run(
                [sys.executable, "-m", "edgegate", "vuln", "scan", "--sbom", str(sbom), "--db", str(db),
                 "--no-config", "-f", "json", "-o", str(tmpd / "out.json")],
                capture_output=True, cwd=tmpd, check=False,
            )
            return proc.returncode

        cli_s, rc = _time(cli, 3)
        st = result.stats  # type: ignore[union-attr]
        print(f"advisories in db: {info.advisories}, db size: {db.stat().st_size / 1e6:.2f} MB")
        print(f"SBOM: {counts['total']} components ({counts['pypi']} PyPI); vulnerable components: "
              f"{st['vulnerable_components']}, findings: {st['vulnerabilities']}; same findings as baseline: {same}")
        print()
        print("| step | seconds | vs baseline |")
        print("|---|---:|---:|")
        print(f"| build db from {info.files} OSV YAML files | {build_s:.3f} | |")
        print(f"| scan, prebuilt sqlite db (in-process, median of {args.repeat}) | {scan_s:.3f} | "
              f"{base_s / scan_s:.1f}x faster |")
        print(f"| baseline: scan with the OSV folder as --db (median of {max(1, args.repeat // 2)}) | {base_s:.3f} | 1.0x |")
        print(f"| `edgegate vuln scan --sbom --db` as a new process (median of 3, exit {rc}) | {cli_s:.3f} | |")
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
