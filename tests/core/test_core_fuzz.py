"""Property-based tests (hypothesis) over the readers of untrusted input: the io/ readers, the
quantity and cron parsers, OSV records and package URLs. Each may return a value or raise
edgegate's own error type, nothing else.

The budget is small in the normal run (``EDGEGATE_FUZZ_EXAMPLES``, default 40 examples per test);
``bench/fuzz.sh`` runs the same tests with a large budget.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgegate.errors import EdgegateError
from edgegate.finops.cron import CronError, runs_per_month
from edgegate.finops.quantities import MAX_QUANTITY, QuantityError, format_cpu, format_memory, parse_quantity
from edgegate.io.documents import load_documents, load_yaml_text
from edgegate.io.files import decode_text
from edgegate.io.parse import loads_json, loads_toml
from edgegate.vuln.osv import MalformedRecord, advisory_from_record, evaluate

pytestmark = pytest.mark.fuzz

FUZZ = settings(settings.get_profile("edgegate-fuzz"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Text made of the characters that matter to the parsers, so short examples reach deep states.
_YAMLISH = st.text(alphabet=st.sampled_from(list("ab01.-:{}[],'\"!&*<>|#\n \t?%@`~=e+")), max_size=200)
_JSONISH = st.text(alphabet=st.sampled_from(list('{}[],:"\\ 0123456789.eE+-truefalsn\n')), max_size=200)
_TOMLISH = st.text(alphabet=st.sampled_from(list("ab=[]{}.,'\"\n 0123456789#:-+e_TZ")), max_size=200)

_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20))
_JSON_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=30,
)


@FUZZ
@given(st.one_of(_YAMLISH, st.text(max_size=200)))
def test_yaml_reader_raises_only_input_errors(text: str) -> None:
    try:
        load_yaml_text(text, "f.yaml")
    except EdgegateError:
        pass


@FUZZ
@given(st.one_of(_JSONISH, st.text(max_size=200), st.binary(max_size=100)))
def test_json_reader_raises_only_input_errors(text: str | bytes) -> None:
    try:
        loads_json(text, "f.json")
    except EdgegateError:
        pass


@FUZZ
@given(st.one_of(_TOMLISH, st.text(max_size=200)))
def test_toml_reader_raises_only_input_errors(text: str) -> None:
    try:
        loads_toml(text, "f.toml")
    except EdgegateError:
        pass


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([".yaml", ".json", ".toml"]))
def test_document_files_raise_only_input_errors(tmp_path_factory: pytest.TempPathFactory, data: bytes,
                                                suffix: str) -> None:
    f: Path = tmp_path_factory.mktemp("fuzz") / f"doc{suffix}"
    f.write_bytes(data)
    try:
        docs = load_documents(f)
    except EdgegateError as exc:
        assert exc.path == str(f)  # every error names the file
        return
    assert all(d.path == str(f) for d in docs)


@FUZZ
@given(st.binary(max_size=200))
def test_text_decoding_raises_only_input_errors(data: bytes) -> None:
    try:
        decode_text(data, "f")
    except EdgegateError:
        pass


_QUANTITY_TEXT = st.one_of(
    st.from_regex(r"\A[+-]?[0-9]{0,30}(\.[0-9]{0,10})?(Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]{1,3}|[numkMGTPE])?\Z"),
    st.text(max_size=70),
)


@FUZZ
@given(st.one_of(_QUANTITY_TEXT, st.integers(), st.floats(), st.none(), st.booleans()))
def test_quantities_parse_within_range_or_raise_quantity_errors(value: Any) -> None:
    try:
        amount = parse_quantity(value)
    except QuantityError:
        return
    assert abs(amount) <= MAX_QUANTITY
    if amount >= 0:  # what the rightsizer writes back must not crash either
        assert format_cpu(amount)
        assert format_memory(amount)


_CRON_FIELD = st.text(alphabet=st.sampled_from(list("0123456789*/,-LW#?JANFEBMONSU ")), min_size=1, max_size=8)


@FUZZ
@given(st.one_of(st.lists(_CRON_FIELD, min_size=1, max_size=7).map(" ".join), st.text(max_size=60)))
def test_cron_schedules_give_runs_or_cron_errors(schedule: str) -> None:
    try:
        runs = runs_per_month(schedule)
    except CronError:
        return
    assert isinstance(runs, Decimal) and runs >= 0


_EVENT = st.dictionaries(st.sampled_from(["introduced", "fixed", "last_affected", "limit", "other"]),
                         st.one_of(st.text(alphabet="0123456789.-rc_apb~:+", max_size=10), _SCALAR),
                         min_size=0, max_size=2)
_RECORD = st.fixed_dictionaries(
    {"id": st.one_of(st.just("FUZZ-1"), _SCALAR)},
    optional={
        "affected": st.one_of(_JSON_VALUE, st.lists(st.fixed_dictionaries(
            {"package": st.one_of(st.fixed_dictionaries({
                "ecosystem": st.sampled_from(["PyPI", "npm", "Debian:12", "Alpine:v3.19", "Ubuntu:22.04", "Go", 1]),
                "name": st.one_of(st.just("pkg"), _SCALAR)}), _JSON_VALUE)},
            optional={"ranges": st.lists(st.fixed_dictionaries(
                {"type": st.sampled_from(["ECOSYSTEM", "SEMVER", "GIT", "X"]), "events": st.lists(_EVENT, max_size=4)}),
                max_size=2),
                "versions": st.lists(st.one_of(st.text(max_size=8), _SCALAR), max_size=3)}), max_size=2)),
        "aliases": _JSON_VALUE,
        "withdrawn": st.one_of(st.none(), st.text(max_size=5)),
        "severity": _JSON_VALUE,
        "database_specific": _JSON_VALUE,
    },
)


@FUZZ
@given(_RECORD, st.text(alphabet="0123456789.-rc_apb~:+", min_size=1, max_size=10))
def test_osv_records_load_or_are_malformed_and_evaluate_without_errors(record: Any, version: str) -> None:
    try:
        adv = advisory_from_record(record, "fuzz.json", [])
    except MalformedRecord:
        return
    for entry in adv.affected if adv else ():
        evaluate(entry, version)  # an unorderable version is UNKNOWN, never an exception


@FUZZ
@given(st.one_of(
    st.from_regex(r"\Apkg:(pypi|npm|deb|apk|golang|generic)/[a-z%@/._-]{0,20}(@[0-9a-z.:~+-]{0,10})?"
                  r"(\?[a-z]+=[a-z0-9%.-]{0,8}(&[a-z]+=[a-z0-9%.-]{0,8})?)?(#[a-z/]{0,5})?\Z"),
    st.text(max_size=60),
))
def test_purls_give_components_never_exceptions(purl: str) -> None:
    from edgegate.vuln.components import component_from_purl

    try:
        comp = component_from_purl(purl, "bom.json")
    except EdgegateError:
        return
    assert comp.source == "bom.json"
