"""Rego policy files: discovery, package names, and the static checks that refuse constructs the
engine (regopy) gets silently wrong."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edgegate.errors import EdgegateError, InputError
from edgegate.io.files import read_text_bounded
from edgegate.resources import data_dir

BUILTIN_PREFIX = "builtin:"
_MAX_POLICY_BYTES = 4 * 1024 * 1024
MAX_NESTING = 1000
"""Deepest bracket nesting a policy may have (a 10,000-deep array drove regopy to 10.8 GB)."""


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


def _check_nesting(path: Path, blanked: str) -> None:
    depth = 0
    for m in re.finditer(r"[\[\](){}]", blanked):
        depth += 1 if m.group(0) in "([{" else -1
        if depth > MAX_NESTING:
            line = blanked.count("\n", 0, m.start()) + 1
            raise InputError(f"brackets nested deeper than {MAX_NESTING} levels; refused", path, line)


def _read_module(path: Path) -> Module:
    source = read_text_bounded(path, _MAX_POLICY_BYTES)
    blanked = _strip_comments(source)
    _check_nesting(path, blanked)
    match = _PACKAGE.search(blanked)
    if not match:
        raise InputError("Rego file has no 'package' declaration", path, 1)
    return Module(path=str(path), source=source, package=match.group(1))


def _strip_comments(source: str) -> str:
    """`source` with string contents and comments blanked (same length, same line breaks)."""
    return _blank(source)


# Comments, "…" strings (ending at the closing quote, a line break or the end) and `…` strings,
# leftmost first: one regex pass instead of a loop per character (this runs on every module of
# every run, start-up included).
_LEXEMES = re.compile(r'(?P<c>#[^\n]*)|"(?P<d>(?:\\[^\n]|[^"\n])*)(?P<de>"?)|`(?P<b>[^`]*)(?P<be>`?)')
_INNER = re.compile(r"\\[^\n]|[^\r\n]")  # inside a "…" string: escapes and characters
_NOT_BREAK = re.compile(r"[^\r\n]")


@functools.lru_cache(maxsize=256)
def _blank(source: str) -> str:
    """Replace string contents (``"…"``, multi-line `` `…` ``) and comments with spaces, keeping
    every offset, line and column."""
    return _LEXEMES.sub(_blank_lexeme, source)


def _blank_lexeme(m: re.Match[str]) -> str:
    comment = m.group("c")
    if comment is not None:
        return _NOT_BREAK.sub(" ", comment)
    if m.group("d") is not None:
        inner = _INNER.sub(lambda c: " " * len(c.group(0)), m.group("d"))
        return '"' + inner + m.group("de")
    return "`" + _NOT_BREAK.sub(" ", m.group("b")) + m.group("be")


# --- tokens ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tok:
    kind: str  # "id", "str", "num", "op", "nl"
    text: str
    line: int
    pos: int  # offset in the source


_TOKEN = re.compile(
    r"(?P<nl>\n)|(?P<ws>[ \t\r\f\v]+)|(?P<id>[A-Za-z_]\w*)|(?P<num>\d[\w.]*)"
    r'|(?P<str>"[^"\n]*"?|`[^`]*`?)|(?P<op>:=|==|!=|<=|>=|[^\s\w])'
)
_KEYWORDS = frozenset(
    {"some", "in", "if", "contains", "every", "not", "with", "as", "else", "default", "import",
     "package", "true", "false", "null"}
)
_GLOBALS = frozenset({"input", "data", "future", "rego"})
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = frozenset(_OPEN.values())

# Builtins regopy 1.5.2 lacks: a call evaluates as undefined (no error), so a deny never fires.
_MISSING_EXACT = frozenset(
    {"strings.render_template", "json.match_schema", "json.verify_schema", "trace", "http.send"}
)
_MISSING_PREFIXES = ("net.cidr_", "rego.metadata.")


def _tokens(blanked: str) -> list[_Tok]:
    """The tokens of a blanked module (a fresh list; the lexing is done once per source)."""
    return list(_lex(blanked))


@functools.lru_cache(maxsize=256)
def _lex(blanked: str) -> tuple[_Tok, ...]:
    toks: list[_Tok] = []
    line = 1
    for m in _TOKEN.finditer(blanked):
        kind = m.lastgroup or "op"
        text = m.group(0)
        if kind != "ws":
            toks.append(_Tok(kind, text, line, m.start()))
        line += text.count("\n")
    return tuple(toks)


def _statements(toks: list[_Tok]) -> Iterator[list[_Tok]]:
    """Top-level statements, split by bracket depth (not by indentation)."""
    current: list[_Tok] = []
    depth = 0
    for tok in toks:
        if tok.kind == "nl":
            if depth == 0 and current and current[-1].text not in (
                "if", ":=", "=", "contains", "else", ",", "|", "&", "==", "!=", "+", "-", "*", "/"
            ):
                yield current
                current = []
            elif current:
                current.append(tok)
            continue
        if tok.text in _OPEN:
            depth += 1
        elif tok.text in _CLOSE:
            depth = max(0, depth - 1)
        current.append(tok)
    if current:
        yield current


def _merge_else(statements: Iterable[list[_Tok]]) -> list[list[_Tok]]:
    """Join an ``else`` written at the start of a line to the statement it continues."""
    merged: list[list[_Tok]] = []
    for st in statements:
        if merged and st[0].text == "else":
            merged[-1] = [*merged[-1], _Tok("nl", "\n", st[0].line, st[0].pos), *st]
        else:
            merged.append(st)
    return merged


def rule_names(module: Module) -> set[str]:
    """Names a module defines at the top level (rules, functions) and its import aliases."""
    names: set[str] = set()
    for st in _merge_else(_statements(_tokens(_blank(module.source)))):
        words = [t for t in st if t.kind != "nl"]
        if not words:
            continue
        first = words[0].text
        if first == "import":
            refs = [t.text for t in words[1:] if t.kind == "id"]
            if "as" in refs:
                names.add(refs[refs.index("as") + 1] if refs.index("as") + 1 < len(refs) else "")
            elif refs:
                names.add(refs[-1])
        elif first == "default" and len(words) > 1:
            names.add(words[1].text)
        elif words[0].kind == "id" and first not in ("package",):
            names.add(first)
    names.discard("")
    return names


_RESULT_RULE = re.compile(r"^(?:(?:deny|violation|warn)(?:_[A-Za-z0-9_]+)?|exception)$")
# belt and braces: any line that starts like a result rule's definition
_RESULT_LINE = re.compile(
    r"^[ \t]*(?:default[ \t]+)?((?:deny|violation|warn)(?:_[A-Za-z0-9_]+)?|exception)\b"
    r"(?=[ \t]*(?:\[|contains\b|:=|=|if\b|\{))",
    re.MULTILINE,
)


def result_rules(modules: Iterable[Module], package: str) -> list[str]:
    """The conftest result rules (``deny*``, ``violation*``, ``warn*``, ``exception``) that the
    modules of `package` define (functions of those names are not rules)."""
    names: set[str] = set()
    for module in modules:
        if module.package != package:
            continue
        for st in _statements(_tokens(_blank(module.source))):
            words = [t for t in st if t.kind != "nl"]
            if not words:
                continue
            if words[0].text == "default" and len(words) > 1:
                words = words[1:]
            if words[0].kind == "id" and _RESULT_RULE.match(words[0].text):
                if len(words) > 1 and words[1].text == "(":
                    continue
                names.add(words[0].text)
        names.update(m.group(1) for m in _RESULT_LINE.finditer(_blank(module.source)))
    return sorted(names)


# --- static checks for known engine defects ----------------------------------------------------

@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    message: str


def check_supported(module: Module, known_names: Iterable[str] = ()) -> list[Problem]:
    """Constructs regopy 1.5 evaluates wrongly or crashes on (see docs/policy.md):

    - an index variable bound for the first time inside a function call's arguments, e.g.
      ``some i; endswith(input.c[i].image, ":latest")`` silently yields no result (OPA yields one);
      with ``_`` it is an evaluation error;
    - a function called with no arguments, e.g. ``count()``, crashes the process;
    - builtins regopy lacks (``net.cidr_*``, ``strings.render_template``, …), which evaluate as
      undefined, and ``%q`` in a literal ``sprintf`` format;
    - unsafe variables OPA refuses to compile and regopy silently accepts: a rule-head variable
      the body never mentions, and a variable used once as a reference root or call argument
      without ever being bound.

    `known_names` are the rules, functions and import aliases of the other modules evaluated with
    this one (a package may span files).
    """
    blanked = _blank(module.source)
    toks = _tokens(blanked)
    known = set(known_names) | rule_names(module) | _GLOBALS
    original = module.source.splitlines()
    problems: list[Problem] = []
    for st in _merge_else(_statements(toks)):
        first = next((t for t in st if t.kind != "nl"), None)
        if first is None or first.text in ("package", "import"):
            continue
        problems.extend(_check_statement(module, st, known))
    problems.extend(_default_on_set_rules(module, toks))
    out: list[Problem] = []
    for problem in sorted(problems, key=lambda p: p.line):
        if problem.message.startswith("{SPRINTF}"):
            resolved = _sprintf_problem(module, problem)
            if resolved is not None:
                out.append(resolved)
            continue
        shown = original[problem.line - 1].strip() if problem.line <= len(original) else ""
        out.append(Problem(problem.path, problem.line, problem.message.replace("{SOURCE}", shown)))
    return out


def _default_on_set_rules(module: Module, toks: list[_Tok]) -> list[Problem]:
    """``default deny := …`` beside ``deny contains …``: OPA refuses it, regopy crashes."""
    defaults: dict[str, int] = {}
    sets: set[str] = set()
    for st in _statements(toks):
        words = [t for t in st if t.kind != "nl"]
        if len(words) > 1 and words[0].text == "default":
            defaults.setdefault(words[1].text, words[0].line)
        elif len(words) > 1 and words[0].kind == "id" and words[1].text == "contains":
            sets.add(words[0].text)
        elif len(words) > 3 and words[0].kind == "id" and words[1].text == "[":
            depth = 0
            for k in range(1, len(words)):
                if words[k].text in _OPEN:
                    depth += 1
                elif words[k].text in _CLOSE:
                    depth -= 1
                    if depth == 0:
                        if k + 1 >= len(words) or words[k + 1].text not in (":=", "="):
                            sets.add(words[0].text)
                        break
    return [
        Problem(module.path, line, f"'default {name}' on a multi-value (set) rule '{name}': OPA "
                "refuses to compile this and the Rego engine crashes on it")
        for name, line in defaults.items()
        if name in sets
    ]


def _dotted_name_before(st: list[_Tok], j: int) -> str:
    """The dotted name ending at token `j` (``net.cidr_contains``), or ``""``."""
    if j < 0 or st[j].kind != "id":
        return ""
    parts = [st[j].text]
    while j >= 2 and st[j - 1].text == "." and st[j - 2].kind == "id" and st[j - 1].pos == st[j - 2].pos + len(st[j - 2].text):
        parts.append(st[j - 2].text)
        j -= 2
    if j >= 1 and st[j - 1].text == "." :
        return ""  # a method-like ref on a value (x.y.f): not a plain function name
    return ".".join(reversed(parts))


def _negated(st: list[_Tok], start: int) -> bool:
    """Whether the token before `start` (the first of a call's name) is ``not``."""
    k = start - 1
    while k >= 0 and st[k].kind == "nl":
        k -= 1
    return k >= 0 and st[k].text == "not"


def _path_in_args(st: list[_Tok], open_at: int) -> bool:
    """Whether the arguments of the call whose ``(`` is token `open_at` hold a reference with a
    path (``x.y``, ``x[i]``): one that can be undefined."""
    depth = 0
    for k in range(open_at, len(st)):
        text = st[k].text
        if text in _OPEN:
            depth += 1
        elif text in _CLOSE:
            depth -= 1
            if depth == 0:
                return False
        elif st[k].kind == "id" and text not in _KEYWORDS and k + 1 < len(st) and st[k + 1].text in (".", "[") \
                and st[k + 1].pos == st[k].pos + len(text):
            return True
    return False


def _is_ref_root(st: list[_Tok], j: int) -> bool:
    """Token `j` is an identifier that starts a reference (not after a '.')."""
    return st[j].kind == "id" and not (j > 0 and st[j - 1].text == "." and st[j - 1].pos + 1 == st[j].pos)


def _call_chain_end(st: list[_Tok], j: int) -> int:
    """Index of the last identifier of the dotted chain starting at `j`."""
    while j + 2 < len(st) and st[j + 1].text == "." and st[j + 2].kind == "id" and st[j + 1].pos == st[j].pos + len(st[j].text):
        j += 2
    return j


def _check_statement(module: Module, st: list[_Tok], known: set[str]) -> list[Problem]:
    path = module.path
    problems: list[Problem] = []
    words = [t for t in st if t.kind != "nl"]
    # split head / body: the first depth-0 `if`, else an old-style body `{`
    depth = 0
    body_start = len(st)
    for j, tok in enumerate(st):
        if depth == 0 and tok.text == "if":
            body_start = j + 1
            break
        if depth == 0 and tok.text == "{" and j > 0:
            prev = st[j - 1]
            if prev.kind == "nl":
                prev = next((t for t in reversed(st[:j]) if t.kind != "nl"), prev)
            if prev.text not in (":=", "=", "contains", ",", ":", "(", "[", "{", "|", "else", "==", "in", "&"):
                body_start = j
                break
        if tok.text in _OPEN:
            depth += 1
        elif tok.text in _CLOSE:
            depth -= 1
    is_default = bool(words) and words[0].text == "default"
    # function arguments bind; find `name(` at the start of the head
    fn_args: set[int] = set()
    if len(st) > 1 and st[0].kind == "id" and st[1].text == "(":
        d = 0
        for j in range(1, body_start):
            if st[j].text in _OPEN:
                d += 1
            elif st[j].text in _CLOSE:
                d -= 1
                if d == 0:
                    break
            fn_args.add(j)

    # classify identifiers used as variables
    var_occ: dict[str, list[int]] = {}
    skip_until = -1
    for j, tok in enumerate(st):
        if j <= skip_until or tok.kind != "id" or j == 0 or tok.text in _KEYWORDS:
            continue
        if is_default and j == 1:
            continue
        if not _is_ref_root(st, j):
            continue
        end = _call_chain_end(st, j)
        if end + 1 < len(st) and st[end + 1].text == "(":
            skip_until = end
            continue  # a function name
        if tok.text in known or tok.text == "_":
            continue
        var_occ.setdefault(tok.text, []).append(j)

    problems.extend(_check_calls_and_indexes(path, st, body_start))

    if is_default:
        return problems
    has_else = any(t.text == "else" for t in st)
    in_compr = _comprehension_tokens(st)
    body_ids = {st[j].text for j in range(body_start, len(st)) if st[j].kind == "id"}
    if not has_else:
        for name, occ in var_occ.items():
            head_occ = [j for j in occ if j < body_start and j not in fn_args and j not in in_compr]
            if head_occ and name not in body_ids and not any(j in fn_args for j in occ):
                problems.append(Problem(
                    path, st[head_occ[0]].line,
                    f"unsafe variable '{name}' in the head of rule '{st[0].text}' is never bound in its "
                    "body; OPA refuses to compile this and the engine silently gives no result",
                ))
    # a variable mentioned once in the body, as a reference root (x.y, x[0]) or inside a call's
    # arguments, can never have been bound
    for name, occ in var_occ.items():
        if len(occ) != 1 or occ[0] < body_start or any(j in fn_args for j in occ):
            continue
        j = occ[0]
        nxt = st[j + 1].text if j + 1 < len(st) else ""
        nxt_adjacent = j + 1 < len(st) and st[j + 1].pos == st[j].pos + len(st[j].text)
        if ((nxt == "." or nxt == "[") and nxt_adjacent) or _inside_call(st, body_start, j):
            if j > 1 and st[j - 1].text == "[" and nxt == "]" and _is_index_bracket(st, j - 1):
                continue  # an index variable: bound by the lookup
            problems.append(Problem(
                path, st[j].line,
                f"unsafe variable '{name}' is used but never bound ('{{SOURCE}}'); OPA refuses to "
                "compile this and the engine silently gives no result (a typo?)",
            ))
    return problems


def _is_call_paren(st: list[_Tok], j: int) -> bool:
    """The ``(`` at `j` opens a call's arguments (``f(``, ``contains(`` — the builtin, not the
    keyword)."""
    if j == 0 or st[j - 1].kind != "id":
        return False
    prev = st[j - 1]
    if prev.text in _KEYWORDS:
        return prev.text == "contains" and prev.pos + len(prev.text) == st[j].pos
    return True


def _is_index_bracket(st: list[_Tok], j: int) -> bool:
    """The ``[`` at `j` indexes the term right before it (``x[i]``, ``f(x)[0]``), not an array."""
    if j == 0:
        return False
    prev = st[j - 1]
    adjacent = prev.pos + len(prev.text) == st[j].pos
    return adjacent and (
        (prev.kind == "id" and prev.text not in _KEYWORDS) or prev.text in ("]", ")", "}") or prev.kind == "str"
    )


def _comprehension_tokens(st: list[_Tok]) -> set[int]:
    """Indexes of the tokens inside comprehensions (their variables are local to them)."""
    inside: set[int] = set()
    stack: list[list[int]] = []  # [open index, is comprehension]
    for k, tok in enumerate(st):
        if tok.text in _OPEN:
            stack.append([k, 0])
        elif tok.text in _CLOSE and stack:
            start, is_compr = stack.pop()
            if is_compr:
                inside.update(range(start, k + 1))
        elif tok.text == "|" and stack and st[stack[-1][0]].text in "[{":
            stack[-1][1] = 1
    return inside


def _inside_call(st: list[_Tok], body_start: int, j: int) -> bool:
    """Token `j` is inside a call's argument list (not inside a comprehension within it)."""
    stack: list[str] = []
    for k in range(body_start, j):
        tok = st[k]
        if tok.text in _OPEN:
            is_call = tok.text == "(" and _is_call_paren(st, k)
            # walk(x, [path, value]) binds its second argument: not a use
            is_walk = is_call and st[k - 1].text == "walk" and _dotted_name_before(st, k - 1) == "walk"
            stack.append("compr" if is_walk else "call" if is_call else tok.text)
        elif tok.text in _CLOSE:
            if stack:
                stack.pop()
        elif tok.text == "|" and stack and stack[-1] in ("[", "{"):
            stack[-1] = "compr"
    for frame in reversed(stack):
        if frame == "compr":
            return False
        if frame == "call":
            return True
    return False


def _check_calls_and_indexes(path: str, st: list[_Tok], body_start: int) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    # the head binds its own variables (rule arguments, `contains x`)
    for tok in st[:body_start]:
        if tok.kind == "id":
            seen.add(tok.text)
    stack: list[str] = []  # "call", "(", "[", "{", "index", "compr"
    j = body_start
    n = len(st)
    while j < n:
        tok = st[j]
        text = tok.text
        if text == "some":
            names: list[str] = []
            k = j + 1
            while k < n and st[k].kind == "id" and st[k].text not in _KEYWORDS:
                names.append(st[k].text)
                if k + 1 < n and st[k + 1].text == ",":
                    k += 2
                else:
                    k += 1
                    break
            if k < n and st[k].text == "in":
                seen.update(names)  # `some x in xs` binds
            # else: `some i` / `some i, j` only declares; the names are not bound yet
            j = k
            continue
        if text == "(":
            prev = st[j - 1] if j > 0 else None
            is_call = _is_call_paren(st, j)
            if is_call and prev is not None:
                name = _dotted_name_before(st, j - 1)
                close = st[j + 1].text if j + 1 < n else ""
                if close == ")" or (j + 2 < n and st[j + 1].kind == "nl" and st[j + 2].text == ")"):
                    problems.append(Problem(
                        path, tok.line,
                        f"'{name or prev.text}()' calls a function with no arguments, which crashes the Rego engine",
                    ))
                if name and (name in _MISSING_EXACT or name.startswith(_MISSING_PREFIXES)):
                    problems.append(Problem(
                        path, tok.line,
                        f"unsupported Rego: builtin '{name}' is not supported by the Rego engine "
                        "(regopy 1.5 evaluates it as undefined, so the rule would silently not fire)",
                    ))
                if name == "sprintf" and j + 1 < n and st[j + 1].kind == "str":
                    problems.append(Problem(path, tok.line, "{SPRINTF}" + str(st[j + 1].pos)))
                if name and _negated(st, j - 1 - 2 * name.count(".")) and _path_in_args(st, j):
                    problems.append(Problem(
                        path, tok.line,
                        f"unsupported Rego: 'not {name}(...)' on a reference ('{{SOURCE}}'): where the "
                        "reference is undefined OPA's negation is undefined (it binds the argument "
                        "first) and the engine's is true. Bind the value first ('v := x.y' then "
                        f"'not {name}(v)') or negate a helper rule",
                    ))
            stack.append("call" if is_call else "(")
            j += 1
            continue
        if text == "[":
            is_index = _is_index_bracket(st, j)
            if is_index and j + 2 < n and st[j + 1].kind == "id" and st[j + 2].text == "]" \
                    and st[j + 1].text not in _KEYWORDS:
                var = st[j + 1].text
                in_call = False
                for frame in reversed(stack):
                    if frame == "compr":
                        break
                    if frame == "call":
                        in_call = True
                        break
                if in_call and (var == "_" or var not in seen):
                    problems.append(Problem(
                        path, tok.line,
                        f"unsupported Rego: index variable '{var}' is first bound inside a "
                        "function call's arguments ('{SOURCE}'); the engine silently gives no "
                        "result here. Bind it first, e.g. 'some c in input.items' or "
                        "'c := input.items[i]', then call the function on 'c'",
                    ))
                if var != "_":
                    seen.add(var)
                j += 3
                continue
            stack.append("index" if is_index else "[")
            j += 1
            continue
        if text == "{":
            stack.append("{")
        elif text in _CLOSE:
            if stack:
                stack.pop()
        elif text == "|" and stack and stack[-1] in ("[", "{"):
            stack[-1] = "compr"
        elif tok.kind == "id" and text not in _KEYWORDS and _is_ref_root(st, j):
            end = _call_chain_end(st, j)
            if not (end + 1 < n and st[end + 1].text == "("):
                seen.add(text)
        j += 1
    return problems


def _sprintf_problem(module: Module, problem: Problem) -> Problem | None:
    """Resolve the ``{SPRINTF}`` marker: a literal format string using ``%q``."""
    pos = int(problem.message[len("{SPRINTF}"):])
    quote = module.source[pos]
    end = module.source.find(quote, pos + 1) if quote == "`" else _string_end(module.source, pos)
    literal = module.source[pos : end + 1]
    if re.search(r"(?<!%)(?:%%)*%[-+# 0-9.]*q", literal):
        return Problem(
            problem.path, problem.line,
            "unsupported Rego: '%q' in a sprintf format is not supported by the Rego engine "
            "(regopy 1.5 gives no result); write '\"%s\"' or '%v'",
        )
    return None


def _string_end(source: str, pos: int) -> int:
    i = pos + 1
    while i < len(source) and source[i] not in "\"\n":
        i += 2 if source[i] == "\\" else 1
    return i


def ensure_supported(modules: Iterable[Module]) -> None:
    """Raise `UnsupportedRegoError` for the first unsupported construct."""
    mods = list(modules)
    names: set[str] = set()
    for module in mods:
        names |= rule_names(module)
    for module in mods:
        problems = check_supported(module, names)
        if problems:
            first = problems[0]
            raise UnsupportedRegoError(first.message, first.path, first.line)


_SORT_CALL = re.compile(r"(?<![\w.])sort\s*\(")


def engine_source(module: Module) -> str:
    """The module's source as handed to the engine: regopy's ``sort`` of a set returns a set
    (not indexable, unlike OPA's array), so every ``sort(X)`` becomes
    ``sort([x | some x in X])`` (the same for an array). Lines and line numbers are kept."""
    blanked = _blank(module.source)
    inserts: list[tuple[int, str]] = []
    for m in _SORT_CALL.finditer(blanked):
        depth = 0
        for k in range(m.end() - 1, len(blanked)):
            ch = blanked[k]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth == 0:
                    if blanked[m.end() : k].strip():
                        inserts.append((m.end(), "[__eg_s | some __eg_s in "))
                        inserts.append((k, "]"))
                    break
    if not inserts:
        return module.source
    out = module.source
    for pos, text in sorted(inserts, key=lambda x: x[0], reverse=True):
        out = out[:pos] + text + out[pos:]
    return out
