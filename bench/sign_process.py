"""Whole-process signing times (what a CI step pays): `edgegate sign` as a command, start-up
included, against a baseline in the same run.

1. a 1-byte file, key mode: edgegate vs `python -c pass` and `edgegate --help`;
2. a 2 GiB model (4 x 512 MB): full sign vs `--since` after one small change;
3. 5,000 small files: `edgegate sign` vs the `model_signing sign key` command.

    .venv/bin/python bench/sign_process.py [--repeat 5] [--size-mb 512] [--small 5000]

Contenders are interleaved so background load hits them alike; medians are printed as a
Markdown table (bench/results/sign.md records runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PASSWORD = "bench-passphrase"


def _run(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return took


def _medians(contenders: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeat):
        for name, cmd in contenders.items():
            times[name].append(_run(cmd, env))
    return {k: statistics.median(v) for k, v in times.items()}


def _write_random(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        left = size
        while left:
            n = min(8 << 20, left)
            fh.write(os.urandom(n))
            left -= n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size-mb", type=int, default=512)
    ap.add_argument("--small", type=int, default=5000)
    args = ap.parse_args()
    edgegate = str(BIN / "edgegate")
    env = {**os.environ, "EDGEGATE_KEY_PASSWORD": PASSWORD}
    tmp = Path(tempfile.mkdtemp(prefix="edgegate-sign-process-", dir="/tmp"))
    try:
        key, pub = tmp / "k.pem", tmp / "k.pub"
        _run([edgegate, "sign", "keygen", "--private", str(key), "--public", str(pub)], env)
        plain_key = tmp / "plain.pem"  # model_signing's CLI takes an unencrypted key here
        subprocess.run(
            ["openssl", "ec", "-in", str(key), "-out", str(plain_key), "-passin", f"pass:{PASSWORD}"],
            check=True,
            capture_output=True,
        )
        one = tmp / "one.bin"
        one.write_bytes(b"x")

        print(f"# whole-process signing, {os.cpu_count()} CPUs shared with other work, median of {args.repeat}\n")
        r1 = _medians(
            {
                "python -c pass": [sys.executable, "-c", "pass"],
                "edgegate --help": [edgegate, "--help"],
                "edgegate sign 1-byte file": [edgegate, "sign", str(one), "--key", str(key)],
            },
            env,
            args.repeat,
        )
        print("| 1-byte file | seconds |\n|---|---:|")
        for k, v in r1.items():
            print(f"| {k} | {v:.3f} |")

        model = tmp / "model"
        model.mkdir()
        for i in range(4):
            _write_random(model / f"model-{i:05d}-of-00004.safetensors", args.size_mb << 20)
        (model / "config.json").write_text('{"hidden_size": 4096}\n')
        os.sync()
        time.sleep(0.1)
        full, inc = [], []
        for i in range(args.repeat):
            sig = tmp / f"full-{i}.sig"
            full.append(_run([edgegate, "sign", str(model), "--key", str(key), "-b", str(sig)], env))
            (model / "config.json").write_text(f'{{"hidden_size": {4097 + i}}}\n')
            time.sleep(0.06)
            inc.append(
                _run([edgegate, "sign", str(model), "--key", str(key), "-b", str(tmp / f"inc-{i}.sig"),
                      "--since", str(sig)], env)
            )
        f, s = statistics.median(full), statistics.median(inc)
        gib = 4 * args.size_mb / 1024
        print(f"\n| {gib:.0f} GiB model | seconds |\n|---|---:|")
        print(f"| full sign | {f:.3f} |\n| --since after one small change | {s:.3f} |")
        print(f"| ratio full / --since | {f / s:.1f}x |")
        shutil.rmtree(model)

        small = tmp / "small"
        for i in range(args.small):
            d = small / f"d{i // 500:02d}"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"f{i:05d}.bin").write_bytes(os.urandom(1024))
        r3 = _medians(
            {
                "model_signing sign key": [str(BIN / "model_signing"), "sign", "key", str(small),
                                           "--private_key", str(plain_key), "--signature", str(tmp / "ms.sig")],
                "edgegate sign": [edgegate, "sign", str(small), "--key", str(key), "-b", str(tmp / "eg.sig")],
            },
            env,
            args.repeat,
        )
        print(f"\n| {args.small} files of 1 KiB | seconds |\n|---|---:|")
        for k, v in r3.items():
            print(f"| {k} | {v:.3f} |")
        print(f"| edgegate speed-up | {r3['model_signing sign key'] / r3['edgegate sign']:.2f}x |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
