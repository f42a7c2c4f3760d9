"""`policy lint`: conftest semantics over YAML/JSON/TOML inputs, plus JSON Schema validation.

- Rules ``deny``, ``violation`` (failures) and ``warn`` (warnings), each with an optional
  ``_suffix``; messages are strings or objects with ``msg`` (edgegate reads ``rule_id``,
  ``severity``, ``title`` and ``path`` from them too; anything else goes to the details).
- ``exception contains rules`` excepts ``deny_<rule>``/``violation_<rule>``/``warn_<rule>`` results by
  suffix, and ``""`` the plain ``deny``/``violation``/``warn``, as conftest does
  (``data.<ns>.exception[_][_] == "<suffix>"``); each match counts as one exception.
- Default namespace ``main``; ``--namespace``; ``--all-namespaces``; ``--combine`` gives all
  documents as one array input of ``{"path", "contents"}`` like conftest.
- ``data.edgegate.inventory``: every document of the run, so a rule can look at other documents
  (e.g. the FinOpsPolicy a deployment refers to); ``data.edgegate.inventory_by_kind``: the same
  grouped by ``kind``. Both are left out when no module can read them (`_refs.may_read`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.discover import helm_template_chart
from edgegate.errors import InputError, NothingToCheckError
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.io.documents import Document, iter_input_files, load_documents
from edgegate.io.files import STDIN, open_regular_fd
from edgegate.policy import engine
from edgegate.policy._refs import may_read
from edgegate.policy.modules import Module, load_modules, resolve_rule_dir
from edgegate.policy.schemas import load_schemas, shipped_schema_dirs, validate_documents

GATE = "policy"
INVENTORY = ("edgegate", "inventory")
_INVENTORY_KEYS = frozenset({"inventory", "inventory_by_kind"})
_RULE = re.compile(r"^(deny|violation|warn)((?:_[A-Za-z0-9]+)*)$")  # conftest's rule names
_RESERVED = frozenset({"msg", "rule_id", "id", "severity", "title", "path"})


@dataclass
class LintOptions:
    """What `policy lint` takes beyond the input paths."""

    rules: Sequence[str | Path] = ("policy",)
    data: Sequence[str | Path] = ()
    namespaces: Sequence[str] = ()
    all_namespaces: bool = False
    combine: bool = False
    schema_dirs: Sequence[str | Path] = ()
    builtin_schemas: bool = True
    fail_on_warn: bool = False
    parser: str | None = None
    stdin_name: str | None = None
    """The name of standard input (``-``) in findings (conftest's ``--stdin-filename``)."""
    extra_data: Mapping[str, Any] = field(default_factory=dict)
    engine: str | None = None
    """``opa`` (default) or ``regopy`` (the fallback)."""
    rego_version: str = "v1"
    """``v1`` (default, as conftest) or ``v0`` (conftest's ``--rego-version v0``)."""
    strict_builtin_errors: bool = True
    """A builtin error is an engine error (exit 2), never an undefined (silently passing) rule."""
    conftest: ConftestOptions = field(default_factory=lambda: ConftestOptions())
    """conftest's debugging and compile switches (``--trace``, ``--strict``, …)."""


@dataclass
class ConftestOptions:
    """conftest's ``--strict``, ``--capabilities``, ``--trace`` and where ``print()`` goes."""

    strict: bool = False
    capabilities: str | None = None
    trace: Callable[[str], None] | None = None
    on_print: Callable[[str], None] | None = None
    """Gets each ``print()`` call's text, ``<policy file>:<row>: <message>``; None: dropped."""


def file_info(path: str) -> dict[str, str]:
    """``data.conftest.file`` for an input named `path`: {"name", "dir"} of its absolute path
    (``-`` is standard input, ``Combined`` the combined input; both in the working folder)."""
    absolute = os.path.abspath(path)
    return {"name": os.path.basename(absolute), "dir": os.path.dirname(absolute)}


def deep_merge(base: dict[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `other` into `base` (objects recursively; anything else replaced)."""
    for key, value in other.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value if not isinstance(value, Mapping) else deep_merge({}, value)
    return base


def load_data_files(paths: Iterable[str | Path]) -> dict[str, Any]:
    """Merge YAML/JSON/TOML data files into one object (exposed as ``data.``)."""
    merged: dict[str, Any] = {}
    for f in iter_input_files(paths):
        for doc in load_documents(f):
            if not isinstance(doc.data, dict):
                raise InputError("a data file must hold an object at the top level", f, doc.line)
            deep_merge(merged, doc.data)
    return merged


def load_inputs(
    paths: Sequence[str | Path], parser: str | None = None, stdin_name: str | None = None
) -> list[Document]:
    """Every document in `paths` (files, or folders searched for YAML/JSON/TOML); ``-`` is
    standard input (YAML unless `parser`; named `stdin_name` in findings, as conftest's
    ``--stdin-filename``)."""
    docs: list[Document] = []
    stdin = [p for p in paths if str(p) == STDIN]
    files = list(iter_input_files([p for p in paths if str(p) != STDIN]))
    shown = ", ".join(map(str, paths)) or "(none)"
    if not files and not stdin:
        raise NothingToCheckError("no YAML, JSON or TOML inputs", shown)
    if len(stdin) > 1:
        raise InputError("standard input ('-') is given more than once")
    if stdin:
        docs.extend(_load_stdin(parser, stdin_name))
    for f in files:
        chart = helm_template_chart(f)
        if chart is not None:
            shown_chart = os.path.relpath(chart)
            raise InputError(f"a Helm chart template (Go template text, not a manifest): render the chart with "
                             f"`helm template {chart if shown_chart.startswith('..') else shown_chart}` and check "
                             "its output", f)
        docs.extend(load_documents(f, parser=parser))
    if not docs:
        raise NothingToCheckError("no documents (every input file is empty)", shown)
    return docs


def _load_stdin(parser: str | None, name: str | None) -> list[Document]:
    import sys

    if sys.stdin is None or sys.stdin.isatty():
        raise InputError("'-' reads the documents from standard input, which is a terminal; pipe them in")
    return load_documents(STDIN, parser=parser, allow_stdin=True, shown=name or STDIN)


def inventory_data(documents: Sequence[Any]) -> dict[str, Any]:
    """``data.edgegate``: the run's documents (``inventory``) and the same grouped by their
    ``kind`` (``inventory_by_kind``: {kind: [documents]}), so a rule looking for one kind does
    not scan every document."""
    by_kind: dict[str, list[Any]] = {}
    for doc in documents:
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if isinstance(kind, str):
            by_kind.setdefault(kind, []).append(doc)
    return {"inventory": list(documents), "inventory_by_kind": by_kind}


def _entrypoints(modules: Sequence[Module], options: LintOptions) -> list[str]:
    packages = sorted({m.package for m in modules})
    if options.all_namespaces:
        return [p.replace(".", "/") for p in packages]
    wanted = list(options.namespaces) or ["main"]
    if any(ch in ns for ns in wanted for ch in "*?["):  # conftest's globs: `*` also matches dots
        wanted = _glob_namespaces(packages, wanted)
    missing = [ns for ns in wanted if ns not in packages]
    if missing:
        raise InputError(
            f"no policies in namespace {missing[0]!r} (found: {', '.join(packages)}); "
            "use --namespace NAME or --all-namespaces"
        )
    return [ns.replace(".", "/") for ns in wanted]


def _glob_namespaces(packages: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The packages matching any of `patterns` (conftest matches with Go's ``path.Match``; a
    package name has no ``/``, so ``fnmatchcase`` with ``[^…]`` read as ``[!…]`` is the same)."""
    from fnmatch import fnmatchcase

    globs = [p.replace("[^", "[!") for p in patterns]
    found = [p for p in packages if any(fnmatchcase(p, g) for g in globs)]
    if not found:
        raise InputError(f"no policies in a namespace matching {', '.join(map(repr, patterns))} "
                         f"(found: {', '.join(packages)})")
    return found


def lint(paths: Sequence[str | Path], options: LintOptions | None = None) -> GateResult:
    """Check every document in `paths` against the schemas and Rego rules of `options`."""
    opts = options or LintOptions()
    started = time.perf_counter()
    documents = load_inputs(paths, opts.parser, opts.stdin_name)
    schemas = load_schemas([Path(p) for p in opts.schema_dirs])
    if opts.builtin_schemas:
        schemas = load_schemas(shipped_schema_dirs(), check=False) + schemas
    findings, schema_checked = validate_documents(documents, schemas, GATE)

    modules = load_modules([resolve_rule_dir(r) for r in opts.rules])
    cf = opts.conftest
    capabilities = _capabilities_file(cf.capabilities)
    eval_options = engine.EvalOptions(strict=cf.strict, capabilities=capabilities, trace=cf.trace)
    chosen = engine.prepare(modules, opts.engine, eval_options)
    entrypoints = _entrypoints(modules, opts)
    data = deep_merge(load_data_files(opts.data), opts.extra_data)
    inventory = [d.data for d in documents]
    inputs_at: tuple[str, ...] | None = None
    if may_read(modules, _INVENTORY_KEYS):  # else no module can see it: OPA memory stays per batch
        deep_merge(data, {"edgegate": inventory_data(inventory)})
        inventory = data["edgegate"]["inventory"]
        inputs_at = INVENTORY

    if opts.combine:
        inputs: list[Any] = [[{"path": d.path, "contents": d.data} for d in documents]]
        anchors = [documents[0]]
        file_infos = [file_info("Combined")]
        inputs_at = None
    else:
        inputs = inventory
        anchors = documents
        file_infos = [file_info(d.path) for d in documents]
    evaluation = engine.evaluate(
        modules, inputs, entrypoints=entrypoints, data=data, engine=chosen,
        rego_version=opts.rego_version, strict_builtin_errors=opts.strict_builtin_errors,
        options=dataclasses.replace(eval_options, files=file_infos),
        inputs_at=inputs_at,
    )
    if cf.on_print is not None:
        for text in evaluation.prints:
            cf.on_print(text)

    errors: list[str] = []
    for index, ep in evaluation.errors:
        files = ", ".join(m.path for m in modules if m.entrypoint == ep)
        doc = anchors[index]
        errors.append(
            f"Rego evaluation error in package {ep.replace('/', '.')} ({files}) on "
            f"{doc.path}:{doc.line}; the engine gives no message: see docs/policy.md for the "
            "supported Rego subset"
        )
    exceptions = 0
    for index, per_ns in enumerate(evaluation.results):
        doc = anchors[index]
        for ep, package_doc in per_ns.items():
            new, excepted, problems = _findings_for(
                doc, ep.replace("/", "."), package_doc, opts, evaluation.rules.get(ep), evaluation.engine
            )
            findings.extend(new)
            exceptions += excepted
            errors.extend(problems)
    warnings = sum(1 for f in findings if not f.blocking)
    stats = {
        "files": len({d.path for d in documents}),
        "documents": len(documents),
        "policies": len(modules),
        "namespaces": [ep.replace("/", ".") for ep in entrypoints],
        "schema_validated": schema_checked,
        "warnings": warnings,
        "exceptions": exceptions,
        "engine": chosen,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return GateResult.decide(GATE, findings, errors=errors, stats=stats)


def _capabilities_file(path: str | None) -> str | None:
    """The capabilities file as an absolute path (OPA runs in its temp folder); a regular file
    (a FIFO would block OPA)."""
    if path is None:
        return None
    os.close(open_regular_fd(path))
    return os.path.abspath(path)


@dataclass(frozen=True)
class RuleResult:
    """One message of a ``deny``/``violation``/``warn`` rule."""

    rule: str
    kind: str  # "deny", "violation" or "warn"
    message: str
    meta: Mapping[str, Any]


@dataclass
class PackageResults:
    """What one package's rules said about one input."""

    results: list[RuleResult] = field(default_factory=list)
    excepted: int = 0
    problems: list[str] = field(default_factory=list)
    """Rules whose values are not messages (``<namespace>.<rule> returned …``): gate errors."""


class _BadShape(Exception):
    pass


def _from_key(key: str) -> Any:
    """An old-style partial set comes back from regopy as ``{member: true}`` with non-string
    members written as JSON text: parse them back (objects and arrays)."""
    text = key.strip()
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            return key
    return key


def _as_items(value: Any, sets_as_objects: bool = True) -> list[Any]:
    """The messages of a rule value; raises `_BadShape` for a value that is not a message set.
    `sets_as_objects`: regopy gives an old-style partial set as ``{member: true}``."""
    if value is None or value is False:
        return []
    if value is True:
        return [None]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("msg"), str):  # a complete rule with one object message
            return [value]
        if sets_as_objects and all(v is True for v in value.values()):  # old-style `deny[msg] {…}`: {msg: true}
            return [_from_key(k) for k in value]
    raise _BadShape(type(value).__name__)


def _exception_lists(package_doc: Mapping[str, Any], sets_as_objects: bool) -> list[list[Any]]:
    """The arrays of ``exception`` (conftest reads ``exception[_][_]``)."""
    try:
        items = _as_items(package_doc.get("exception", []), sets_as_objects)
    except _BadShape:
        return []
    return [item for item in items if isinstance(item, list)]


def package_results(
    namespace: str, package_doc: Any, *, rules: Sequence[str] | None = None, engine: str = "regopy"
) -> PackageResults:
    """The messages of every ``deny``/``violation``/``warn`` rule of one package's value, with
    conftest's ``exception`` rules applied; shared by `policy lint` and `policy test`.

    `rules` are the result rules the package defines (an undefined complete rule has no value
    but its exceptions still count, as in conftest)."""
    out = PackageResults()
    if not isinstance(package_doc, dict):
        return out
    sets_as_objects = engine == "regopy"
    exception_lists = _exception_lists(package_doc, sets_as_objects)
    names = sorted({r for r in package_doc if _RULE.match(r)} | {r for r in rules or () if _RULE.match(r)})
    for rule in names:
        match = _RULE.match(rule)
        assert match is not None
        kind, suffix = match.group(1), match.group(2)[1:]
        matched = sum(item.count(suffix) for item in exception_lists)
        if matched:
            out.excepted += matched
            continue
        if rule not in package_doc:
            continue
        value = package_doc[rule]
        try:
            items = _as_items(value, sets_as_objects)
        except _BadShape as exc:
            out.problems.append(
                f"{namespace}.{rule} returned {exc} ({json.dumps(value)[:80]}); results must be "
                "strings, objects with 'msg', or sets of them"
            )
            continue
        for item in items:
            if item is None:
                out.results.append(RuleResult(rule, kind, f"{namespace}.{rule} is true", {}))
            elif isinstance(item, str):
                out.results.append(RuleResult(rule, kind, item, {}))
            elif isinstance(item, dict) and isinstance(item.get("msg"), str):
                out.results.append(RuleResult(rule, kind, item["msg"], item))
            else:
                out.problems.append(
                    f"{namespace}.{rule} returned {type(item).__name__} without 'msg'; results "
                    "must be strings or objects with 'msg'"
                )
    return out


def _findings_for(
    doc: Document, namespace: str, package_doc: Any, opts: LintOptions,
    rules: Sequence[str] | None, engine_name: str,
) -> tuple[list[Finding], int, list[str]]:
    res = package_results(namespace, package_doc, rules=rules, engine=engine_name)
    findings = [_to_finding(doc, namespace, r, opts) for r in res.results]
    problems = [f"{p} (for {doc.path}:{doc.line})" for p in res.problems]
    return findings, res.excepted, problems


def _to_finding(doc: Document, namespace: str, result: RuleResult, opts: LintOptions) -> Finding:
    meta = result.meta
    is_warning = result.kind == "warn"
    default = Severity.LOW if is_warning else Severity.HIGH
    try:
        severity = Severity.parse(str(meta["severity"])) if "severity" in meta else default
    except ValueError:
        severity = default
    pointer = _pointer(meta.get("path"))
    details = {k: v for k, v in meta.items() if k not in _RESERVED}
    details.update({"namespace": namespace, "rule": result.rule, "document": doc.index})
    rule_id = str(meta.get("rule_id") or meta.get("id") or f"{namespace}.{result.rule}")
    return Finding(
        gate=GATE,
        rule_id=rule_id,
        severity=severity,
        message=result.message,
        title=str(meta["title"]) if meta.get("title") else None,
        location=Location(doc.path, doc.line_of(pointer) if pointer else doc.line, None, pointer),
        details=details,
        blocking=not is_warning or opts.fail_on_warn,
    )


def _pointer(path: Any) -> str | None:
    if isinstance(path, str) and path:
        return path if path.startswith("/") else "/" + path.replace(".", "/")
    if isinstance(path, list) and path:
        return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)
    return None
