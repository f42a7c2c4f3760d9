"""Rego policy files: discovery, package names, and the static checks that refuse constructs the
engine (regopy) gets silently wrong."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edgegate.errors import EdgegateError, InputError
from edgegate.io.files import read_text_bounded
from edgegate.resources import data_dir

BUILTIN_PREFIX = "builtin:"
_MAX_POLICY_BYTES = 4 * 1024 * 1024


class UnsupportedRegoError(EdgegateError):
    """A policy uses a construct the engine is known to evaluate wrongly or to crash on."""


@dataclass(frozen=True)
class Module:
    """One Rego file."""

    path: str
    source: str
    package: str

    @property
    def entrypoint(self) -> str:
        return self.package.replace(".", "/")

    @property
    def is_test(self) -> bool:
        return self.path.endswith("_test.rego")


_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)


def resolve_rule_dir(spec: str | Path, base: Path | None = None) -> Path:
    """A rules location: ``builtin:NAME`` (a shipped pack) or a path (relative to `base`)."""
    text = str(spec)
    if text.startswith(BUILTIN_PREFIX):
        name = text[len(BUILTIN_PREFIX) :]
        path = data_dir("rules") / name
        if not path.is_dir():
            raise InputError(f"no shipped rule pack named {name!r}")
        return path
    p = Path(text)
    if base is not None and not p.is_absolute():
        p = base / p
    return p


def load_modules(locations: Iterable[str | Path], *, include_tests: bool = False) -> list[Module]:
    """Every ``.rego`` file under `locations` (files or folders, recursively)."""
    modules: list[Module] = []
    for loc in locations:
        p = Path(loc)
        if not p.exists():
            raise InputError("no such policy file or directory", p)
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*.rego") if f.is_file())
        for f in files:
            if f.suffix != ".rego":
                raise InputError("not a Rego file (.rego)", f)
            mod = _read_module(f)
            if mod.is_test and not include_tests:
                continue
            modules.append(mod)
    if not modules:
        shown = ", ".join(str(x) for x in locations)
        raise InputError(f"no Rego policies found in {shown}")
    return modules


def _read_module(path: Path) -> Module:
    source = read_text_bounded(path, _MAX_POLICY_BYTES)
    match = _PACKAGE.search(_strip_comments(source))
    if not match:
        raise InputError("Rego file has no 'package' declaration", path, 1)
    return Module(path=str(path), source=source, package=match.group(1))


def _strip_comments(source: str) -> str:
    return "\n".join(_blank_strings_and_comments(line) for line in source.splitlines())


def _blank_strings_and_comments(line: str) -> str:
    """Replace string contents and comments with spaces, keeping columns."""
    out: list[str] = []
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if ch == "#":
            out.append(" " * (n - i))
            break
        if ch in "\"`":
            quote = ch
            out.append(ch)
            i += 1
            while i < n and line[i] != quote:
                if quote == '"' and line[i] == "\\" and i + 1 < n:
                    out.append("  ")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            if i < n:
                out.append(quote)
                i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# --- static checks for known engine defects ----------------------------------------------------

_IDENT = re.compile(r"[A-Za-z_][\w]*")
_KEYWORDS = frozenset(
    {"some", "in", "if", "contains", "every", "not", "with", "as", "else", "default", "import",
     "package", "true", "false", "null", "input", "data"}
)
_ZERO_ARG_CALL = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\(\s*\)")


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str


def check_supported(module: Module) -> list[Problem]:
    """Constructs regopy 1.5 evaluates wrongly or crashes on (see docs/policy.md):

    - an index variable bound for the first time inside a function call's arguments, e.g.
      ``some i; endswith(input.c[i].image, ":latest")`` silently yields no result (OPA yields one);
      with ``_`` it is an evaluation error;
    - a function called with no arguments, e.g. ``count()``, crashes the process.
    """
    lines = _strip_comments(module.source).splitlines()
    problems: list[Problem] = []
    for lineno, text in enumerate(lines, start=1):
        for m in _ZERO_ARG_CALL.finditer(text):
            problems.append(
                Problem(module.path, lineno,
                        f"'{m.group(1)}()' calls a function with no arguments, which crashes the Rego engine")
            )
    original = module.source.splitlines()
    for start, body in _rule_bodies(lines):
        for problem in _check_body(module.path, start, body):
            shown = original[problem.line - 1].strip() if problem.line <= len(original) else ""
            problems.append(Problem(problem.path, problem.line, problem.message.replace("{SOURCE}", shown)))
    return problems


def _rule_bodies(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """Top-level statements: a statement starts at a line with no indentation."""
    start = None
    body: list[str] = []
    for lineno, text in enumerate(lines, start=1):
        if text and not text[0].isspace() and text[0] != "}":
            if start is not None:
                yield start, body
            start, body = lineno, [text]
        elif start is not None:
            body.append(text)
    if start is not None:
        yield start, body


def _check_body(path: str, start: int, body: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    head_done = False
    depth_stack: list[bool] = []  # for each open paren: is it a call's argument list?
    for offset, text in enumerate(body):
        lineno = start + offset
        i = 0
        n = len(text)
        while i < n:
            ch = text[i]
            if not head_done:
                # the head (rule name, args, `contains x`) binds its own variables
                m = _IDENT.match(text, i)
                if m:
                    word = m.group(0)
                    if word == "if":
                        head_done = True
                    seen.add(word)
                    i = m.end()
                    continue
                if ch == "{":
                    head_done = True
                i += 1
                continue
            if ch == "(":
                prev = text[:i].rstrip()
                is_call = bool(prev) and (prev[-1].isalnum() or prev[-1] in "_")
                depth_stack.append(is_call)
                i += 1
                continue
            if ch == ")":
                if depth_stack:
                    depth_stack.pop()
                i += 1
                continue
            if ch == "[":
                m = re.match(r"\[\s*([A-Za-z_]\w*)\s*\]", text[i:])
                is_index = i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_])")
                if m and is_index and m.group(1) not in _KEYWORDS:
                    var = m.group(1)
                    in_call = any(depth_stack)
                    if in_call and (var == "_" or var not in seen):
                        shown = "{SOURCE}"
                        problems.append(
                            Problem(
                                path,
                                lineno,
                                f"unsupported Rego: index variable '{var}' is first bound inside a "
                                f"function call's arguments ('{shown}'); the engine silently gives no "
                                "result here. Bind it first, e.g. 'some c in input.items' or "
                                "'c := input.items[i]', then call the function on 'c'",
                            )
                        )
                    if var != "_":
                        seen.add(var)
                    i += m.end()
                    continue
            m = _IDENT.match(text, i)
            if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_.")):
                word = m.group(0)
                after = text[m.end():].lstrip()
                # `some i;` only declares: it does not bind
                before = text[:i].rstrip()
                declared_only = before.endswith("some") and after.startswith(";")
                if word not in _KEYWORDS and not after.startswith("(") and not declared_only:
                    seen.add(word)
                i = m.end()
                continue
            i += 1
    return problems


def ensure_supported(modules: Iterable[Module]) -> None:
    """Raise `UnsupportedRegoError` for the first unsupported construct."""
    for module in modules:
        problems = check_supported(module)
        if problems:
            first = problems[0]
            raise UnsupportedRegoError(first.message, first.path, first.line)
