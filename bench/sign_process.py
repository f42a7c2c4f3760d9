"""Whole-process signing times (what a CI step pays): `edgegate sign` as a command, start-up
included, against a baseline in the same run.

1. a 1-byte file, key mode: edgegate vs `python -c pass` and `edgegate --help`;
2. a 2 GiB model (4 x 512 MB): full sign vs `--since` after one small change;
3. 5,000 small files: `edgegate sign` vs the `model_signing sign key` command.

    .venv/bin/python bench/sign_process.py [--repeat 5] [--size-mb 512] [--small 5000]

Contenders are interleaved so background load hits them alike; medians of wall time and of
CPU time (user + system of the child: less sensitive to other work on the machine) are printed
as Markdown tables with the load average (bench/results/sign.md records runs). edgegate's modules
are byte-compiled first, as a wheel install does.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
PASSWORD = "bench-passphrase"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run."""
    c, t = _cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took, cpu = time.perf_counter() - t, _cpu() - c
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return took, cpu


def _median(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _medians(
    contenders: dict[str, list[str]], env: dict[str, str], repeat: int
) -> dict[str, tuple[float, float]]:
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in contenders}
    for _ in range(repeat):
        for name, cmd in contenders.items():
            times[name].append(_run(cmd, env))
    return {k: _median(v) for k, v in times.items()}


def _load() -> str:
    return "load average " + ", ".join(f"{x:.1f}" for x in os.getloadavg())


def _compile_edgegate() -> None:
    """Byte-compile edgegate as a wheel install does: an editable install run with
    PYTHONDONTWRITEBYTECODE=1 (as on the project machine) compiles ~40 modules on every run."""
    import edgegate

    compileall.compile_dir(str(Path(edgegate.__file__).parent), quiet=1)


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
    _compile_edgegate()
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
        print(f"({_load()})\n")
        r1 = _medians(
            {
                "python -c pass": [sys.executable, "-c", "pass"],
                "edgegate --help": [edgegate, "--help"],
                "edgegate sign 1-byte file": [edgegate, "sign", str(one), "--key", str(key)],
                "edgegate verify 1-byte file": [edgegate, "verify", str(one), "--key", str(pub)],
            },
            env,
            args.repeat,
        )
        print("| 1-byte file | wall s | CPU s |\n|---|---:|---:|")
        for k, (w, c) in r1.items():
            print(f"| {k} | {w:.3f} | {c:.3f} |")
        print(f"\n({_load()}; goal: sign <= 0.3 s wall: {'met' if r1['edgegate sign 1-byte file'][0] <= 0.3 else 'not met'})")

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
        (fw, fc), (sw, sc) = _median(full), _median(inc)
        gib = 4 * args.size_mb / 1024
        print(f"\n| {gib:.0f} GiB model | wall s | CPU s |\n|---|---:|---:|")
        print(f"| full sign | {fw:.3f} | {fc:.3f} |\n| --since after one small change | {sw:.3f} | {sc:.3f} |")
        print(f"| ratio full / --since | {fw / sw:.1f}x | {fc / sc:.1f}x |")
        print(f"\n({_load()}; goal: >= 20x wall: {'met' if fw / sw >= 20 else 'not met'})")
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
        print(f"\n| {args.small} files of 1 KiB | wall s | CPU s |\n|---|---:|---:|")
        for k, (w, c) in r3.items():
            print(f"| {k} | {w:.3f} | {c:.3f} |")
        ms, eg = r3["model_signing sign key"], r3["edgegate sign"]
        print(f"| edgegate speed-up | {ms[0] / eg[0]:.2f}x | {ms[1] / eg[1]:.2f}x |")
        print(f"\n({_load()}; goal: >= 1.0x wall: {'met' if ms[0] / eg[0] >= 1.0 else 'not met'})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
