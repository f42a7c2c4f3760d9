"""The regopy fallback engine (``--engine regopy``): Rego policies over inputs with regopy,
compiled once per run (``build`` + ``query_bundle_entrypoint``), in a child process so that no
engine failure can end in a pass."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgegate.errors import EngineError, InputError
from edgegate.policy.modules import Module, engine_source, result_rules, rule_names

_LOCATION = re.compile(r"--\s*(\S+?):(\d+):(\d+)")


@dataclass
class Evaluation:
    """Per input: entrypoint (``main``, ``k8s/extra``) → the package's rule values."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    """(input index, entrypoint) pairs whose evaluation failed."""
    engine_output: str = ""


def _engine_message(output: str, fallback: str) -> tuple[str, str | None, int | None]:
    """The first useful error line the engine printed, and its file:line if it named one."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    message = next((ln for ln in lines if not ln.startswith(("--", "~", "Errors:")) and ln != "wellformed_error"), fallback)
    loc = _LOCATION.search(output)
    if loc:
        return message, loc.group(1), int(loc.group(2))
    return message, None, None


def _to_json(value: Any) -> Any:
    """JSON for what YAML/TOML loaders give beyond JSON, as conftest and kubectl read it:
    dates and times as ISO 8601 strings, binary (``!!binary``) as its base64 text."""
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise EngineError(f"cannot pass a value of type {type(value).__name__} to the Rego engine")


def _policy_names(modules: Sequence[Module]) -> str:
    """The policies of a run, for messages: the files, or their folders when there are many."""
    files = [m.path for m in modules]
    if len(files) <= 3:
        return ", ".join(files)
    folders = sorted({os.path.dirname(f) or "." for f in files})
    return ", ".join(folders) + f" ({len(files)} files)"


def _run_worker(
    job: dict[str, Any], timeout: float | None, modules: Sequence[Module] = ()
) -> tuple[dict[str, Any], str]:
    from edgegate.policy._limits import LimitExceeded, Limits, run_limited

    limits = Limits.from_env()
    timeout = limits.timeout if timeout is None else timeout
    names = _policy_names(modules)
    evaluating = f" evaluating {names}" if names else ""
    payload = json.dumps(job, default=_to_json).encode("utf-8")
    with tempfile.TemporaryDirectory(prefix="edgegate-rego-") as tmp:
        answer_path = os.path.join(tmp, "answer.json")
        job_path = os.path.join(tmp, "job.json")
        with open(job_path, "wb") as fh:
            fh.write(payload)
        out_path = os.path.join(tmp, "output.txt")
        try:
            with open(job_path, "rb") as job_in, open(out_path, "wb") as out:
                code = run_limited(
                    [sys.executable, "-m", "edgegate.policy._worker", answer_path],
                    stdin=job_in, stdout=out, stderr=out, address_space=False,
                    limits=Limits(timeout, limits.memory_mb),
                )
        except LimitExceeded as exc:
            if exc.what == "memory":
                raise EngineError(
                    f"the Rego engine ran out of memory{evaluating} (limit {limits.memory_mb} MiB; "
                    "EDGEGATE_POLICY_MEMORY_MB raises it)"
                ) from None
            raise EngineError(
                f"Rego evaluation{evaluating} did not finish within {timeout:g} s (the time limit; "
                "EDGEGATE_POLICY_TIMEOUT raises it)"
            ) from None
        with open(out_path, "rb") as fh:
            output = fh.read(1024 * 1024).decode("utf-8", "replace")
        if code != 0 or not os.path.exists(answer_path):
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            detail, path, line = _engine_message(output, "")
            if detail.startswith("Traceback"):
                detail = ""
            if "MemoryError" in output or "std::bad_alloc" in output:
                raise EngineError(
                    f"the Rego engine ran out of memory{evaluating} (limit {limits.memory_mb} MiB; "
                    "EDGEGATE_POLICY_MEMORY_MB raises it)"
                )
            raise EngineError(
                f"the Rego engine crashed ({how}){evaluating}{': ' + detail if detail else ''}", path, line
            )
        with open(answer_path, encoding="utf-8") as fh:
            answer: dict[str, Any] = json.load(fh)
    return answer, output


def _module_names(modules: Sequence[Module], print_marker: str | None = None) -> list[list[str]]:
    from edgegate.policy._prints import instrument

    if print_marker is None:
        return [[m.path, engine_source(m)] for m in modules]
    return [[m.path, instrument(engine_source(m), m.path, print_marker)] for m in modules]


_RESULTS_PACKAGE = "edgegate_internal_results"


def _result_views(modules: Sequence[Module], entrypoints: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """One generated module per package that exposes only its result rules
    (``deny := data.main.deny`` …), and the entrypoints of those modules. Querying the whole
    package would also evaluate and serialise every helper rule for every document (a rule
    holding ``data.edgegate.inventory`` makes a run quadratic in the number of documents)."""
    views: list[list[str]] = []
    wrapped: list[str] = []
    for ep in entrypoints:
        package = ep.replace("/", ".")
        lines = [f"package {_RESULTS_PACKAGE}.{package}", ""]
        lines += [f"{name} := data.{package}.{name}" for name in result_rules(modules, package)]
        lines.append("edgegate_evaluated := true")
        views.append([f"<edgegate results view of {package}>", "\n".join(lines) + "\n"])
        wrapped.append(f"{_RESULTS_PACKAGE}/{ep}")
    return views, wrapped


def _check_data_collisions(modules: Sequence[Module], data: dict[str, Any]) -> None:
    """``--data`` under a policy package's path that names one of its rules: OPA refuses this
    (conflicting rules); regopy would read one or the other silently."""
    for module in modules:
        node: Any = data
        for part in module.package.split("."):
            if not isinstance(node, dict):
                break  # a value above the package's path: reported below
            if part not in node:
                node = None
                break
            node = node[part]
        if isinstance(node, dict):
            clash = sorted(set(node) & rule_names(module))
            if clash:
                raise InputError(
                    f"data.{module.package}.{clash[0]} in the --data files collides with the rule "
                    f"'{clash[0]}' of package {module.package} ({module.path}); rename the data key"
                )
        elif node is not None:
            raise InputError(
                f"data.{module.package} in the --data files collides with package {module.package} "
                f"({module.path}); rename the data key"
            )


def _lint_job(
    modules: Sequence[Module], inputs: Sequence[Any], data: dict[str, Any], entrypoints: Sequence[str],
    print_marker: str | None = None,
) -> dict[str, Any]:
    _check_data_collisions(modules, data)
    views, wrapped = _result_views(modules, entrypoints)
    return {
        "mode": "lint",
        "modules": _module_names(modules, print_marker) + views,
        "data": data,
        "entrypoints": wrapped,
        "labels": list(entrypoints),
        "inputs": list(inputs),
    }


def evaluate(
    modules: Sequence[Module],
    inputs: Sequence[Any],
    *,
    entrypoints: Sequence[str],
    data: dict[str, Any] | None = None,
    timeout: float | None = None,
    print_marker: str | None = None,
) -> Evaluation:
    """Evaluate every input against the packages `entrypoints` (``main``, ``a/b``)."""
    job = _lint_job(modules, inputs, data or {}, entrypoints, print_marker)
    answer, output = _run_worker(job, timeout, modules)
    _raise_fatal(answer, output, modules)
    errors = [(int(e["input"]), str(e["entrypoint"])) for e in answer.get("errors", [])]
    return Evaluation(results=answer.get("results", []), errors=errors, engine_output=output)


def evaluate_many(
    modules: Sequence[Module],
    jobs: Sequence[tuple[Sequence[Any], dict[str, Any]]],
    *,
    entrypoints: Sequence[str],
    timeout: float | None = None,
    print_marker: str | None = None,
) -> list[Evaluation]:
    """Like `evaluate` for several (inputs, data) pairs in one engine process."""
    sub = [_lint_job(modules, inputs, data, entrypoints, print_marker) for inputs, data in jobs]
    answer, output = _run_worker({"mode": "batch", "jobs": sub}, timeout, modules)
    out: list[Evaluation] = []
    for one in answer.get("answers", []):
        _raise_fatal(one, output, modules)
        errors = [(int(e["input"]), str(e["entrypoint"])) for e in one.get("errors", [])]
        out.append(Evaluation(results=one.get("results", []), errors=errors, engine_output=output))
    return out


def query(
    modules: Sequence[Module],
    queries: Sequence[str],
    *,
    inputs: Sequence[Any] = (None,),
    data: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> tuple[list[dict[str, dict[str, Any]]], str]:
    """Run plain queries (e.g. ``data.main.test_x``) once per input; used by `policy test`."""
    job = {
        "mode": "query",
        "modules": _module_names(modules),
        "data": data or {},
        "queries": list(queries),
        "inputs": list(inputs),
    }
    answer, output = _run_worker(job, timeout, modules)
    _raise_fatal(answer, output, modules)
    return answer.get("results", []), output


def _raise_fatal(answer: dict[str, Any], output: str, modules: Sequence[Module] = ()) -> None:
    fatal = answer.get("fatal")
    if not fatal:
        return
    if fatal.get("kind") == "engine":
        ep = fatal.get("entrypoint")
        in_package = [m for m in modules if ep is None or m.entrypoint == ep]
        package = f" in package {ep.replace('/', '.')}" if ep else ""
        files = _policy_names(in_package or modules)
        raise EngineError(
            f"Rego evaluation error{package} ({files}): {fatal.get('message') or 'unknown error'}"
        )
    detail, path, line = _engine_message(output or fatal.get("message", ""), fatal.get("message") or "")
    where = path or fatal.get("module")
    raise EngineError(f"Rego compile error: {detail or fatal.get('message') or 'unknown error'}", where, line)
