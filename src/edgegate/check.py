"""`edgegate check`: load the config, run each configured gate's library entry point, collect
results. No gate logic lives here."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from edgegate.config import Config, find_config, load_config
from edgegate.errors import ConfigError, EdgegateError
from edgegate.findings import GateResult, Status
from edgegate.gates import GATES, entry_point


def load_for_check(path: str | Path, config_file: str | Path | None = None) -> Config:
    """The config `edgegate check PATH` uses."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("no such file or directory", p)
    found = Path(config_file) if config_file else find_config(p)
    if found is None:
        raise ConfigError(
            "no edgegate.toml (or [tool.edgegate] in pyproject.toml) here or above; run 'edgegate init'",
            p,
        )
    if not found.is_file():
        raise ConfigError("no such config file", found)
    return load_config(found)


def selected_gates(config: Config, only: Sequence[str] | None = None) -> list[str]:
    """The gates to run: `only` if given, else `gates = [...]`, else every configured section."""
    configured = [name for name in GATES if config.section(name) is not None]
    if only:
        unknown = [g for g in only if g not in GATES]
        if unknown:
            raise ConfigError(f"unknown gate {unknown[0]!r} (known: {', '.join(GATES)})")
        missing = [g for g in only if g not in configured]
        if missing:
            raise ConfigError(f"gate {missing[0]!r} has no [{missing[0]}] section", config.path)
        return [g for g in GATES if g in only]
    listed = config.data.get("gates")
    if listed:
        missing = [g for g in listed if g not in configured]
        if missing:
            raise ConfigError(f"gate {missing[0]!r} is listed in 'gates' but has no [{missing[0]}] section", config.path)
        return list(listed)
    if not configured:
        raise ConfigError("no gate is configured (add a [policy], [sbom], [vuln], ... section)", config.path)
    return configured


def run_check(config: Config, only: Sequence[str] | None = None) -> list[GateResult]:
    """Run the selected gates. A gate that raises becomes an errored result, never a pass, and
    the other gates still run so the report shows everything."""
    results: list[GateResult] = []
    for name in selected_gates(config, only):
        section = config.section(name) or {}
        started = time.perf_counter()
        try:
            produced = entry_point(name)(section, config)
            # the reports show each gate's time (JUnit `time`); a gate of several results
            # (model) times each part itself, or its time is unknown, not guessed
            if len(produced) == 1 and isinstance(produced[0].stats, dict):
                produced[0].stats.setdefault("seconds", round(time.perf_counter() - started, 3))
            results.extend(produced)
        except EdgegateError as exc:
            results.append(GateResult(gate=name, status=Status.ERROR, errors=[str(exc)]))
        except Exception as exc:  # an internal error is an errored gate, never a pass
            results.append(
                GateResult(
                    gate=name,
                    status=Status.ERROR,
                    errors=[f"internal error in gate {name!r}: {type(exc).__name__}: {exc}"],
                )
            )
    return results
