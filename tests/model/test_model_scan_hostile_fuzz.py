"""Issue 15: property-based tests over the model-file readers, through their public entry
points only (`scan_paths`, the ML-BOM scanner): any bytes behind a model file name give a result
or one of edgegate's own errors, never another exception."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgegate.errors import EdgegateError

pytestmark = pytest.mark.fuzz

FUZZ = settings(settings.get_profile("edgegate-fuzz"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12,
)


def _safetensors(header: object, tail: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + tail


_FILES = st.one_of(
    st.tuples(st.just(".pkl"), st.binary(max_size=200).map(lambda b: b"\x80\x04" + b)),
    st.tuples(st.just(".safetensors"), st.builds(_safetensors, _JSON, st.binary(max_size=64))),
    st.tuples(st.just(".gguf"), st.binary(max_size=200).map(lambda b: b"GGUF" + b)),
    st.tuples(st.just(".onnx"), st.binary(max_size=200)),
    st.tuples(st.just(".npy"), st.binary(max_size=200).map(lambda b: b"\x93NUMPY" + b)),
    st.tuples(st.just(".zip"), st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b)),
)


def _write(tmp_path_factory: pytest.TempPathFactory, suffix: str, data: bytes) -> Path:
    f = tmp_path_factory.mktemp("mfuzz") / f"model{suffix}"
    f.write_bytes(data)
    return f


@FUZZ
@given(_FILES)
def test_model_scan_gives_a_result_or_an_input_error(tmp_path_factory: pytest.TempPathFactory,
                                                     case: tuple[str, bytes]) -> None:
    from edgegate.model.scan.engine import scan_paths

    f = _write(tmp_path_factory, *case)
    try:
        scan_paths([f])
    except EdgegateError:
        pass


@FUZZ
@given(_FILES)
def test_mlbom_scan_gives_a_result_or_an_input_error(tmp_path_factory: pytest.TempPathFactory,
                                                     case: tuple[str, bytes]) -> None:
    from edgegate.sbom.mlbom import scan_model

    f = _write(tmp_path_factory, *case)
    try:
        scan_model(str(f), progress=False)
    except EdgegateError:
        pass


def test_safetensors_header_with_list_fields(tmp_path: Path) -> None:
    from edgegate.model.scan.engine import scan_paths

    f = tmp_path / "t.safetensors"
    f.write_bytes(_safetensors({"": {"dtype": [], "shape": [], "data_offsets": []}}, b""))
    try:
        scan_paths([f])
    except EdgegateError:
        pass
