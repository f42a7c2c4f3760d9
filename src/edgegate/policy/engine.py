"""The Rego engine interface of the policy gate: ``evaluate(modules, inputs, entrypoints=…, data=…)``.

Two engines: ``opa`` (the default; the real OPA, see `edgegate.policy.opa`) and ``regopy`` (the
explicit fallback, with its static refusals; see `edgegate.policy._regopy`). Neither is ever
chosen silently: a missing OPA is exit 2 with the fix, not a quiet switch to regopy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgegate.errors import InputError
from edgegate.policy._regopy import _to_json
from edgegate.policy.modules import Module, ensure_supported

ENGINES = ("opa", "regopy")
DEFAULT_ENGINE = "opa"
REGO_VERSIONS = ("v0", "v1")

__all__ = ["DEFAULT_ENGINE", "ENGINES", "Evaluation", "check_engine", "evaluate", "evaluate_many"]


@dataclass
class Evaluation:
    """Per input: entrypoint (``main``, ``k8s/extra``) → the package's result-rule values."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    """(input index, entrypoint) pairs whose evaluation gave no value (regopy only)."""
    engine_output: str = ""
    engine: str = DEFAULT_ENGINE
    rules: dict[str, list[str]] = field(default_factory=dict)
    """Entrypoint → the result rules its package defines (OPA engine)."""


def check_engine(name: str | None) -> str:
    """The engine name, validated (None: the default)."""
    chosen = name or DEFAULT_ENGINE
    if chosen not in ENGINES:
        raise InputError(f"unknown policy engine {chosen!r} (expected {' or '.join(ENGINES)})")
    return chosen


def _check_version(rego_version: str) -> None:
    if rego_version not in REGO_VERSIONS:
        raise InputError(f"unknown Rego version {rego_version!r} (expected v0 or v1)")


def prepare(modules: Sequence[Module], engine: str | None) -> str:
    """Validate the engine for these modules: regopy refuses what it is known to get wrong."""
    chosen = check_engine(engine)
    if chosen == "regopy":
        ensure_supported(modules)
    return chosen


def evaluate(
    modules: Sequence[Module],
    inputs: Sequence[Any],
    *,
    entrypoints: Sequence[str],
    data: dict[str, Any] | None = None,
    engine: str | None = None,
    rego_version: str = "v1",
    strict_builtin_errors: bool = True,
    inputs_at: Sequence[str] | None = None,
) -> Evaluation:
    """Evaluate every input against the packages `entrypoints` (``main``, ``a/b``): OPA in
    batches, one ``opa eval`` per batch (see `opa.plan_batches`), regopy in one process.
    `rego_version` ``v0`` reads the modules as Rego v0 (OPA). `inputs_at`: the inputs are the
    list at that path of `data` (not written twice)."""
    chosen = check_engine(engine)
    _check_version(rego_version)
    if chosen == "regopy":
        from edgegate.policy import _regopy

        ev = _regopy.evaluate(modules, inputs, entrypoints=entrypoints, data=data)
        return Evaluation(ev.results, ev.errors, ev.engine_output, "regopy")
    from edgegate.policy import opa

    rows, rules, prints = opa.evaluate_jobs(
        modules, None, inputs=inputs, data=data, entrypoints=entrypoints, rego_version=rego_version,
        strict_builtin_errors=strict_builtin_errors, to_json=_to_json, inputs_at=inputs_at,
    )
    return Evaluation(results=list(rows[0]), engine_output=prints, engine="opa", rules=rules)


def evaluate_many(
    modules: Sequence[Module],
    jobs: Sequence[tuple[Sequence[Any], dict[str, Any]]],
    *,
    entrypoints: Sequence[str],
    engine: str | None = None,
    rego_version: str = "v1",
    strict_builtin_errors: bool = True,
) -> list[Evaluation]:
    """Like `evaluate` for several (inputs, data) pairs in one engine process."""
    chosen = check_engine(engine)
    _check_version(rego_version)
    if chosen == "regopy":
        from edgegate.policy import _regopy

        return [Evaluation(ev.results, ev.errors, ev.engine_output, "regopy")
                for ev in _regopy.evaluate_many(modules, jobs, entrypoints=entrypoints)]
    from edgegate.policy import opa

    rows, rules, prints = opa.evaluate_jobs(
        modules, jobs, entrypoints=entrypoints, rego_version=rego_version,
        strict_builtin_errors=strict_builtin_errors, to_json=_to_json,
    )
    return [Evaluation(results=list(r), engine_output=prints, engine="opa", rules=rules) for r in rows]
