"""Open an ONNX model for `model quant` so that only a model worth judging gets through.

Refused (exit 2) before any fact is reported: a path that is not a regular file, an empty file,
bytes that are not a protobuf (checked by walking the top-level and graph fields with `seek`,
so a 1 GiB sparse file is refused after a few reads), a ModelProto without an IR version or a
graph, a graph without nodes, and any external-data reference that is absolute, leaves the
model's folder, is missing or points past the end of its file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.io.files import human_size, open_input
from edgegate.io.protobuf import Field, iter_fields

MAX_ONNX_BYTES = 2 * 1024**3
"""ONNX protobufs cannot exceed 2 GiB."""

_MODEL_IR_VERSION, _MODEL_GRAPH = 1, 7
_LEN = 2
_GRAPH_MESSAGES = frozenset({1, 5, 15})  # GraphProto.node, .initializer, .sparse_initializer
_GRAPH_FIELDS_WALKED = 10_000
_PEEK_ABOVE = 1024 * 1024


def _probe(path: Path) -> None:
    """Framing of the ModelProto and its GraphProto, read by seeking (never the whole file)."""
    with open_input(path) as fh:  # regular files only: a FIFO or device is refused, never read
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise InputError("empty file (0 bytes): no ONNX model to judge", path)
        if size > MAX_ONNX_BYTES:
            raise InputError(f"larger than the {human_size(MAX_ONNX_BYTES)} ONNX protobuf limit", path)
        graph: Field | None = None
        ir_version = False
        for f in iter_fields(fh, 0, size):
            if f.number == _MODEL_GRAPH:
                if f.wire_type != _LEN:
                    raise InputError("not a valid ONNX model: the graph field has the wrong wire type", path)
                graph = f
            elif f.number == _MODEL_IR_VERSION:
                ir_version = True
        if graph is None:
            raise InputError("the ONNX model has no graph: nothing to judge", path)
        if not ir_version:
            raise InputError("not a valid ONNX model: no ir_version", path)
        for i, f in enumerate(iter_fields(fh, graph.start, graph.end)):
            if i >= _GRAPH_FIELDS_WALKED:
                break  # the rest is left to the parser: the walk only has to catch junk early
            if f.number in _GRAPH_MESSAGES and f.wire_type == _LEN and f.end - f.start > _PEEK_ABOVE:
                next(iter_fields(fh, f.start, f.end), None)  # a large node/tensor must start like one


def _protobuf_error(exc: InputError, path: Path) -> InputError:
    return InputError(f"not a valid ONNX model: {exc.message}", path)


def load_model(path: str | Path) -> Any:
    """The checked ModelProto (external data not loaded); every refusal is an `InputError`."""
    import onnx

    from edgegate.io.protobuf import ProtobufError

    p = Path(path)
    try:
        _probe(p)
    except ProtobufError as exc:
        raise _protobuf_error(exc, p) from None
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"not a valid ONNX model: {text[:200]}", p) from None
    if not model.HasField("graph"):
        raise InputError("the ONNX model has no graph: nothing to judge", p)
    if not model.graph.node:
        raise InputError("the ONNX graph has no nodes: nothing to judge", p)
    check_external_data(model, p)
    return model


def check_external_data(model: Any, path: Path) -> None:
    """Every external-data reference must be inside the model's folder, present and in range."""
    from edgegate.model.scan.formats import FormatError
    from edgegate.model.scan.onnx import external_refs

    try:
        refs = external_refs(model, path)
    except FormatError as exc:
        raise InputError(f"not a valid ONNX model: {exc}", path) from None
    for ref in refs:
        if ref.problem is not None:
            raise InputError(f"tensor {ref.tensor!r}: {ref.problem} ({ref.location!r})", path)


def external_files(model: Any, path: Path) -> list[Path]:
    """The external-data files a checked model references (resolved, inside its folder)."""
    from edgegate.model.scan.onnx import iter_tensors

    base = path.resolve().parent
    out: set[Path] = set()
    for t in iter_tensors(model):
        if t.data_location == 1:  # TensorProto.EXTERNAL
            loc = {e.key: e.value for e in t.external_data}.get("location")
            if loc:
                out.add((base / loc).resolve())
    return sorted(out)


def size_on_disk(model: Any, path: Path) -> int:
    """Bytes of the model file plus every external-data file it references."""
    return path.stat().st_size + sum(f.stat().st_size for f in external_files(model, path))
