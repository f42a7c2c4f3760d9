"""``[vuln]`` in edgegate.toml → the same `scan` that ``edgegate vuln scan`` runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgegate.config import Config
from edgegate.errors import ConfigError
from edgegate.findings import GateResult, Severity
from edgegate.vuln.scan import DEFAULT_MAX_DB_AGE_DAYS, IgnoreRule, ScanInput, ScanSettings, scan


def _severity(value: Any, key: str, config: Config) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError as exc:
        raise ConfigError(f"vuln.{key}: {exc}", config.path) from None




def ignore_rules(items: Any, config: Config) -> list[IgnoreRule]:
    """``[[vuln.ignore]]`` entries as `IgnoreRule`s."""
    out: list[IgnoreRule] = []
    for i, item in enumerate(items or []):
        where = f"vuln.ignore[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise ConfigError(f"{where}: needs an id", config.path)
        if not isinstance(item.get("reason"), str) or not item["reason"].strip():
            raise ConfigError(f"{where}: needs a reason", config.path)
        out.append(IgnoreRule(item["id"], item["reason"], config.expiry_date(item.get("expires"), where),
                              config.shown))
    return out


def settings_from_section(section: Mapping[str, Any], config: Config) -> ScanSettings:
    """Scan settings (db, thresholds, ignores, VEX) from a ``[vuln]`` section."""
    s = ScanSettings()
    if "db" in section:
        s.db = config.resolve(section["db"])
    if "osv-url" in section:
        s.osv_url = str(section["osv-url"])
    if "fail-on" in section:
        s.fail_on = _severity(section["fail-on"], "fail-on", config)
    if "unknown-severity" in section:
        s.unknown_severity = _severity(section["unknown-severity"], "unknown-severity", config)
    s.max_db_age_days = float(section.get("max-db-age-days", DEFAULT_MAX_DB_AGE_DAYS))
    s.ignores = ignore_rules(section.get("ignore"), config)
    s.vex = [config.resolve(v) for v in section.get("vex", [])]
    if "timeout" in section:
        s.timeout = int(section["timeout"])
    s.allow_unchecked = bool(section.get("allow-unchecked", False))
    return s


def inputs_from_section(section: Mapping[str, Any], config: Config) -> list[ScanInput]:
    """What ``[vuln]`` says to scan: Python projects, SBOMs, images, the environment."""
    inputs: list[ScanInput] = []
    for key in ("requirements", "paths"):
        for value in section.get(key, []):
            inputs.append(ScanInput("python", config.resolve(value), config.display_path(value)))
    for value in section.get("sboms", []):
        inputs.append(ScanInput("sbom", config.resolve(value), config.display_path(value)))
    for ref in section.get("images", []):
        inputs.append(ScanInput("image", ref=str(ref), shown=str(ref)))
    if section.get("environment"):
        inputs.append(ScanInput("environment"))
    if not inputs:
        raise ConfigError("[vuln] names nothing to scan: set requirements, paths, sboms, images or environment",
                          config.path)
    return inputs


def run_from_config(section: Mapping[str, Any], config: Config) -> list[GateResult]:
    """The vulnerability gate as ``edgegate check`` runs it."""
    return [scan(inputs_from_section(section, config), settings_from_section(section, config))]
