"""Memory and time limits for the Rego engine processes (a rule such as
``numbers.range(1, 100000000)`` must not take the machine down with it)."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from edgegate.errors import InputError

DEFAULT_TIMEOUT = 120.0
DEFAULT_MEMORY_MB = 4096


@dataclass(frozen=True)
class Limits:
    """Limits of one engine process; from ``EDGEGATE_POLICY_TIMEOUT`` (seconds) and
    ``EDGEGATE_POLICY_MEMORY_MB`` when not given."""

    timeout: float = DEFAULT_TIMEOUT
    memory_mb: int = DEFAULT_MEMORY_MB

    @classmethod
    def from_env(cls) -> Limits:
        return cls(_number("EDGEGATE_POLICY_TIMEOUT", DEFAULT_TIMEOUT),
                   int(_number("EDGEGATE_POLICY_MEMORY_MB", DEFAULT_MEMORY_MB)))


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{name}={raw!r} is not a number") from None
    if not value > 0:
        raise InputError(f"{name}={raw!r} must be a positive number")
    return value


class LimitExceeded(Exception):
    """The child hit a limit: ``what`` is ``"time"`` or ``"memory"``."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _address_space(memory_mb: int) -> Any:
    def apply() -> None:
        import resource

        size = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return apply


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass(frozen=True)
class Command:
    """One child process of `run_limited_many`: its argv and where its output goes."""

    argv: Sequence[str]
    stdout: IO[bytes]
    stderr: IO[bytes]
    stdin: IO[bytes] | int = subprocess.DEVNULL


def run_limited(
    argv: Sequence[str], *, stdin: IO[bytes] | int, stdout: IO[bytes], stderr: IO[bytes],
    limits: Limits, address_space: bool, cwd: str | None = None, env: dict[str, str] | None = None,
) -> int:
    """Run `argv` to its end under `limits`; its exit code. `address_space`: cap it with
    RLIMIT_AS (Go copes); else watch its resident size (allocators that reserve huge address
    ranges, such as regopy's snmalloc, cannot start under RLIMIT_AS)."""
    return run_limited_many([Command(argv, stdout, stderr, stdin)], limits=limits,
                            address_space=address_space, parallel=1, cwd=cwd, env=env)[0]


def run_limited_many(
    commands: Sequence[Command], *, limits: Limits, address_space: bool, parallel: int,
    cwd: str | None = None, env: dict[str, str] | None = None,
) -> list[int]:
    """Run every command to its end, at most `parallel` at a time, each under `limits` (its time
    limit counted from its own start); the exit codes in order. Raises `LimitExceeded` (and
    kills every child still running) when one hits a limit. The children are started from the
    calling thread: a ``preexec_fn`` is not safe with threads."""
    limit = limits.memory_mb * 1024 * 1024
    preexec = _address_space(limits.memory_mb) if address_space else None
    codes: list[int] = [0] * len(commands)
    running: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
    pending = 0
    try:
        while pending < len(commands) or running:
            while pending < len(commands) and len(running) < max(1, parallel):
                c = commands[pending]
                proc = subprocess.Popen(list(c.argv), stdin=c.stdin, stdout=c.stdout, stderr=c.stderr,
                                        cwd=cwd, env=env, preexec_fn=preexec)
                running[pending] = (proc, time.monotonic() + limits.timeout)
                pending += 1
            _await_exit([proc for proc, _ in running.values()], 0.02 if address_space else 0.05)
            for index, (proc, deadline) in list(running.items()):
                code = proc.poll()
                if code is None:
                    if time.monotonic() > deadline:
                        raise LimitExceeded("time")
                    if not address_space and _rss_bytes(proc.pid) > limit:
                        raise LimitExceeded("memory")
                    continue
                codes[index] = code
                del running[index]
        return codes
    finally:
        for proc, _ in running.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _await_exit(procs: Sequence[subprocess.Popen[bytes]], timeout: float) -> None:
    """Return when one of `procs` has ended or after `timeout` seconds: woken by the kernel
    through pidfds where Linux has them (no polling delay after a child's exit), else a short
    sleep."""
    fds: list[int] = []
    try:
        for proc in procs:
            if proc.poll() is not None:
                return
            fds.append(os.pidfd_open(proc.pid))
        poller = select.poll()  # not select.select: it refuses fds >= 1024
        for fd in fds:
            poller.register(fd, select.POLLIN)
        poller.poll(timeout * 1000)
    except (AttributeError, OSError):
        time.sleep(min(timeout, 0.002))
    finally:
        for fd in fds:
            os.close(fd)
