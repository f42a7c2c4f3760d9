"""Offline vulnerability matching: build the database from the PyPA advisory data, then match a
1,000-component CycloneDX SBOM. Baseline in the same run: the same scan with the OSV folder as
``--db`` (records parsed on every scan, no prebuilt index).

    .venv/bin/python bench/vuln_bench.py [--components 1000] [--repeat 5] [--source DIR]

Prints a Markdown table; bench/results/vuln.md records a run. Goal: matching < 1 s after build.

Large reports (issue 15): ``--large 10000 [--formats text,json,sarif]`` instead builds a *dense*
SBOM, the N (package, version) pairs the advisories list most often (10,000 pairs: ~108,000
findings), and runs ``edgegate vuln scan --sbom --db -f FMT -o FILE`` as a new process once per
format under ``/usr/bin/time -v``: wall time and peak RSS, with the load average. Baseline in the
same run: the same commands on the dense SBOM of N/4 pairs, so the table shows how time and
memory grow with the number of findings (flat memory: a ratio near 1).
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


def make_dense_sbom(source: Path, n: int, out: Path) -> int:
    """The `n` (package, version) pairs the advisories' ``versions`` lists name most often (ties
    by name and version), as a CycloneDX SBOM: nearly every component is vulnerable many times."""
    import collections

    import yaml

    listed: collections.Counter[tuple[str, str]] = collections.Counter()
    for f in sorted(source.glob("*/*.yaml")):
        rec = yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        for aff in rec.get("affected", []):
            name = str(aff.get("package", {}).get("name", ""))
            for v in aff.get("versions", []):
                listed[(name, str(v))] += 1
    pairs = sorted(listed.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    comps = [{"type": "library", "name": name, "version": version, "bom-ref": f"c{i}",
              "purl": f"pkg:pypi/{name}@{version}"} for i, ((name, version), _) in enumerate(pairs)]
    out.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": comps}))
    return len(comps)


def _loadavg() -> str:
    import os

    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def _timed_process(cmd: list[str], cwd: Path) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds (user + system), peak RSS (MB) and exit code of `cmd` under
    ``/usr/bin/time -v``."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, cwd=cwd, check=False)
    wall = cpu = rss = 0.0
    for line in proc.stderr.splitlines():
        line = line.strip()
        if line.startswith(("User time", "System time")):
            cpu += float(line.rsplit(" ", 1)[1])
        elif line.startswith("Elapsed (wall clock) time"):
            parts = [float(x) for x in line.rsplit(" ", 1)[1].split(":")]
            wall = sum(x * 60 ** i for i, x in enumerate(reversed(parts)))
        elif line.startswith("Maximum resident set size"):
            rss = int(line.rsplit(" ", 1)[1]) / 1024
    return wall, cpu, rss, proc.returncode


def large(args: argparse.Namespace) -> int:
    """Whole-process time and peak RSS of ``vuln scan`` per format on N and N/4 dense components."""
    from edgegate.vuln.db import build_db

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with tempfile.TemporaryDirectory(prefix="edgegate-vuln-large-") as tmp:
        tmpd = Path(tmp)
        db = tmpd / "pypa.db"
        build_db(args.source, db)
        sizes = [max(1, args.large // 4), args.large]
        print(f"dense SBOMs of {sizes[0]} and {sizes[1]} components, PyPA db; one run per cell")
        print()
        print("| components | findings | format | exit | wall (s) | CPU (s) | peak RSS (MB) | report (MB) | load avg 1/5/15 |")
        print("|---:|---:|---|---:|---:|---:|---:|---:|---|")
        for n in sizes:
            sbom = tmpd / f"dense-{n}.cdx.json"
            make_dense_sbom(args.source, n, sbom)
            findings = "?"
            for fmt in formats:
                out = tmpd / f"out-{n}.{fmt}"
                cmd = [sys.executable, "-m", "edgegate", "vuln", "scan", "--sbom", str(sbom), "--db", str(db),
                       "--no-config", "-f", fmt, "-o", str(out)]
                wall, cpu, rss, rc = _timed_process(cmd, tmpd)
                if fmt == "json" and out.exists():
                    doc = json.loads(out.read_text(encoding="utf-8"))
                    findings = str(doc["gates"][0]["stats"].get("vulnerabilities", "?"))
                size = out.stat().st_size / 1e6 if out.exists() else 0.0
                print(f"| {n} | {findings} | {fmt} | {rc} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {size:.1f} | {_loadavg()} |")
                out.unlink(missing_ok=True)
    return 0


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
    ap.add_argument("--large", type=int, default=0, help="dense SBOM of N components, report formats timed")
    ap.add_argument("--formats", default="json,text,sarif")
    args = ap.parse_args()
    if args.large:
        return large(args)

    from edgegate.vuln.db import build_db
    from edgegate.vuln.scan import ScanInput, ScanSettings, scan

    with tempfile.TemporaryDirectory(prefix="edgegate-vuln-bench-") as tmp:
        tmpd = Path(tmp)
        db = tmpd / "pypa.db"
        sbom = tmpd / "bench.cdx.json"
        counts = make_sbom(args.source, args.components, sbom)

        build_s, built = _time(lambda: build_db(args.source, db), 1)
        info = built[0]  # type: ignore[index]

        from edgegate.vuln.osv import _parsed_versions
        from edgegate.vuln.versions import parse

        inputs = [ScanInput("sbom", sbom, "bench.cdx.json")]

        def cold_scan():  # type: ignore[no-untyped-def]
            parse.cache_clear()  # no version parsed by an earlier run: every run starts cold
            _parsed_versions.cache_clear()
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
