"""Load YAML (multi-document), JSON and TOML files into `Document`s that remember line numbers.

YAML is composed into nodes and constructed by hand so that every JSON pointer in a document maps
to the line it came from, and so that alias expansion is bounded (a "billion laughs" file is
refused instead of eating memory).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.errors import InputError
from edgegate.io.files import DEFAULT_MAX_BYTES, STDIN, read_text_bounded
from edgegate.io.parse import loads_json, loads_toml
from edgegate.io.paths import is_inside, project_root

YAML_SUFFIXES = frozenset({".yaml", ".yml"})
JSON_SUFFIXES = frozenset({".json"})
TOML_SUFFIXES = frozenset({".toml"})
DOCUMENT_SUFFIXES = YAML_SUFFIXES | JSON_SUFFIXES | TOML_SUFFIXES

MAX_NODES = 1_000_000
"""Most YAML nodes one file may expand to (aliases counted each time they are used)."""

MAX_DEPTH = 256
"""Deepest YAML nesting accepted. Far deeper than real manifests (a CRD schema nests a few dozen
levels), well inside what the builder's recursion and libyaml's C composer can take, and below
libyaml's own limit of 1000 levels (libyaml 0.2.6, bundled since PyYAML 6.0.4): the refusal is
edgegate's, with the same words, on every PyYAML release."""

MAX_DOCUMENTS = 50_000
"""Most YAML documents one file may hold (a 12 MB file of 200,000 tiny documents is refused)."""




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


def load_yaml_text(
    text: str, path: str, max_nodes: int = MAX_NODES, max_documents: int = MAX_DOCUMENTS, *, kubectl: bool = False
) -> list[Document]:
    """The non-empty documents of a (multi-document) YAML text; `path` names it in errors.

    At most `max_nodes` nodes are built over all documents (aliases and merge keys counted each
    time they are used); malformed, hostile or too deeply nested YAML is an `InputError`. With
    `kubectl`, the text is read as kubectl and conftest read it (go-yaml v2: `io.goyaml`);
    else as PyYAML's YAML 1.1 (OSV records, ML-BOM metadata)."""
    from edgegate.io.yamltext import load

    return load(text, path, max_nodes, max_documents, kubectl=kubectl)


def _load_json(text: str, path: str) -> list[Document]:
    data = loads_json(text, path)
    lines = _json_lines(text)
    return [Document(data=data, path=path, line=lines.get("/", 1), lines=lines)]


def _split_array(docs: list[Document]) -> list[Document]:
    """A file that is one array is one input per element, as conftest evaluates it (its engine
    takes each element of a top-level array as an input: the JSON `[{...}, {...}]` and the
    one-document YAML ``- {...}``); null elements are no document, as empty YAML documents."""
    if len(docs) != 1 or not isinstance(docs[0].data, list):
        return docs
    doc = docs[0]
    return [
        Document(data=item, path=doc.path, line=doc.lines.get(f"/{i}", doc.line), index=i,
                 lines=_sub_lines(doc.lines, f"/{i}"))
        for i, item in enumerate(doc.data)
        if item is not None
    ]


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
        return _split_array(_load_json(text, shown))
    if kind == "toml":
        return _load_toml(text, shown)
    if kind == "yaml":
        return _split_array(load_yaml_text(text, shown, max_nodes, kubectl=True))
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
        if not p.exists():
            raise InputError("no such file or directory", p)
        folder = p.is_dir()
        root = project_root(p) if folder or p.is_symlink() else None
        if root is not None and not is_inside(p, root):
            what = "a folder" if folder else "a file"
            raise InputError(f"is a symlink to {what} outside the project folder {root}", p)
        if root is not None and folder:
            yield from sorted(_walk(p, suffixes, root))
        else:
            yield p


def _walk(top: Path, suffixes: frozenset[str], root: Path) -> list[Path]:
    """The files under `top` (iteratively: no depth limit to hit), each real folder once."""
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in seen:  # a symlink loop, or a folder reached twice
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
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
                    stack.append(path)
                else:  # by the link's name when it names the format, else (as conftest) by the target's
                    found.append(path if wanted else Path(target))
            elif entry.is_dir(follow_symlinks=False):
                if entry.name != ".git":
                    stack.append(path)
            elif wanted:
                found.append(path)  # a FIFO or device is refused by the reader, by name
    return found
