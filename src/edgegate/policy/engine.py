"""The Rego engine interface of the policy gate: ``evaluate(modules, inputs, entrypoints=…, data=…)``.

Two engines: ``opa`` (the default; the real OPA, see `edgegate.policy.opa`) and ``regopy`` (the
explicit fallback, with its static refusals; see `edgegate.policy._regopy`). Neither is ever
chosen silently: a missing OPA is exit 2 with the fix, not a quiet switch to regopy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgegate.errors import InputError
from edgegate.policy import _prints
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
    prints: list[str] = field(default_factory=list)
    """What the rules' ``print()`` calls printed, each ``<policy file>:<row>: <message>``."""


@dataclass(frozen=True)
class EvalOptions:
    """conftest's evaluation switches beyond the Rego version (OPA only, except `files`)."""

    files: Sequence[Any] | None = None
    """Per input, ``data.conftest.file`` ({"name", "dir"}), as conftest sets it."""
    strict: bool = False
    """OPA's strict compile (conftest's ``--strict``)."""
    capabilities: str | None = None
    """An OPA capabilities file (conftest's ``--capabilities``)."""
    trace: Callable[[str], None] | None = None
    """Gets OPA's evaluation trace line by line (conftest's ``--trace``)."""

    def compile_flags(self) -> list[str]:
        flags = ["--strict"] if self.strict else []
        return flags + (["--capabilities", self.capabilities] if self.capabilities else [])


def _marker(modules: Sequence[Module]) -> str | None:
    return _prints.new_marker() if any("print" in m.source for m in modules) else None


def check_engine(name: str | None) -> str:
    """The engine name, validated (None: the default)."""
    chosen = DEFAULT_ENGINE if name is None else name
    if chosen not in ENGINES:
        raise InputError(f"unknown policy engine {chosen!r} (expected {' or '.join(ENGINES)})")
    return chosen


def _check_version(rego_version: str) -> None:
    if rego_version not in REGO_VERSIONS:
        raise InputError(f"unknown Rego version {rego_version!r} (expected v0 or v1)")


def prepare(modules: Sequence[Module], engine: str | None, options: EvalOptions | None = None) -> str:
    """Validate the engine for these modules: regopy refuses what it is known to get wrong, and
    the switches only OPA has, before anything is evaluated."""
    chosen = check_engine(engine)
    if chosen == "regopy":
        opts = options or EvalOptions()
        for flag, given in (("--strict", opts.strict), ("--capabilities", opts.capabilities),
                            ("--trace", opts.trace)):
            if given:
                raise InputError(f"{flag} needs the OPA engine (regopy has no such mode); drop --engine regopy")
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
    options: EvalOptions | None = None,
    inputs_at: Sequence[str] | None = None,
) -> Evaluation:
    """Evaluate every input against the packages `entrypoints` (``main``, ``a/b``): OPA in
    batches, one ``opa eval`` per batch (see `opa.plan_batches`), regopy in one process.
    `rego_version` ``v0`` reads the modules as Rego v0 (OPA). `inputs_at`: the inputs are the
    list at that path of `data` (not written twice)."""
    chosen = check_engine(engine)
    _check_version(rego_version)
    opts = options or EvalOptions()
    marker = _marker(modules)
    if chosen == "regopy":
        prepare(modules, chosen, opts)
        return _regopy_evaluate(modules, inputs, entrypoints, data, opts.files, marker)
    from edgegate.policy import opa

    rows, rules, prints = opa.evaluate_jobs(
        modules, None, inputs=inputs, data=data, entrypoints=entrypoints, rego_version=rego_version,
        strict_builtin_errors=strict_builtin_errors, to_json=_to_json, files=opts.files,
        print_marker=marker, compile_flags=opts.compile_flags(), trace_sink=opts.trace, inputs_at=inputs_at,
    )
    out = _prints.split(prints, marker) if marker else _prints.Output([], prints)
    return Evaluation(results=list(rows[0]), engine_output=out.rest, engine="opa", rules=rules,
                      prints=out.prints)


def _regopy_evaluate(
    modules: Sequence[Module], inputs: Sequence[Any], entrypoints: Sequence[str],
    data: dict[str, Any] | None, files: Sequence[Any] | None, marker: str | None,
) -> Evaluation:
    """regopy has no ``with``: the inputs of each file are one job whose data holds that file's
    ``data.conftest.file`` (only when a policy names ``conftest``: the data is copied per job)."""
    from edgegate.policy import _regopy

    if files is None or not any("conftest" in m.source for m in modules):
        ev = _regopy.evaluate(modules, inputs, entrypoints=entrypoints, data=data, print_marker=marker)
        out = _prints.split(ev.engine_output, marker) if marker else _prints.Output([], ev.engine_output)
        return Evaluation(ev.results, ev.errors, out.rest, "regopy", prints=out.prints)
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(files):
        groups.setdefault(json.dumps(f, sort_keys=True), []).append(i)
    jobs = []
    for key, members in groups.items():
        job_data = dict(data or {})
        conftest = dict(job_data.get("conftest") or {}) if isinstance(job_data.get("conftest"), dict) else {}
        conftest["file"] = json.loads(key)
        job_data["conftest"] = conftest
        jobs.append(([inputs[i] for i in members], job_data))
    evs = _regopy.evaluate_many(modules, jobs, entrypoints=entrypoints, print_marker=marker)
    results: list[dict[str, Any]] = [{} for _ in inputs]
    errors: list[tuple[int, str]] = []
    for members, ev in zip(groups.values(), evs, strict=True):
        for local, i in enumerate(members):
            results[i] = ev.results[local]
        errors += [(members[local], ep) for local, ep in ev.errors]
    output = evs[0].engine_output if evs else ""
    out = _prints.split(output, marker) if marker else _prints.Output([], output)
    return Evaluation(results, sorted(errors), out.rest, "regopy", prints=out.prints)


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
