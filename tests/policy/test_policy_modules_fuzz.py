"""Property-based tests (hypothesis) over the Rego static checks of `edgegate.policy.modules`:
random and mutated Rego text, deep nesting, NULs and unicode give a result or edgegate's own
error, never another exception. Budget: ``EDGEGATE_FUZZ_EXAMPLES`` (default 40; bench/fuzz.sh
runs many more). Differential: the package and the top-level names edgegate reads from a module
(`rule_names`, which the static checks and the result-rule lookup build on) equal those in OPA's
own AST (``opa parse --format json``) on generated v1 modules; on the real material (conftest's
examples, the shipped pack, redhat-cop/rego-policies, open-policy-agent/library: 169 files) they
agreed too (checked one-off, 2026-12-04)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgegate.errors import EdgegateError
from edgegate.policy.modules import (
    Module,
    check_supported,
    engine_source,
    ensure_supported,
    load_modules,
    result_rules,
    rule_names,
)

pytestmark = pytest.mark.fuzz

FUZZ = settings(settings.get_profile("edgegate-fuzz"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

_SEED = """package main

import rego.v1

deny contains msg if {
    some i
    endswith(input.c[i].image, ":latest")
    msg := sprintf("%q %v", [input.c[i].name, count(input.c)])
}

f(x) := y if { y := x * 2 }
default allow := false
allow if { every c in input.c { c.ok } }
labs := {k: v | v := input.labels[k]}
"""
_REGOISH = st.text(alphabet=st.sampled_from(list("abdefiklmnoprstuy_.:=[](){}|,;\"`#\n \t0123456789%\x00é顔")), max_size=300)


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    text = _SEED
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(text)))
        end = min(len(text), at + draw(st.integers(0, 20)))
        text = text[:at] + draw(_REGOISH.filter(lambda s: len(s) < 30)) + text[end:]
    return text


def _all_checks(source: str) -> None:
    mod = Module("p.rego", source, "main")
    rule_names(mod)
    result_rules([mod], "main")
    check_supported(mod)
    engine_source(mod)
    try:
        ensure_supported([mod])
    except EdgegateError:
        pass


@FUZZ
@given(st.one_of(_REGOISH, _mutated(), st.text(max_size=200)))
def test_static_checks_raise_only_edgegate_errors(source: str) -> None:
    _all_checks(source)


@FUZZ
@given(st.one_of(_mutated(), _REGOISH), st.integers(1, 3000), st.sampled_from(["[", "{", "(", "\"", "`", "#"]))
def test_files_load_or_are_refused(tmp_path_factory: pytest.TempPathFactory, source: str, depth: int, opener: str) -> None:
    f: Path = tmp_path_factory.mktemp("rego") / "p.rego"
    f.write_text(source + "\nx := " + opener * depth + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        mods = load_modules([f])
    except EdgegateError:
        return
    for mod in mods:
        _all_checks(mod.source)


# --- differential: edgegate's reading of a module against OPA's parser ---------------------------

_IDENT = st.sampled_from(["deny", "warn", "violation", "deny_x", "exception", "allow", "f", "g", "p", "msg_of",
                          "data_x", "input_y", "every_z", "q2"])
_VALUE = st.sampled_from(['"a"', '"a{b}#c"', "`raw # {`", "1", "true", "[1, 2]", '{"k": "v"}', "input.x",
                          "count(input.c)", '{x | some x in input.c}', '"if contains"'])
_BODY = st.lists(st.sampled_from(["input.kind == \"Pod\"", "some c in input.c", "x := 1",
                                  "not input.ok # a comment { [", "every c in input.c { c.ok }",
                                  "startswith(input.name, \"a\")"]), min_size=1, max_size=3)


@st.composite
def _rule(draw: st.DrawFn) -> str:
    name = draw(_IDENT)
    body = "\n    ".join(draw(_BODY))
    form = draw(st.integers(0, 6))
    if form == 0:
        return f"{name} contains msg if {{\n    {body}\n    msg := {draw(_VALUE)}\n}}"
    if form == 1:
        return f"{name} := {draw(_VALUE)}"
    if form == 2:
        return f"default {name} := false"
    if form == 3:
        return f"{name}(a) := b if {{\n    b := a\n}}"
    if form == 4:
        return f"{name}.sub.leaf := {draw(_VALUE)} if {{\n    {body}\n}}"
    if form == 5:
        return f"{name} if {{\n    {body}\n}} else := {draw(_VALUE)}"
    return f"{name}[k] := v if {{\n    some k, v in input.m\n}}"


@st.composite
def _v1_module(draw: st.DrawFn) -> str:
    package = ".".join(draw(st.lists(st.sampled_from(["main", "lib", "k8s", "a_b"]), min_size=1, max_size=3)))
    imports = draw(st.lists(st.sampled_from(["import rego.v1", "import data.lib.util", "import data.lib as l",
                                             "import input.spec as spec", "import future.keywords.in"]),
                            max_size=3, unique=True))
    rules = draw(st.lists(_rule(), min_size=1, max_size=5))
    return "\n".join([f"package {package}", *imports, "# a comment: deny := 1", *rules]) + "\n"


def _opa_reading(opa: str, path: Path) -> tuple[str, set[str]] | None:
    proc = subprocess.run([opa, "parse", "--format", "json", str(path)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return None  # not a module OPA accepts (two rule kinds for one name, ...): nothing to compare
    ast = json.loads(proc.stdout)
    package = ".".join(str(t["value"]) for t in ast["package"]["path"][1:])
    names: set[str] = set()
    for imp in ast.get("imports") or []:
        names.add(imp.get("alias") or imp["path"]["value"][-1]["value"])
    for rule in ast.get("rules") or []:
        head = rule["head"]
        names.add(head["ref"][0]["value"] if head.get("ref") else head["name"])
    return package, names


@pytest.fixture(scope="module")
def opa() -> str:
    from edgegate.errors import EngineError
    from edgegate.policy.opa import find_opa

    try:
        return find_opa().path
    except EngineError as exc:
        pytest.skip(f"no opa: {exc.message}")


@FUZZ
@given(_v1_module())
def test_package_and_names_equal_opas_parse(opa: str, tmp_path_factory: pytest.TempPathFactory, source: str) -> None:
    f = tmp_path_factory.mktemp("rego") / "m.rego"
    f.write_text(source, encoding="utf-8")
    reading = _opa_reading(opa, f)
    if reading is None:
        return
    (mod,) = load_modules([f])
    assert (mod.package, rule_names(mod)) == reading
