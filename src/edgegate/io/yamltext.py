"""YAML text into `Document`s: composed into nodes and built by hand, so that every JSON pointer
maps to the line it came from and alias or merge-key expansion is bounded (a "billion laughs"
file is refused instead of eating memory)."""

from __future__ import annotations

import re
from typing import Any

from edgegate.errors import InputError
from edgegate.io.documents import MAX_DEPTH, MAX_DOCUMENTS, MAX_NODES, Document, _escape
from edgegate.io.goyaml import PLAIN_TAG, json_key, plain_value, split_text
from edgegate.io.goyaml import loader as go_loader

_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"
_STR_TAG = "tag:yaml.org,2002:str"

_LINE_PREFIX = re.compile(r"^[ ?:-]*", re.MULTILINE)


class _YamlBuilder:
    """Builds Python data from a composed YAML node tree, recording lines, bounding expansion.

    Every node built counts against the budget, aliases each time they are used and merge keys
    (``<<``) for each key they copy, so nothing expands past `max_nodes`."""

    def __init__(self, path: str, max_nodes: int, *, go: bool = False) -> None:
        import yaml

        self._yaml = yaml
        self._go = go
        self._loader = yaml.SafeLoader("")
        self._path = path
        self._budget = max_nodes
        self._merging = 0
        self._merged: dict[int, tuple[dict[Any, Any], int, dict[Any, int]]] = {}
        self.lines: dict[str, int] = {}

    def build(self, node: Any, pointer: str = "") -> Any:
        """The data of `node`; `pointer` (and its children) get lines in `self.lines`."""
        return self._build(node, pointer, node.start_mark.line + 1)

    def _spend(self, node: Any) -> None:
        self._budget -= 1
        if self._budget < 0:
            what = (
                "YAML merge keys ('<<') expand to too many nodes (merge key bomb?)"
                if self._merging
                else "YAML expands to too many nodes (alias bomb?)"
            )
            raise InputError(f"{what}; refusing to load", self._path, node.start_mark.line + 1)

    def _build(self, node: Any, pointer: str, line: int | None) -> Any:
        # `line` is the line for `pointer` itself (a mapping value: its key's line); None when
        # building a merge source, whose own position is not the pointer's.
        yaml = self._yaml
        self._spend(node)
        if line is not None:
            self.lines[pointer or "/"] = line
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, pointer)
        if isinstance(node, yaml.SequenceNode):
            return [self._build(v, f"{pointer}/{i}", v.start_mark.line + 1) for i, v in enumerate(node.value)]
        if node.tag == _STR_TAG:  # what SafeConstructor.construct_yaml_str returns, without its overhead
            return node.value
        return self._go_scalar(node) if self._go else self._scalar(node)

    def _go_scalar(self, node: Any) -> Any:
        """A scalar as go-yaml v2 decodes it: plain ones by `plain_value`, ``!!binary`` as text."""
        if node.tag == PLAIN_TAG:
            return plain_value(node.value, self._path, node.start_mark.line + 1)
        value = self._scalar(node)
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else value

    def _scalar(self, node: Any) -> Any:
        try:
            return self._loader.construct_object(node, deep=True)
        except ValueError:  # a 100,000-digit int, a timestamp like 2024-13-45
            value = str(node.value)
            shown = value if len(value) <= 20 else value[:20] + "..."
            raise InputError(
                f"malformed YAML: cannot read the value {shown!r} as {node.tag.rsplit(':', 1)[-1]}",
                self._path,
                node.start_mark.line + 1,
            ) from None

    def _mapping(self, node: Any, pointer: str) -> dict[Any, Any]:
        if self._go:
            return self._go_mapping(node, pointer)
        # YAML merge keys, as PyYAML's flatten_mapping but over built (budget-counted) values:
        # merged keys first, a later "<<" over an earlier one, in "<<: [a, b]" a over b, and
        # explicit keys over all merged ones.
        sources: list[Any] = []
        explicit: list[tuple[Any, Any]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources.extend(self._merge_sources(value_node))
            else:
                explicit.append((key_node, value_node))
        out: dict[Any, Any] = {}
        self._merge_into(out, sources, pointer)
        for key_node, value_node in explicit:
            self._set(out, key_node, value_node, pointer)
        return out

    def _go_mapping(self, node: Any, pointer: str) -> dict[Any, Any]:
        # go-yaml v2 decodes a mapping's pairs in order: a "<<" sets the keys of its mappings
        # (in "<<: [a, b]" a over b) over what came before it, a later key over an earlier one.
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG and key_node.value == "<<":  # go-yaml: a merge only as "<<"
                self._merge_into(out, self._merge_sources(value_node), pointer)
            else:
                self._set(out, key_node, value_node, pointer)
        return out

    def _set(self, out: dict[Any, Any], key_node: Any, value_node: Any, pointer: str) -> None:
        key = self._scalar_key(key_node)
        out[key] = self._build(value_node, pointer + "/" + _escape(str(key)), key_node.start_mark.line + 1)

    def _merge_into(self, out: dict[Any, Any], sources: list[Any], pointer: str) -> None:
        """The keys of the mappings `sources` set in `out`, in order (a later over an earlier)."""
        if not sources:
            return
        self._merging += 1
        try:
            for source in sources:
                for key, value in self._merge_source(source, pointer).items():
                    self._spend(source)
                    out[key] = value
        finally:
            self._merging -= 1

    def _merge_source(self, node: Any, pointer: str) -> dict[Any, Any]:
        # A source merged again (an alias: "<<: *defaults" in many places) is not built again: its
        # values are shared, as PyYAML shares them, and its first build's node count is charged
        # again, so the budget stops a merge bomb after a few levels of work, not a million nodes.
        seen = self._merged.get(id(node))
        if seen is None:
            before = self._budget
            built: dict[Any, Any] = self._build(node, pointer, None)
            key_lines = {k: self.lines.get(pointer + "/" + _escape(str(k)), 0) for k in built}
            self._merged[id(node)] = (built, before - self._budget, key_lines)
            return built
        built, cost, key_lines = seen
        self._budget -= cost
        self._spend(node)
        for key, line in key_lines.items():
            self.lines[pointer + "/" + _escape(str(key))] = line
        return built

    def _merge_sources(self, node: Any) -> list[Any]:
        yaml = self._yaml
        if isinstance(node, yaml.MappingNode):
            return [node]
        if isinstance(node, yaml.SequenceNode) and all(isinstance(n, yaml.MappingNode) for n in node.value):
            return list(node.value[::-1])
        raise InputError(
            "expected a mapping or list of mappings for merging ('<<')", self._path, node.start_mark.line + 1
        )

    def _scalar_key(self, node: Any) -> Any:
        if not isinstance(node, self._yaml.ScalarNode):
            raise InputError("mapping keys must be scalars", self._path, node.start_mark.line + 1)
        if node.tag in (_STR_TAG, _VALUE_TAG):  # a plain "=" key is a string too (as in PyYAML)
            return str(node.value)
        if self._go:  # every key a string, as in the JSON kubectl sends
            if node.tag == _MERGE_TAG:
                return str(node.value)
            return json_key(self._go_scalar(node), self._path, node.start_mark.line + 1)
        key = self._scalar(node)
        try:
            hash(key)
        except TypeError:
            raise InputError("unhashable mapping key", self._path, node.start_mark.line + 1) from None
        return key


def _yaml_loader() -> Any:
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_depth(text: str, path: str) -> None:
    """Refuse YAML nested deeper than `MAX_DEPTH` before libyaml composes it.

    Nesting needs a "[" or "{" per flow level and, per two block levels, one more column of
    indentation or "- "/"? "/": " indicators: when that bound is low, nothing is parsed twice."""
    import yaml

    flow = text.count("[") + text.count("{")
    prefix = max(map(len, _LINE_PREFIX.findall(text)), default=0)
    if flow + 2 * (prefix + 1) <= MAX_DEPTH:
        return
    try:
        _count_depth(text, path, _yaml_loader())
    except yaml.YAMLError:
        # libyaml may stop at its own nesting limit before the events reach ours (its scanner reads
        # a whole flow collection ahead); PyYAML's pure-Python parser has no such limit, so it
        # tells a document that is too deep from one that is malformed.
        _count_depth(text, path, yaml.SafeLoader)
        raise


def _count_depth(text: str, path: str, loader: Any) -> None:
    import yaml

    depth = 0
    opened = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    closed = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    for event in yaml.parse(text, Loader=loader):  # the parsers keep their own stacks
        if isinstance(event, opened):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise InputError("YAML nested too deeply", path, mark.line + 1 if mark else None)
        elif isinstance(event, closed):
            depth -= 1


def load(
    text: str, path: str, max_nodes: int = MAX_NODES, max_documents: int = MAX_DOCUMENTS, *, kubectl: bool = False
) -> list[Document]:
    """The non-empty documents of a (multi-document) YAML text; `path` names it in errors.

    At most `max_nodes` nodes are built over all documents (aliases and merge keys counted each
    time they are used); malformed, hostile or too deeply nested YAML is an `InputError`. With
    `kubectl`, scalars, merge keys and document separators follow go-yaml v2 and kubectl
    (`edgegate.io.goyaml`); else PyYAML's YAML 1.1."""
    import yaml

    docs: list[Document] = []
    budget = max_nodes
    try:
        if kubectl:
            text = split_text(text, path)
        _check_depth(text, path)
        for index, node in enumerate(yaml.compose_all(text, Loader=go_loader() if kubectl else _yaml_loader())):
            if index >= max_documents:
                raise InputError(f"more than {max_documents:,} YAML documents in one file", path)
            if node is None:
                continue
            builder = _YamlBuilder(path, budget, go=kubectl)
            data = builder.build(node)
            budget = builder._budget
            if data is None:
                continue
            docs.append(
                Document(data=data, path=path, line=node.start_mark.line + 1, index=index, lines=builder.lines)
            )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        if "nesting depth" in problem:  # libyaml's own limit (0.2.5+) can come before MAX_DEPTH
            raise InputError("YAML nested too deeply", path, line) from None
        raise InputError(f"malformed YAML: {problem}", path, line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"malformed YAML: {exc}", path) from None
    except RecursionError:
        raise InputError("YAML nested too deeply", path) from None
    return docs


