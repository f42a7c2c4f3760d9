"""`edgegate admit` throughput: 200 manifests naming 20 signed images on a local registry
(Debian's docker-registry on 127.0.0.1, started here), in the same run:

- edgegate admit, default (each reference resolved and each digest verified once, 8 in parallel);
- edgegate admit with --jobs 1 (the same, sequential): the registry's share of the time is
  measured here, as the time spent inside registry requests over the whole run;
- a naive baseline: the same library calls once per manifest line, no de-duplication;
- the peer: `cosign verify --key` once per distinct image (when cosign is found).

    .venv/bin/python bench/admit_bench.py [--manifests 200] [--images 20] [--repeat 3]

Prints a Markdown table; bench/results/admit.md records a run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PASSWORD = "bench-passphrase"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _registry(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("docker-registry")
    if exe is None:
        sys.exit("docker-registry is not installed (apt-get install docker-registry)")
    port = _port()
    cfg = root / "config.yml"
    cfg.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen([exe, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://{host}/v2/", timeout=1).close()
            return proc, host
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    sys.exit("registry did not start")


def _image(client: object, label: str) -> None:
    from edgegate.admit.oci import OciClient

    assert isinstance(client, OciClient)
    layer = label.encode() * 64
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": client.push_blob(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": client.push_blob(layer),
                    "size": len(layer)}],
    }).encode()
    client.push_manifest("1.0", manifest, "application/vnd.oci.image.manifest.v1+json")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifests", type=int, default=200)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from edgegate.admit import oci
    from edgegate.admit.oci import OciClient
    from edgegate.admit.policy import ImagePolicy
    from edgegate.admit.refs import collect_images, load_manifest_documents
    from edgegate.admit.sign import sign_image
    from edgegate.admit.verify import AdmitOptions, admit, resolve, verify_image
    from edgegate.sbom.registry import parse_reference
    from edgegate.sign.keys import generate_keypair, load_private_key

    tmp = Path(tempfile.mkdtemp(prefix="edgegate-admit-bench-"))
    proc, host = _registry(tmp)
    try:
        generate_keypair(tmp / "k.key", tmp / "k.pub", PASSWORD.encode())
        key = load_private_key(tmp / "k.key", PASSWORD.encode())
        refs = [f"{host}/bench/app-{i:02d}:1.0" for i in range(args.images)]
        for i, ref in enumerate(refs):
            client = OciClient(parse_reference(ref), insecure=True)
            _image(client, f"image {i}")
            sign_image(ref, key, insecure=True)
        mdir = tmp / "manifests"
        mdir.mkdir()
        for n in range(args.manifests):
            (mdir / f"d{n:03d}.yaml").write_text(
                f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{n}}}\nspec:\n  template:\n    spec:\n"
                f"      containers:\n        - name: app\n          image: {refs[n % len(refs)]}\n"
            )
        policy = ImagePolicy("bench", ("**",), keys=(str(tmp / "k.pub"),))

        http = [0.0]
        real_call = OciClient.call

        def timed_call(self: OciClient, *a: object, **k: object) -> object:
            t = time.perf_counter()
            try:
                return real_call(self, *a, **k)  # type: ignore[arg-type]
            finally:
                http[0] += time.perf_counter() - t

        OciClient.call = timed_call  # type: ignore[method-assign]

        def run_admit(jobs: int) -> float:
            t = time.perf_counter()
            r = admit([mdir], AdmitOptions(policies=[policy], insecure=True, jobs=jobs))
            assert r.stats["admitted"] == args.manifests, r.stats
            return time.perf_counter() - t

        def run_naive() -> float:
            t = time.perf_counter()
            uses = collect_images(load_manifest_documents([mdir]))
            opts = AdmitOptions(policies=[policy], insecure=True)
            for use in uses:
                source = oci.RegistrySource(insecure=True)  # nothing shared between lines
                res = resolve(source, parse_reference(use.image), "linux/amd64")
                assert verify_image(source, res, policy, opts).failure is None
            return time.perf_counter() - t

        cosign = os.environ.get("EDGEGATE_COSIGN") or shutil.which("cosign")

        def run_cosign() -> float:
            assert cosign
            t = time.perf_counter()
            for ref in refs:
                subprocess.run([cosign, "verify", "--key", str(tmp / "k.pub"), "--insecure-ignore-tlog=true",
                                "--allow-http-registry", ref], check=True, capture_output=True,
                               env={**os.environ, "HOME": str(tmp)})
            return time.perf_counter() - t

        rows = []
        for name, fn in [("edgegate admit (jobs 8)", lambda: run_admit(8)),
                         ("edgegate admit (jobs 1)", lambda: run_admit(1)),
                         ("naive: every line resolved and verified", run_naive),
                         *([("cosign verify per image", run_cosign)] if cosign else [])]:
            times, shares = [], []
            for _ in range(args.repeat):
                http[0] = 0.0
                s = fn()
                times.append(s)
                shares.append(http[0] / s)
            med = statistics.median(times)
            share = statistics.median(shares) if "jobs 8" not in name and "cosign" not in name else None
            rows.append((name, med, args.images / med, args.manifests / med, share))
        base = rows[0][1]
        print(f"{args.manifests} manifests naming {args.images} signed images, local registry, "
              f"median of {args.repeat} (2 shared cores, other work running: noisy)\n")
        print("| run | seconds | images/s | manifest lines/s | time in registry requests | × edgegate (jobs 8) |")
        print("|---|---|---|---|---|---|")
        for name, med, ips, lps, share in rows:
            sh = f"{share:.0%}" if share is not None else "—"
            print(f"| {name} | {med:.2f} | {ips:.0f} | {lps:.0f} | {sh} | {med / base:.1f} |")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
