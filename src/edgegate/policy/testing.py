"""`policy test`: Rego ``test_*`` rules, and data-driven YAML cases (the shipped pack's format).

A case file is a YAML file with a top-level ``cases`` list::

    rules: [EGP001]          # rule ids whose results are compared (others are ignored)
    data: {edgegate: {...}}  # optional, for every case
    cases:
      - name: digest-pinned image passes
        input: {...}         # one document, or `documents: [...]` (each evaluated with all of
                             # them as data.edgegate.inventory)
        data: {...}          # optional, deep-merged over the file's data
        deny: []             # exact expected deny/violation messages (order-insensitive)
        warn: []             # optional; omitted: warnings are not compared
"""

from __future__ import annotations

import copy
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgegate.errors import EngineError, InputError
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.io.documents import Document, iter_input_files, load_documents
from edgegate.policy import engine
from edgegate.policy.lint import deep_merge, inventory_data, package_results
from edgegate.policy.modules import Module, load_modules

GATE = "policy-test"
_TEST_RULE = re.compile(r"^(test_[A-Za-z0-9_]*)\b", re.MULTILINE)


@dataclass
class CaseOutcome:
    file: str
    line: int
    name: str
    passed: bool
    message: str = ""
    error: bool = False
    """The test could not be evaluated (OPA's ERROR: a runtime error), not a FAIL."""

    @property
    def result(self) -> str:
        return "pass" if self.passed else "ERROR" if self.error else "FAIL"


def _case_files(folders: Sequence[Path]) -> list[Document]:
    docs: list[Document] = []
    for f in iter_input_files(folders, frozenset({".yaml", ".yml"})):
        for doc in load_documents(f):
            if isinstance(doc.data, dict) and isinstance(doc.data.get("cases"), list):
                docs.append(doc)
    return docs


def _results_of(
    per_ns: dict[str, Any], rules: set[str] | None, evaluation: engine.Evaluation
) -> tuple[list[str], list[str], list[str]]:
    """deny/violation messages, warn messages and problems (values that are not messages), read
    exactly like `policy lint` reads them (exceptions included)."""
    deny: list[str] = []
    warn: list[str] = []
    problems: list[str] = []
    for ep, package_doc in per_ns.items():
        namespace = ep.replace("/", ".")
        res = package_results(namespace, package_doc, rules=evaluation.rules.get(ep), engine=evaluation.engine)
        problems += res.problems
        for r in res.results:
            rid = str(r.meta.get("rule_id") or r.meta.get("id") or f"{namespace}.{r.rule}")
            if rules is not None and rid not in rules:
                continue
            (warn if r.kind == "warn" else deny).append(r.message)
    return deny, warn, problems


def run_case_files(
    modules: Sequence[Module], case_docs: Sequence[Document], *, engine_name: str | None = None,
    rego_version: str = "v1",
) -> list[CaseOutcome]:
    """Evaluate every case in one engine process and compare with the expected messages."""
    entrypoints = sorted({m.entrypoint for m in modules})
    jobs: list[tuple[list[Any], dict[str, Any]]] = []
    meta: list[tuple[Document, dict[str, Any], int]] = []
    for doc in case_docs:
        spec = doc.data
        base_data = spec.get("data") or {}
        for i, case in enumerate(spec["cases"]):
            pointer = f"/cases/{i}"
            line = doc.line_of(pointer)
            if not isinstance(case, dict) or ("input" not in case and "documents" not in case):
                raise InputError("a case needs 'input' or 'documents'", doc.path, line)
            if "deny" not in case and "warn" not in case:
                raise InputError("a case needs an expected 'deny' (and/or 'warn') list", doc.path, line)
            inputs = case["documents"] if "documents" in case else [case["input"]]
            if not isinstance(inputs, list) or not inputs:
                raise InputError("'documents' must be a non-empty list", doc.path, line)
            data = deep_merge(copy.deepcopy(base_data), case.get("data") or {})
            deep_merge(data, {"edgegate": inventory_data(inputs)})
            jobs.append((inputs, data))
            meta.append((doc, case, line))
    evaluations = _evaluate_cases(modules, jobs, entrypoints, engine_name, rego_version)
    outcomes: list[CaseOutcome] = []
    for (doc, case, line), evaluation in zip(meta, evaluations, strict=True):
        name = str(case.get("name") or f"case at line {line}")
        rules_spec = doc.data.get("rules")
        rules = {str(r) for r in rules_spec} if isinstance(rules_spec, list) else None
        if isinstance(evaluation, EngineError):
            outcomes.append(CaseOutcome(doc.path, line, name, False, f"error: {evaluation}", error=True))
            continue
        if evaluation.errors:
            outcomes.append(CaseOutcome(doc.path, line, name, False, "Rego evaluation error", error=True))
            continue
        got_deny: list[str] = []
        got_warn: list[str] = []
        problems: list[str] = []
        for per_ns in evaluation.results:
            d, w, bad = _results_of(per_ns, rules, evaluation)
            got_deny += d
            got_warn += w
            problems += bad
        if "deny" in case and Counter(map(str, case["deny"] or [])) != Counter(got_deny):
            problems.append(f"deny: expected {sorted(map(str, case['deny'] or []))}, got {sorted(got_deny)}")
        if "warn" in case and Counter(map(str, case["warn"] or [])) != Counter(got_warn):
            problems.append(f"warn: expected {sorted(map(str, case['warn'] or []))}, got {sorted(got_warn)}")
        outcomes.append(CaseOutcome(doc.path, line, name, not problems, "; ".join(problems)))
    return outcomes


