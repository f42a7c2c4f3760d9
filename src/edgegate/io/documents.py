"""Load YAML (multi-document), JSON and TOML files into `Document`s that remember line numbers.

YAML is composed into nodes and constructed by hand so that every JSON pointer in a document maps
to the line it came from, and so that alias expansion is bounded (a "billion laughs" file is
refused instead of eating memory).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.io.files import DEFAULT_MAX_BYTES, STDIN, read_text_bounded
from edgegate.io.parse import loads_json, loads_toml

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


_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"
_STR_TAG = "tag:yaml.org,2002:str"

MAX_DEPTH = 256
"""Deepest YAML nesting accepted. Far deeper than real manifests (a CRD schema nests a few dozen
levels), well inside what the builder's recursion and libyaml's C composer can take, and below
libyaml's own limit of 1000 levels (libyaml 0.2.6, bundled since PyYAML 6.0.4): the refusal is
edgegate's, with the same words, on every PyYAML release."""

_LINE_PREFIX = re.compile(r"^[ ?:-]*", re.MULTILINE)


class _YamlBuilder:
    """Builds Python data from a composed YAML node tree, recording lines, bounding expansion.

    Every node built counts against the budget, aliases each time they are used and merge keys
    (``<<``) for each key they copy, so nothing expands past `max_nodes`."""

    def __init__(self, path: str, max_nodes: int) -> None:
        import yaml

        self._yaml = yaml
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
        return self._scalar(node)

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
        if sources:
            self._merging += 1
            try:
                for source in sources:
                    for key, value in self._merge_source(source, pointer).items():
                        self._spend(source)
                        out[key] = value
            finally:
                self._merging -= 1
        for key_node, value_node in explicit:
            key = self._scalar_key(key_node)
            out[key] = self._build(value_node, pointer + "/" + _escape(str(key)), key_node.start_mark.line + 1)
        return out

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


MAX_DOCUMENTS = 50_000
"""Most YAML documents one file may hold (a 12 MB file of 200,000 tiny documents is refused)."""


def load_yaml_text(
    text: str, path: str, max_nodes: int = MAX_NODES, max_documents: int = MAX_DOCUMENTS
) -> list[Document]:
    """The non-empty documents of a (multi-document) YAML text; `path` names it in errors.

    At most `max_nodes` nodes are built over all documents (aliases and merge keys counted each
    time they are used); malformed, hostile or too deeply nested YAML is an `InputError`."""
    import yaml

    docs: list[Document] = []
    budget = max_nodes
    try:
        _check_depth(text, path)
        for index, node in enumerate(yaml.compose_all(text, Loader=_yaml_loader())):
            if index >= max_documents:
                raise InputError(f"more than {max_documents:,} YAML documents in one file", path)
            if node is None:
                continue
            builder = _YamlBuilder(path, budget)
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


def _load_json(text: str, path: str) -> list[Document]:
    data = loads_json(text, path)
    lines = _json_lines(text)
    if isinstance(data, list) and data and all(isinstance(d, dict) for d in data) and _looks_like_doc_list(data):
        return [
            Document(data=d, path=path, line=lines.get(f"/{i}", 1), index=i, lines=_sub_lines(lines, f"/{i}"))
            for i, d in enumerate(data)
        ]
    return [Document(data=data, path=path, line=lines.get("/", 1), lines=lines)]


def _looks_like_doc_list(data: list[Any]) -> bool:
    # A JSON array of Kubernetes objects is treated as several documents, like `kubectl`.
    return all("kind" in d and "apiVersion" in d for d in data)


