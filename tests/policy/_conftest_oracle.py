"""The real conftest as the oracle of `policy lint`: run both on the same files, reduce both to
(status, failure messages, warning messages, exception count)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class Verdict:
    status: str  # "pass", "fail" or "error"
    failures: tuple[tuple[str, int], ...] = ()
    warnings: tuple[tuple[str, int], ...] = ()
    exceptions: int = 0

    @classmethod
    def of(cls, status: str, failures: Counter[str], warnings: Counter[str], exceptions: int) -> Verdict:
        return cls(status, tuple(sorted(failures.items())), tuple(sorted(warnings.items())), exceptions)


def _in_ci() -> bool:
    flags = (os.environ.get("CI", ""), os.environ.get("EDGEGATE_TEST_REQUIRE_ORACLES", ""))
    return any(f.lower() in ("1", "true", "yes") for f in flags)


def require_tool(env_name: str, name: str) -> str:
    """The tool from `env_name` or PATH; skip without it locally, fail under CI (``CI=true``)."""
    path = os.environ.get(env_name) or shutil.which(name)
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    message = f"{name} not found (set {env_name} or put {name} on PATH; .ci/run builds it with go install)"
    if _in_ci():
        pytest.fail(message)
    pytest.skip(message)


def conftest_module_dir() -> Path:
    """conftest v0.71.1's module source in the Go module cache (its examples, used in place)."""
    go = shutil.which("go")
    cache = ""
    if go:
        proc = subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True, timeout=60, check=False)
        cache = proc.stdout.strip()
    folder = Path(cache) / "github.com" / "open-policy-agent" / "conftest@v0.71.1" if cache else None
    if folder is None or not (folder / "examples").is_dir():
        message = "conftest v0.71.1 is not in the Go module cache (.ci/run go-installs it)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return folder


def run_conftest(conftest: str, args: list[str], cwd: Path, stdin: str | None = None) -> Verdict:
    """``conftest test -o json ARGS`` (builtin errors are errors, as edgegate's default);
    `stdin` is piped in (for the input ``-``)."""
    proc = subprocess.run(
        [conftest, "test", "--no-color", "-o", "json", "--show-builtin-errors", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False, input=stdin or "",
    )
    try:
        results = json.loads(proc.stdout)
    except ValueError:
        results = None
    if not isinstance(results, list) or "Error:" in proc.stderr:
        return Verdict("error")
    failures: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    exceptions = 0
    for r in results:
        failures.update(f["msg"] for f in r.get("failures") or [])
        warnings.update(w["msg"] for w in r.get("warnings") or [])
        exceptions += len(r.get("exceptions") or [])
    status = "fail" if proc.returncode else "pass"
    return Verdict.of(status, failures, warnings, exceptions)


def run_edgegate(cli: Any, args: list[str], cwd: Path, engine: str = "opa") -> tuple[Verdict, str]:
    """``edgegate policy lint ARGS`` reduced like conftest's output; and its stderr."""
    r = cli("policy", "lint", "--no-builtin-schemas", "--engine", engine, "-f", "json", *args, cwd=cwd)
    return _edgegate_verdict(r.exit_code, r.stdout), r.stderr


def run_edgegate_process(
    args: list[str], cwd: Path, engine: str = "opa", stdin: str | None = None
) -> tuple[Verdict, str]:
    """`run_edgegate` as a real process (standard input piped in, for ``-``); and its stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "edgegate", "policy", "lint", "--no-builtin-schemas", "--engine", engine,
         "-f", "json", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False, input=stdin or "",
    )
    return _edgegate_verdict(proc.returncode, proc.stdout), proc.stderr


def conftest_lines(conftest: str, args: list[str], cwd: Path, tag: str, stdin: str | None = None) -> list[str]:
    """The ``PRNT`` (stdout, standard output format) or ``TRAC`` (stderr, ``--trace``) lines
    of ``conftest test ARGS``, without the tag."""
    proc = subprocess.run(
        [conftest, "test", "--no-color", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        check=False, input=stdin or "",
    )
    text = proc.stderr if tag == "TRAC" else proc.stdout
    return [ln[len(tag):].strip() for ln in text.splitlines() if ln.startswith(tag)]


def edgegate_lines(stderr: str, tag: str) -> list[str]:
    """The ``PRNT``/``TRAC`` lines edgegate wrote to stderr, without the tag."""
    return [ln[len(tag):].strip() for ln in stderr.splitlines() if ln.startswith(tag)]


def _edgegate_verdict(exit_code: int, stdout: str) -> Verdict:
    if exit_code == 2:
        return Verdict("error")
    report = json.loads(stdout)
    gate = report["gates"][0]
    failures: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    # the report shows one finding per fact: the policy findings merged into another are listed
    # under its details["also_reported_by"], and count here as conftest counts them
    shown = [*gate["findings"]]
    for f in gate["findings"]:
        shown += [r for r in f["details"].get("also_reported_by", []) if r.get("gate") == gate["gate"]]
    for f in shown:
        rule = f.get("rule") or f["details"]["rule"]
        (warnings if rule.startswith("warn") else failures)[f["message"]] += 1
    status = {0: "pass", 1: "fail"}[exit_code]
    return Verdict.of(status, failures, warnings, int(gate["stats"].get("exceptions", 0)))
