"""ONNX external-data checks: a tensor's `location` must stay inside the model's folder.

An absolute path, a `..` component or a symlink that resolves outside the folder lets a model
read any file on the loading host (CVE-2024-27318 and CVE-2024-5187 class). The model is
parsed with `load_external_data=False`, so no external file is ever opened here except to
`stat` it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

from edgegate.model.scan.formats import FormatError

#: ONNX protobufs cannot exceed 2 GiB.
MAX_ONNX_BYTES = 2 * 1024 * 1024 * 1024
MAX_TENSORS = 1_000_000


@dataclass
class ExternalRef:
    tensor: str
    location: str
    problem: str | None
    """None: fine. Otherwise why it is dangerous or broken."""
    critical: bool


MAX_TOP_FIELDS = 1 << 20
_GRAPH_FIELD = 7


def check_wire(fh: BinaryIO, size: int) -> None:
    """Walk the top-level fields of a ModelProto, reading only tags and lengths (a 1 GiB file is
    a few seeks): bytes that are no ModelProto, or one without a graph, are refused before onnx
    parses the whole file into memory."""
    fh.seek(0)
    pos = 0
    fields = 0
    graph = False
    while pos < size:
        tag, pos = _varint(fh, pos, size)
        number, wire = tag >> 3, tag & 7
        if number == 0 or wire in (3, 4, 6, 7):
            raise FormatError(f"not a valid ONNX model: no protobuf field at byte {pos}")
        if wire == 0:
            _, pos = _varint(fh, pos, size)
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            length, pos = _varint(fh, pos, size)
            pos += length
            graph = graph or number == _GRAPH_FIELD
        if pos > size:
            raise FormatError(f"not a valid ONNX model: field {number} runs past the end of the file")
        fh.seek(pos)
        fields += 1
        if fields > MAX_TOP_FIELDS:
            raise FormatError(f"ONNX model has more than {MAX_TOP_FIELDS} top-level fields")
    if not graph:
        raise FormatError("ONNX model has no graph: nothing to check" if size else "empty ONNX file")
    fh.seek(0)


def _varint(fh: BinaryIO, pos: int, size: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = fh.read(1)
        if not b:
            raise FormatError("not a valid ONNX model: truncated")
        pos += 1
        value |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise FormatError(f"not a valid ONNX model: bad varint at byte {pos}")


def load_onnx_proto(data: bytes | None = None, path: Path | None = None) -> Any:
    """Parse an ONNX model without loading external data; bad bytes are a `FormatError`."""
    import onnx

    try:
        if data is not None:
            return onnx.load_model_from_string(data)
        assert path is not None
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, RuntimeWarning-as-error, ...
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FormatError(f"not a valid ONNX model: {text[:200]}") from None


def iter_tensors(model: Any) -> Iterator[Any]:
    """Every TensorProto in the model: initializers, sparse initializers and tensor, sparse-tensor
    and graph attributes, in the main graph, subgraphs and model-local functions."""
    graphs = [model.graph]
    nodes: list[Any] = []
    for fn in getattr(model, "functions", []):
        nodes.extend(fn.node)
    count = 0
    while graphs or nodes:
        if graphs:
            g = graphs.pop()
            for t in g.initializer:
                count += 1
                yield t
            for sp in g.sparse_initializer:
                count += 1
                yield sp.values
                yield sp.indices
            nodes.extend(g.node)
        while nodes:
            node = nodes.pop()
            for attr in node.attribute:
                if attr.HasField("t"):
                    count += 1
                    yield attr.t
                yield from attr.tensors
                if attr.HasField("sparse_tensor"):
                    count += 1
                    yield attr.sparse_tensor.values
                    yield attr.sparse_tensor.indices
                for sp in attr.sparse_tensors:
                    yield sp.values
                    yield sp.indices
                count += len(attr.tensors) + len(attr.sparse_tensors)
            graphs.extend(_attr_graphs(node))
            if count > MAX_TENSORS:
                raise FormatError(f"more than {MAX_TENSORS} tensors")
        if count > MAX_TENSORS:
            raise FormatError(f"more than {MAX_TENSORS} tensors")


def _attr_graphs(node: Any) -> list[Any]:
    out = []
    for attr in node.attribute:
        if attr.HasField("g"):
            out.append(attr.g)
        out.extend(attr.graphs)
    return out


def external_refs(model: Any, model_path: Path | None) -> list[ExternalRef]:
    """Check every external-data reference; `model_path` None means the model came from an
    archive, and only the lexical checks apply."""
    import onnx

    base = model_path.resolve().parent if model_path is not None else None
    refs: list[ExternalRef] = []
    for tensor in iter_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        loc = info.get("location", "")
        refs.append(_check(tensor.name, loc, info, base))
    return refs


def _check(name: str, loc: str, info: dict[str, str], base: Path | None) -> ExternalRef:
    if not loc:
        return ExternalRef(name, loc, "external data has no location", False)
    posix, win = PurePosixPath(loc), PureWindowsPath(loc)
    if posix.is_absolute() or win.is_absolute() or win.drive or loc.startswith(("\\", "/")):
        return ExternalRef(name, loc, "absolute external-data path", True)
    if ".." in posix.parts or ".." in win.parts:
        return ExternalRef(name, loc, "external-data path leaves the model folder ('..')", True)
    if "\x00" in loc:
        return ExternalRef(name, loc, "NUL byte in external-data path", True)
    if base is None:
        return ExternalRef(name, loc, None, False)
    target = base / loc
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError):
        return ExternalRef(name, loc, "external-data path cannot be resolved (symlink loop?)", True)
    if not resolved.is_relative_to(base):
        return ExternalRef(name, loc, f"external-data path resolves outside the model folder (to {resolved})", True)
    if not resolved.is_file():
        return ExternalRef(name, loc, "external-data file is missing", False)
    try:
        offset = int(info.get("offset", "0") or 0)
        length = int(info["length"]) if info.get("length") else None
    except ValueError:
        return ExternalRef(name, loc, "external-data offset/length is not an integer", False)
    size = resolved.stat().st_size
    if offset < 0 or offset > size or (length is not None and (length < 0 or offset + length > size)):
        return ExternalRef(name, loc, f"external-data range {offset}+{length} exceeds the file ({size} bytes)", False)
    return ExternalRef(name, loc, None, False)
