"""Graph walk for `model quant`: op types, QDQ pairs and compute ops still fed by float weights,
over the main graph, model-local functions and every subgraph (`If`, `Loop`, `Scan`).

A compute op counts as float when one of its weight inputs is a float initializer (or a float
`Constant`), directly or through ops that only move or re-type it (Cast, Transpose, Reshape, …).
An input produced by a DequantizeLinear is a quantized weight; an input produced by any other
op is an activation, so activation × activation MatMuls are not counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

#: compute op → indices of its inputs that hold weights.
WEIGHT_INPUTS: Mapping[str, tuple[int, ...]] = {
    "MatMul": (0, 1), "Gemm": (0, 1), "Conv": (1,), "ConvTranspose": (1,), "Einsum": (0, 1, 2, 3),
    "LSTM": (1, 2), "GRU": (1, 2), "RNN": (1, 2), "Attention": (1,), "MultiHeadAttention": (1, 2),
    "FusedMatMul": (0, 1), "FusedGemm": (0, 1), "FusedConv": (1,),
}
#: ops that pass a weight on unchanged in value (only moved, reshaped or re-typed).
PASS_THROUGH = frozenset({"Cast", "CastLike", "Transpose", "Reshape", "Identity", "Squeeze", "Unsqueeze",
                          "Flatten", "Expand"})
_FLOAT_TYPES = frozenset({1, 10, 11, 16})  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
_LOW_BIT_INT = frozenset({2, 3, 21, 22, 25, 26})  # UINT8, INT8, UINT4, INT4, UINT2, INT2
_MAX_DEPTH = 64


@dataclass
class GraphFacts:
    op_types: Counter[str] = field(default_factory=Counter)
    qdq_pairs: int = 0
    dq_weights: int = 0
    float_compute_ops: Counter[str] = field(default_factory=Counter)
    float_weights: dict[str, Any] = field(default_factory=dict)
    """Float initializers (or Constant tensors) feeding compute ops: name → TensorProto."""
    subgraphs: int = 0
    float_stored_qdq: dict[str, Any] = field(default_factory=dict)
    """Weights stored as float and quantized by a QuantizeLinear in the graph (at load time)."""


@dataclass
class _Scope:
    initializers: dict[str, Any]
    producers: dict[str, Any]
    parent: _Scope | None = None

    def initializer(self, name: str) -> Any | None:
        s: _Scope | None = self
        while s is not None:
            if name in s.initializers:
                return s.initializers[name]
            s = s.parent
        return None

    def producer(self, name: str) -> Any | None:
        s: _Scope | None = self
        while s is not None:
            if name in s.producers:
                return s.producers[name]
            s = s.parent
        return None


def text(value: Any) -> str:
    """A protobuf string field as text: protobuf hands back `bytes` when it is not UTF-8."""
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def _subgraphs(node: Any) -> Iterator[Any]:
    for attr in node.attribute:
        if attr.HasField("g"):
            yield attr.g
        yield from attr.graphs


def _constant_tensor(node: Any) -> Any | None:
    for attr in node.attribute:
        if attr.name == "value" and attr.HasField("t"):
            return attr.t
    return None


def _weight_origin(name: str, scope: _Scope) -> tuple[str, str, Any] | None:
    """('float'|'quantized', name, TensorProto) when `name` is a weight, else None."""
    seen = 0
    while name and seen < 1000:
        seen += 1
        init = scope.initializer(name)
        if init is not None:
            return ("float" if int(init.data_type) in _FLOAT_TYPES else "quantized", name, init)
        node = scope.producer(name)
        if node is None:
            return None  # a graph input: an activation
        if node.op_type == "Constant":
            t = _constant_tensor(node)
            return None if t is None else ("float" if int(t.data_type) in _FLOAT_TYPES else "quantized", name, t)
        if node.op_type == "DequantizeLinear":
            return ("quantized", name, None)
        if node.op_type not in PASS_THROUGH or not node.input:
            return None
        name = node.input[0]
    return None


def _walk(nodes: Any, scope: _Scope, facts: GraphFacts, depth: int) -> None:
    if depth > _MAX_DEPTH:
        from edgegate.errors import InputError

        raise InputError(f"subgraphs nested deeper than {_MAX_DEPTH} levels")
    for node in nodes:
        op = text(node.op_type)
        facts.op_types[op] += 1
        if op == "DequantizeLinear" and node.input:
            src = scope.producer(node.input[0])
            if src is not None and src.op_type == "QuantizeLinear":
                facts.qdq_pairs += 1
                origin = _weight_origin(src.input[0], scope) if src.input else None
                if origin is not None and origin[0] == "float":
                    facts.float_stored_qdq.setdefault(origin[1], origin[2])
            init = scope.initializer(node.input[0])
            if init is not None and int(init.data_type) in _LOW_BIT_INT:
                facts.dq_weights += 1
        positions = WEIGHT_INPUTS.get(op)
        if positions and text(node.domain) in ("", "ai.onnx", "com.microsoft"):
            floats = [o for i in positions if i < len(node.input) and node.input[i]
                      if (o := _weight_origin(node.input[i], scope)) is not None and o[0] == "float"]
            if floats:
                facts.float_compute_ops[op] += 1
                for _, init_name, tensor in floats:
                    facts.float_weights.setdefault(init_name, tensor)
        for g in _subgraphs(node):
            facts.subgraphs += 1
            _walk(g.node, _graph_scope(g, scope), facts, depth + 1)


def _graph_scope(graph: Any, parent: _Scope | None) -> _Scope:
    inits = {t.name: t for t in graph.initializer}
    for sp in graph.sparse_initializer:
        inits[sp.values.name] = sp.values
    producers = {out: n for n in graph.node for out in n.output if out}
    return _Scope(inits, producers, parent)


def analyse(model: Any) -> GraphFacts:
    """Facts over the main graph, its subgraphs and the model-local functions."""
    facts = GraphFacts()
    _walk(model.graph.node, _graph_scope(model.graph, None), facts, 0)
    for fn in model.functions:
        producers = {out: n for n in fn.node for out in n.output if out}
        _walk(fn.node, _Scope({}, producers, None), facts, 0)
    return facts
