"""`[policy]` in edgegate.toml → the same `lint` the `policy lint` command runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgegate.config import Config
from edgegate.errors import ConfigError
from edgegate.findings import GateResult, Severity
from edgegate.policy.lint import LintOptions, lint
from edgegate.policy.modules import BUILTIN_PREFIX
from edgegate.policy.overrides import RuleOverride, apply_overrides, overrides_from_section


def _paths(config: Config, values: list[str]) -> list[str]:
    return [v if v.startswith(BUILTIN_PREFIX) else str(config.resolve(v)) for v in values]


def _shown(config: Config, values: list[str]) -> list[str]:
    """Inputs relative to the current folder when possible, so reports show short paths."""
    out = []
    for v in _paths(config, values):
        try:
            out.append(str(Path(v).relative_to(Path.cwd())))
        except ValueError:
            out.append(v)
    return out


def _text(section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"[policy] {key} must be a string, not {type(value).__name__}")
    return value


def options_from_section(section: Mapping[str, Any], config: Config) -> LintOptions:
    """`[policy]` as the options of `lint` (paths resolved against the config's folder)."""
    return LintOptions(
        rules=_shown(config, list(section.get("rules", ["policy"]))),
        data=_shown(config, list(section.get("data", []))),
        namespaces=list(section.get("namespaces", [])),
        all_namespaces=bool(section.get("all-namespaces", False)),
        combine=bool(section.get("combine", False)),
        schema_dirs=_shown(config, list(section.get("schemas", []))),
        builtin_schemas=bool(section.get("builtin-schemas", True)),
        fail_on_warn=bool(section.get("fail-on-warn", False)),
        engine=_text(section, "engine"),
        rego_version=_text(section, "rego-version") or "v1",
    )


def finish(result: GateResult, section: Mapping[str, Any], config: Config, overrides: list[RuleOverride]) -> GateResult:
    """`result` with the `[[policy.override]]` rules (`overrides_from_section`) applied and
    decided at `[policy] fail-on`."""
    result = apply_overrides(result, overrides, config)
    fail_on = section.get("fail-on")
    if fail_on:
        result = GateResult.decide(
            result.gate, result.findings, errors=result.errors, stats=result.stats,
            fail_on=Severity.parse(str(fail_on)),
        )
    return result


def run_from_config(section: Mapping[str, Any], config: Config) -> list[GateResult]:
    overrides = overrides_from_section(section.get("override"), config)  # an error before linting
    result = lint(_shown(config, list(section.get("paths", ["."]))), options_from_section(section, config))
    return [finish(result, section, config, overrides)]
