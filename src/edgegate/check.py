"""`edgegate check`: load the config, run each configured gate's library entry point, collect
results. No gate logic lives here."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from edgegate.config import Config, did_you_mean, find_config, load_config
from edgegate.errors import ConfigError, EdgegateError
from edgegate.findings import GateResult, Status
from edgegate.gates import GATES, entry_point
from edgegate.progress import CheckDisplay


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


#: Names a report uses for part of a gate's section: ``--gate model-scan`` runs [model.scan] only.
SUB_GATES: dict[str, tuple[str, str]] = {
    "model-scan": ("model", "scan"),
    "model-quant": ("model", "quant"),
    "model-bias": ("model", "bias"),
}


def _known_gate(name: str) -> str:
    if name in GATES or name in SUB_GATES:
        return name
    known = [*GATES, *SUB_GATES]
    raise ConfigError(f"unknown gate {name!r}{did_you_mean(name, known)} (known: {', '.join(known)})")


def selected_gates(config: Config, only: Sequence[str] | None = None) -> list[str]:
    """The gates to run: `only` if given, else `gates = [...]`, else every configured section.
    A sub-gate name (``model-scan``) selects its gate; `run_check` narrows the section."""
    configured = [name for name in GATES if config.section(name) is not None]
    if only:
        wanted: list[str] = []
        for g in only:
            name = _known_gate(g)
            gate, sub = SUB_GATES.get(name, (name, ""))
            section = config.section(gate)
            if section is None:
                raise ConfigError(f"gate {g!r} has no [{gate}] section", config.path)
            if sub and sub not in section:
                raise ConfigError(f"gate {g!r} has no [{gate}.{sub}] section", config.path)
            wanted.append(gate)
        return [g for g in GATES if g in wanted]
    listed = config.data.get("gates")
    if listed:
        missing = [g for g in listed if g not in configured]
        if missing:
            raise ConfigError(f"gate {missing[0]!r} is listed in 'gates' but has no [{missing[0]}] section", config.path)
        return list(listed)
    if not configured:
        raise ConfigError("no gate is configured (add a [policy], [sbom], [vuln], ... section)", config.path)
    return configured


def _narrowed(name: str, section: dict[str, Any], only: Sequence[str] | None) -> dict[str, Any]:
    """`section` with only the parts `--gate` asked for (all of it unless sub-gates were named)."""
    if not only or name in only:
        return section
    subs = {sub for g, (gate, sub) in SUB_GATES.items() if gate == name and g in only}
    if not subs:
        return section
    parts = {sub for gate, sub in SUB_GATES.values() if gate == name}
    return {k: v for k, v in section.items() if k in subs or k not in parts}


def run_check(config: Config, only: Sequence[str] | None = None, display: CheckDisplay | None = None) -> list[GateResult]:
    """Run the selected gates. A gate that raises becomes an errored result, never a pass, and
    the other gates still run so the report shows everything."""
    results: list[GateResult] = []
    for name in selected_gates(config, only):
        section = _narrowed(name, config.section(name) or {}, only)
        started = time.perf_counter()
        try:
            with display.gate(name) if display is not None else nullcontext():
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
