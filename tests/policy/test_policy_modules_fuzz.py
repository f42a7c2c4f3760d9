"""Property-based tests (hypothesis) over the Rego static checks of `edgegate.policy.modules`:
random and mutated Rego text, deep nesting, NULs and unicode give a result or edgegate's own
error, never another exception. Budget: ``EDGEGATE_FUZZ_EXAMPLES`` (default 40; bench/fuzz.sh
runs many more). Not yet here: a differential property against ``opa check``."""

from __future__ import annotations

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