def _evaluate_cases(
    modules: Sequence[Module], jobs: Sequence[tuple[list[Any], dict[str, Any]]], entrypoints: Sequence[str],
    engine_name: str | None, rego_version: str,
) -> list[engine.Evaluation | EngineError]:
    """Every case in one engine process. A runtime error (a conflict, a builtin error) stops
    that one query, so the cases are then split in halves until each error is one case's: those
    cases are ERRORs and the others still report, as ``opa test`` reports each test."""
    if not jobs:
        return []
    try:
        return list(engine.evaluate_many(modules, jobs, entrypoints=entrypoints, engine=engine_name,
                                         rego_version=rego_version))
    except EngineError as exc:
        if not exc.message.startswith("Rego evaluation error"):
            raise  # a compile error, a time or memory limit: nothing to gain case by case
        if len(jobs) == 1:
            return [exc]
    half = len(jobs) // 2
    return (_evaluate_cases(modules, jobs[:half], entrypoints, engine_name, rego_version)
            + _evaluate_cases(modules, jobs[half:], entrypoints, engine_name, rego_version))


def _run_opa_tests(
    modules: Sequence[Module], data: dict[str, Any] | None, rego_version: str
) -> list[CaseOutcome]:
    from edgegate.policy import opa

    outcomes = []
    for t in opa.run_tests(modules, data, rego_version=rego_version):
        if t.result == "skip":
            continue
        message = "" if t.result == "pass" else f"{t.result}: {t.message}" if t.message else t.result
        outcomes.append(CaseOutcome(t.path, t.line, t.name, t.result == "pass", message, error=t.result == "error"))
    return outcomes


def run_rego_tests(
    modules: Sequence[Module], *, engine_name: str | None = None, data: dict[str, Any] | None = None,
    rego_version: str = "v1",
) -> list[CaseOutcome]:
    """Run every ``test_*`` rule: with OPA's test runner (``opa test`` semantics: ``with``,
    data, errors), or on regopy, where a test passes only when it evaluates to true."""
    if engine.check_engine(engine_name) == "opa":
        return _run_opa_tests(modules, data, rego_version)
    queries: list[tuple[Module, str, int]] = []
    for m in modules:
        for match in _TEST_RULE.finditer(m.source):
            line = m.source[: match.start()].count("\n") + 1
            name = match.group(1)
            if not any(q[0].package == m.package and q[1] == name for q in queries):
                queries.append((m, name, line))
    if not queries:
        return []
    from edgegate.policy import _regopy

    results, _ = _regopy.query(modules, [f"data.{m.package}.{name}" for m, name, _ in queries])
    row = results[0] if results else {}
    outcomes = []
    for m, name, line in queries:
        res = row.get(f"data.{m.package}.{name}", {"ok": False})
        if not res.get("ok"):
            why = f": {res['message']}" if res.get("message") else ""
            outcomes.append(CaseOutcome(m.path, line, f"{m.package}.{name}", False,
                                        f"error{why} (regopy could not evaluate this test; see docs/policy.md)",
                                        error=True))
        elif res.get("value") is True:
            outcomes.append(CaseOutcome(m.path, line, f"{m.package}.{name}", True))
        else:
            outcomes.append(CaseOutcome(m.path, line, f"{m.package}.{name}", False,
                                        f"expected true, got {res.get('value')!r}"))
    return outcomes


def test_policies(
    folders: Sequence[str | Path], *, engine_name: str | None = None, data: dict[str, Any] | None = None,
    rego_version: str = "v1",
) -> GateResult:
    """Run the Rego tests and YAML cases under `folders`."""
    started = time.perf_counter()
    paths = [Path(f) for f in folders]
    all_modules = load_modules(paths, include_tests=True)
    chosen = engine.prepare(all_modules, engine_name)
    modules = [m for m in all_modules if not m.is_test]
    case_docs = _case_files(paths)
    outcomes = run_case_files(modules, case_docs, engine_name=chosen, rego_version=rego_version) if modules else []
    outcomes += run_rego_tests(all_modules, engine_name=chosen, data=data, rego_version=rego_version)
    if not outcomes:
        raise InputError(f"no tests found in {', '.join(map(str, folders))} (test_* rules or YAML cases)")
    findings = [
        Finding(
            gate=GATE,
            rule_id=f"test/{o.name}",
            severity=Severity.HIGH,
            title="policy test errored" if o.error else "policy test failed",
            message=f"{o.name}: {o.message}",
            location=Location(o.file, o.line),
        )
        for o in outcomes
        if not o.passed
    ]
    passed = sum(1 for o in outcomes if o.passed)
    errored = [o for o in outcomes if o.error]
    stats = {
        "passed": passed,
        "failed": len(outcomes) - passed - len(errored),
        "errored": len(errored),
        "engine": chosen,
        "seconds": round(time.perf_counter() - started, 3),
        "tables": [
            {
                "title": "Policy tests",
                "columns": ["test", "file", "result"],
                "rows": [[o.name, f"{o.file}:{o.line}", o.result] for o in outcomes],
            }
        ],
    }
    # an ERROR is a test that was not decided: the gate is an error (exit 2), every test reported
    errors = [f"{o.name} ({o.file}:{o.line}): {o.message}" for o in errored]
    return GateResult.decide(GATE, findings, errors=errors, stats=stats)


test_policies.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