_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|[^ \t\r\n{}\[\],:"]+')


def _json_lines(text: str) -> dict[str, int]:
    """JSON pointer → line for every value of a JSON text that `json.loads` accepted (a mapping
    value gets its key's line). One pass over the tokens, no recursion."""
    lines: dict[str, int] = {}
    # one frame per open container: [pointer, is_object, next key or index, key line, expecting key]
    stack: list[list[Any]] = []
    line, last = 1, 0
    for m in _JSON_TOKEN.finditer(text):
        pos = m.start()
        line += text.count("\n", last, pos)
        last = pos
        token = m.group()
        first = token[0]
        if first in "]}":
            stack.pop()
            continue
        if first == ",":
            top = stack[-1]
            if top[1]:
                top[4] = True
            else:
                top[2] += 1
            continue
        if first == ":":
            stack[-1][4] = False
            continue
        if stack and stack[-1][4]:  # an object's key
            top = stack[-1]
            top[2] = json.loads(token) if "\\" in token else token[1:-1]
            top[3] = line
            continue
        if not stack:
            pointer, at = "", line
        else:
            top = stack[-1]
            if top[1]:
                pointer, at = top[0] + "/" + _escape(top[2]), top[3]
            else:
                pointer, at = f"{top[0]}/{top[2]}", line
        lines[pointer or "/"] = at
        if first == "{":
            stack.append([pointer, True, "", line, True])
        elif first == "[":
            stack.append([pointer, False, 0, line, False])
    return lines


def _sub_lines(lines: dict[str, int], prefix: str) -> dict[str, int]:
    """The lines below `prefix`, re-rooted (``/0/kind`` → ``/kind``; ``/0`` → ``/``)."""
    out = {"/": lines.get(prefix, 1)}
    start = prefix + "/"
    for pointer, line in lines.items():
        if pointer.startswith(start):
            out[pointer[len(prefix) :]] = line
    return out


def _load_toml(text: str, path: str) -> list[Document]:
    data = loads_toml(text, path)
    return [Document(data=data, path=path, line=1)] if data else []  # empty: no document, as in YAML


def load_documents(
    path: str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_nodes: int = MAX_NODES,
    parser: str | None = None,
    allow_stdin: bool = False,
    shown: str | None = None,
) -> list[Document]:
    """Parse a YAML, JSON or TOML file (by suffix, or `parser`) into documents; with
    `allow_stdin`, ``-`` is standard input (read as YAML without `parser`, as conftest does).
    `shown` names the input in documents and errors (default: `path`).

    Raises `InputError` with the file and line for anything unreadable or malformed.
    """
    p = Path(path)
    stdin = allow_stdin and str(path) == STDIN
    text = read_text_bounded(str(path) if stdin else p, max_bytes, allow_stdin=stdin)
    kind = parser or ("yaml" if stdin else _kind_of(p))
    shown = shown or str(path)
    if kind == "json":
        return _load_json(text, shown)
    if kind == "toml":
        return _load_toml(text, shown)
    if kind == "yaml":
        return load_yaml_text(text, shown, max_nodes)
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
    """Expand files and directories into input files with one of `suffixes`, as conftest walks
    them: recursively, sorted, hidden files and folders included, symlinked files and folders
    followed (each folder once). A named file is always yielded; a missing path is an error, and
    so is a symlink that leads nowhere or outside the project folder (`paths.project_root`):
    nothing is skipped silently. Only `.git` folders are left out (a pull request cannot put
    files there)."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            from edgegate.io.paths import project_root

            found: list[Path] = []
            _walk(p, suffixes, project_root(p), set(), found)
            yield from sorted(found)
        elif p.exists():
            yield p
        else:
            raise InputError("no such file or directory", p)


def _walk(folder: Path, suffixes: frozenset[str], root: Path, seen: set[str], found: list[Path]) -> None:
    import os

    from edgegate.io.paths import is_inside

    real = os.path.realpath(folder)
    if real in seen:  # a symlink loop, or a folder reached twice
        return
    seen.add(real)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise InputError(f"cannot read the folder: {exc.strerror or exc}", folder) from None
    for entry in entries:
        path = folder / entry.name
        wanted = path.suffix.lower() in suffixes
        if entry.is_symlink():
            target = os.path.realpath(path)
            if not os.path.exists(target):
                if wanted:
                    raise InputError("is a broken symlink", path)
                continue
            folder_link = os.path.isdir(target)
            if not folder_link and Path(target).suffix.lower() not in suffixes:
                continue  # as conftest: a linked file is an input by its target's name
            if not is_inside(target, root):
                raise InputError(f"is a symlink that leads outside the project folder {root}", path)
            if folder_link:
                _walk(path, suffixes, root, seen, found)
            else:  # by the link's name when it names the format, else (as conftest) by the target's
                found.append(path if wanted else Path(target))
        elif entry.is_dir(follow_symlinks=False):
            if entry.name != ".git":
                _walk(path, suffixes, root, seen, found)
        elif wanted:
            found.append(path)  # a FIFO or device is refused by the reader, by name
