"""The engine process runner (`edgegate.policy._limits`) with many descriptors open."""

from __future__ import annotations

import os
import resource

import pytest

from edgegate.policy._limits import LimitExceeded, Limits, run_limited


def test_child_wait_works_with_descriptors_above_1024() -> None:
    """A process that embeds edgegate may hold over 1,024 descriptors: the child's exit is still
    awaited (select.select refuses such fds; the runner polls them), and the time limit holds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip("the hard descriptor limit is below 2,048")
    resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert _run(["true"], timeout=5) == 0
        assert _run(["false"], timeout=5) == 1
        with pytest.raises(LimitExceeded):
            _run(["sleep", "5"], timeout=0.3)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _run(argv: list[str], *, timeout: float) -> int:
    with open(os.devnull, "r+b") as null:
        return run_limited(argv, stdin=null, stdout=null, stderr=null, limits=Limits(timeout, 512), address_space=True)
