"""Load YAML (multi-document), JSON and TOML files into `Document`s that remember line numbers.

YAML is composed into nodes and constructed by hand so that every JSON pointer in a document maps
to the line it came from, and so that alias expansion is bounded (a "billion laughs" file is
refused instead of eating memory).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.io.files import DEFAULT_MAX_BYTES, read_text_bounded

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

YAML_SUFFIXES = frozenset({".yaml", ".yml"})
JSON_SUFFIXES = frozenset({".json"})
TOML_SUFFIXES = frozenset({".toml"})
DOCUMENT_SUFFIXES = YAML_SUFFIXES | JSON_SUFFIXES | TOML_SUFFIXES

MAX_NODES = 1_000_000
"""Most YAML nodes one file may expand to (aliases counted each time they are used)."""


@dataclass
class Document:
    """One parsed document: its data, the file, the 1-based line it starts at, and its index in
    the file (multi-document YAML)."""

    data: Any
    path: str
    line: int = 1
    index: int = 0
    lines: dict[str, int] = field(default_factory=dict, repr=False)
    """JSON pointer (e.g. ``/spec/template/spec/containers/0/image``) → 1-based line."""

    def line_of(self, pointer: str | None) -> int:
        """The line of `pointer`, or of its nearest ancestor that has one, or the start line."""
        if not pointer:
            return self.line
        p = pointer if pointer.startswith("/") else "/" + pointer
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p.rsplit("/", 1)[0]
        return self.line


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pointer_of(path: Iterable[Any]) -> str:
    """A JSON pointer from a sequence of keys and indexes."""
    return "".join("/" + _escape(str(p)) for p in path)


class _YamlBuilder:
    """Builds Python data from a composed YAML node tree, recording lines, bounding expansion."""

    def __init__(self, path: str, max_nodes: int) -> None:
        import yaml

        self._yaml = yaml
        self._loader = yaml.SafeLoader("")
        self._path = path
        self._budget = max_nodes
        self.lines: dict[str, int] = {}

    def build(self, node: Any, pointer: str = "") -> Any:
        yaml = self._yaml
        self._budget -= 1
        if self._budget < 0:
            raise InputError(
                "YAML expands to too many nodes (alias bomb?); refusing to load",
                self._path,
                node.start_mark.line + 1,
            )
        self.lines.setdefault(pointer or "/", node.start_mark.line + 1)
        if pointer:
            self.lines[pointer] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            self._loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar_key(key_node)
                out[key] = self.build(value_node, pointer + "/" + _escape(str(key)))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, f"{pointer}/{i}") for i, v in enumerate(node.value)]
        return self._loader.construct_object(node, deep=True)

    def _scalar_key(self, node: Any) -> Any:
        if not isinstance(node, self._yaml.ScalarNode):
            raise InputError("mapping keys must be scalars", self._path, node.start_mark.line + 1)
        key = self._loader.construct_object(node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise InputError("unhashable mapping key", self._path, node.start_mark.line + 1) from None
        return key


def _load_yaml(text: str, path: str, max_nodes: int) -> list[Document]:
    import yaml

    docs: list[Document] = []
    builder_budget = max_nodes
    try:
        for index, node in enumerate(yaml.compose_all(text, Loader=yaml.SafeLoader)):
            if node is None:
                continue
            builder = _YamlBuilder(path, builder_budget)
            data = builder.build(node)
            builder_budget = builder._budget
            if data is None:
                continue
            docs.append(
                Document(data=data, path=path, line=node.start_mark.line + 1, index=index, lines=builder.lines)
            )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        raise InputError(f"malformed YAML: {problem}", path, line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"malformed YAML: {exc}", path) from None
    except RecursionError:
        raise InputError("YAML nested too deeply", path) from None
    return docs


def _load_json(text: str, path: str) -> list[Document]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} (column {exc.colno})", path, exc.lineno) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", path) from None
    if isinstance(data, list) and data and all(isinstance(d, dict) for d in data) and _looks_like_doc_list(data):
        return [Document(data=d, path=path, line=1, index=i) for i, d in enumerate(data)]
    return [Document(data=data, path=path, line=1)]


def _looks_like_doc_list(data: list[Any]) -> bool:
    # A JSON array of Kubernetes objects is treated as several documents, like `kubectl`.
    return all("kind" in d and "apiVersion" in d for d in data)


def _load_toml(text: str, path: str) -> list[Document]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        msg = getattr(exc, "msg", None) or str(exc)
        raise InputError(f"malformed TOML: {msg}", path, line) from None
    return [Document(data=data, path=path, line=1)]


def load_documents(
    path: str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_nodes: int = MAX_NODES,
    parser: str | None = None,
) -> list[Document]:
    """Parse a YAML, JSON or TOML file (by suffix, or `parser`) into documents.

    Raises `InputError` with the file and line for anything unreadable or malformed.
    """
    p = Path(path)
    text = read_text_bounded(p, max_bytes)
    kind = parser or _kind_of(p)
    shown = str(path)
    if kind == "json":
        return _load_json(text, shown)
    if kind == "toml":
        return _load_toml(text, shown)
    if kind == "yaml":
        return _load_yaml(text, shown, max_nodes)
    raise InputError(f"unsupported file type {p.suffix or '(none)'!r}; expected YAML, JSON or TOML", p)


def _kind_of(p: Path) -> str | None:
    suffix = p.suffix.lower()
    if suffix in YAML_SUFFIXES:
        return "yaml"
    if suffix in JSON_SUFFIXES:
        return "json"
    if suffix in TOML_SUFFIXES:
        return "toml"
    return None


def iter_input_files(
    paths: Iterable[str | Path], suffixes: frozenset[str] = DOCUMENT_SUFFIXES
) -> Iterator[Path]:
    """Expand files and directories (recursively, sorted, hidden entries skipped) into input
    files with one of `suffixes`. A named file is always yielded; a missing path is an error."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for child in sorted(p.rglob("*")):
                rel = child.relative_to(p)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if child.is_file() and child.suffix.lower() in suffixes:
                    yield child
        elif p.exists():
            yield p
        else:
            raise InputError("no such file or directory", p)
