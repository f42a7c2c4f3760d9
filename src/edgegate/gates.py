"""The registry `edgegate check` walks: config section name → the gate's entry point.

Each entry point is ``run_from_config(section, config) -> list[GateResult]``, the same library
functions the gate's own subcommand calls. Modules are imported only when their section is
configured, so heavy engines load only for the gates that run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from edgegate.config import Config
from edgegate.findings import GateResult

GateEntry = Callable[[Mapping[str, Any], Config], list[GateResult]]

#: Order matters: SBOMs are written before the vulnerability gate reads them.
GATES: dict[str, str] = {
    "policy": "edgegate.policy.gate",
    "sbom": "edgegate.sbom.gate",
    "vuln": "edgegate.vuln.gate",
    "verify": "edgegate.sign.gate",
    "admit": "edgegate.admit.gate",
    "model": "edgegate.model.gate",
    "cost": "edgegate.finops.gate",
}


def entry_point(name: str) -> GateEntry:
    """The `run_from_config` function of gate `name`."""
    module = importlib.import_module(GATES[name])
    fn: GateEntry = module.run_from_config
    return fn
