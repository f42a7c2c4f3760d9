"""Signing throughput for a model directory: edgegate vs model-signing vs single-thread hashlib,
and incremental re-signing after a one-file change vs a full sign. All in the same run, page
cache warm (every file is read once before timing), key mode (no network).

    .venv/bin/python bench/sign_bench.py [--files 4] [--size-mb 512] [--repeat 3] [--keep]

Prints a Markdown table; bench/results/sign.md records a run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PASSWORD = b"bench-passphrase"


def _make_model(root: Path, files: int, size: int) -> Path:
    model = root / "model"
    model.mkdir()
    chunk = 8 * 1024 * 1024
    for i in range(files):
        with (model / f"model-{i:05d}-of-{files:05d}.safetensors").open("wb") as fh:
            left = size
            while left:
                n = min(chunk, left)
                fh.write(os.urandom(n))
                left -= n
    (model / "config.json").write_text('{"architectures": ["Bench"], "hidden_size": 4096}\n')
    (model / "tokenizer.json").write_text('{"version": "1.0"}\n')
    return model


def _warm(model: Path) -> None:
    for p in model.rglob("*"):
        if p.is_file():
            with p.open("rb") as fh:
                while fh.read(16 * 1024 * 1024):
                    pass


def _time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _hashlib_single(model: Path) -> None:
    buf = bytearray(4 * 1024 * 1024)
    view = memoryview(buf)
    for p in sorted(model.rglob("*")):
        if p.is_file():
            h = hashlib.sha256()
            with p.open("rb", buffering=0) as fh:
                while n := fh.readinto(view):
                    h.update(view[:n])
            h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--size-mb", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the generated model under /tmp")
    args = ap.parse_args()

    import model_signing

    from edgegate.sign.keys import generate_keypair, load_private_key
    from edgegate.sign.model import sign_model

    tmp = Path(tempfile.mkdtemp(prefix="edgegate-sign-bench-", dir="/tmp"))
    try:
        size = args.size_mb * 1024 * 1024
        t = time.perf_counter()
        model = _make_model(tmp, args.files, size)
        gen = time.perf_counter() - t
        total = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
        priv, pub = tmp / "k.pem", tmp / "k.pub"
        generate_keypair(priv, pub, PASSWORD)
        key = load_private_key(priv, PASSWORD)
        os.sync()  # no writeback of the fresh files competing with the timed runs
        _warm(model)
        time.sleep(0.1)  # past the racy-timestamp window, as any real model is

        sig = tmp / "edgegate.sig"
        ms_sig = tmp / "ms.sig"
        ms_config = model_signing.signing.Config().use_elliptic_key_signer(private_key=priv, password=PASSWORD)

        results: dict[str, float] = {}
        # interleave the contenders so background load hits them alike
        for name, fn in [
            ("hashlib", lambda: _hashlib_single(model)),
            ("model-signing", lambda: ms_config.sign(model, ms_sig)),
            ("edgegate", lambda: sign_model(model, sig, key=key, progress=False)),
        ]:
            results[name] = _time(fn, args.repeat)

        # incremental: change one small file, re-sign --since the previous signature
        inc_times = []
        for i in range(args.repeat):
            full_sig = tmp / f"full-{i}.sig"
            sign_model(model, full_sig, key=key, progress=False)
            (model / "config.json").write_text(f'{{"architectures": ["Bench"], "hidden_size": {4096 + i + 1}}}\n')
            time.sleep(0.06)
            t = time.perf_counter()
            out = sign_model(model, tmp / f"inc-{i}.sig", key=key, since=full_sig, progress=False)
            inc_times.append(time.perf_counter() - t)
            assert out.hashed_files == 1, out
        inc = statistics.median(inc_times)
        # the incremental result verifies with model-signing
        last = args.repeat - 1
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(
            model, tmp / f"inc-{last}.sig"
        )

        gib = total / 1024**3
        print(f"# edgegate sign benchmark: {args.files} x {args.size_mb} MB random files "
              f"({gib:.2f} GiB), {os.cpu_count()} CPUs, median of {args.repeat}, page cache warm")
        print(f"(generated in {gen:.1f} s)\n")
        print("| contender | seconds | GiB/s | edgegate speed-up |")
        print("|---|---:|---:|---:|")
        for name in ("hashlib", "model-signing", "edgegate"):
            s = results[name]
            print(f"| {name} | {s:.3f} | {gib / s:.2f} | {s / results['edgegate']:.2f}x |")
        full = results["edgegate"]
        print(f"| edgegate incremental (1 small file changed) | {inc:.4f} | — | {full / inc:.0f}x vs full sign |")
        print()
        print(f"edgegate vs model-signing: {results['model-signing'] / full:.2f}x (goal >= 1.0x)")
        print(f"edgegate vs single-thread hashlib: {results['hashlib'] / full:.2f}x (goal >= 1.6x)")
        print(f"incremental vs full edgegate sign: {full / inc:.0f}x (goal >= 50x)")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
