"""Shared fixtures: the `../shared` data folder and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

#: The fuzz tests' shared budget (``-m fuzz``; their modules add their own health-check
#: suppressions): small in the normal run, ``EDGEGATE_FUZZ_EXAMPLES`` for bench/fuzz.sh's long run.
settings.register_profile(
    "edgegate-fuzz", max_examples=int(os.environ.get("EDGEGATE_FUZZ_EXAMPLES", "40")), deadline=None, database=None,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def root_dir() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the project (real data for tests); skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def _invoke(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
    from typer.testing import CliRunner

    from edgegate.cli import app

    runner = CliRunner()
    import os

    old = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = runner.invoke(app, args, env=env, catch_exceptions=False)
    finally:
        os.chdir(old)
    return CliResult(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli():
    """Run edgegate in-process: ``cli("policy", "lint", path)`` → CliResult."""

    def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliResult:
        return _invoke([str(a) for a in args], cwd=cwd, env=env)

    return run


@pytest.fixture
def cli_subprocess():
    """Run edgegate as a real process (``python -m edgegate``)."""

    def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "edgegate", *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run
