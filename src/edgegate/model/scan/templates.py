"""GGUF chat templates: parsed with jinja2 (never rendered) and checked for what jinja2's sandbox
refuses, i.e. attribute access that reaches Python internals (CVE-2024-34359 class).

A plain `jinja2.Environment` (what llama-cpp-python used) lets `x.__class__`, `x['__class__']`,
`x|attr('__class__')`, `[x]|map(attribute='__init__.__globals__')` (and every other filter that
reads an attribute path) and `'{0.__class__}'.format(x)` walk from any value to `os`. The sandbox
refuses every attribute that starts with `_` and a few more (`mro`, function and generator
internals). A template is flagged when such a name is reached, however it is spelled: jinja2's
parser already decodes string escapes (`'\\x5f\\x5fclass\\x5f\\x5f'`); an `attr` name or attribute
path that is not a literal, a filter name `map` gets at run time, and a subscript or format string
assembled in the template (`~`, `+`, `%`, `format`, `join`, `replace`, slices of literals,
`{% set %}` blocks, loop targets, macro arguments, `namespace` attributes) are flagged because their
value cannot be known without rendering. Values the caller passes (`messages`, `tools`, `loop`)
are data and may be subscripts; `*_token` values come from the model file itself and may not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Attributes jinja2's sandbox refuses besides `_`-prefixed ones (jinja2.sandbox's UNSAFE_*).
_UNSAFE_ATTRIBUTES = frozenset(
    {
        "func_closure", "func_code", "func_dict", "func_defaults", "func_globals", "im_class", "im_func",
        "im_self", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "ag_code", "ag_frame",
        "mro", "f_globals", "f_locals", "f_builtins", "tb_frame", "format_map",
    }
)
#: jinja2 filters that look a dotted attribute path up on each item (filters.make_attrgetter and
#: make_multi_attrgetter, which fall back to getattr): where `attribute` sits among the filter's
#: positional arguments (all but selectattr/rejectattr also take it as a keyword). `map` takes it
#: as a keyword only (its first positional argument names a filter); `dictsort` takes none.
_PATH_FILTERS: dict[str, int] = {
    "groupby": 0, "sum": 0, "selectattr": 0, "rejectattr": 0, "unique": 1, "min": 1, "max": 1, "join": 1,
    "sort": 2,
}
_RISKY_FILTERS = frozenset({"attr", "map", *_PATH_FILTERS})
MAX_FINDINGS = 20


class TemplateError(Exception):
    """The template cannot be parsed, so what it does cannot be decided."""


@dataclass(frozen=True)
class TemplateIssue:
    line: int
    what: str


def _unsafe_name(name: str) -> bool:
    return name.startswith("_") or name in _UNSAFE_ATTRIBUTES


def _unsafe_part(name: str) -> bool:
    return _unsafe_name(name) or "__" in name


def template_issues(source: str) -> list[TemplateIssue]:
    """Constructs in a chat template that a sandbox would refuse (empty: nothing found)."""
    from jinja2 import nodes
    from jinja2.exceptions import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"not a valid Jinja template (line {exc.lineno}: {exc.message})") from None
    except (RecursionError, MemoryError):
        raise TemplateError("Jinja template nested too deeply to parse") from None
    try:
        return _Checker(tree, nodes).run()
    except RecursionError:
        raise TemplateError("Jinja template nested too deeply") from None


class _Checker:
    def __init__(self, tree: Any, nodes: Any) -> None:
        self.tree = tree
        self.nodes = nodes
        self.kinds = _Kinds(tree, nodes)
        self.issues: list[TemplateIssue] = []

    def add(self, node: Any, what: str) -> None:
        if len(self.issues) < MAX_FINDINGS:
            self.issues.append(TemplateIssue(int(getattr(node, "lineno", 0) or 0), what))

    def run(self) -> list[TemplateIssue]:
        nodes = self.nodes
        stack: list[Any] = [self.tree]
        while stack:
            node = stack.pop()
            if isinstance(node, nodes.Getattr) and _unsafe_name(node.attr):
                self.add(node, f"attribute {node.attr!r}")
            elif isinstance(node, nodes.Getitem):
                self._check_name(node.arg, node, "subscript")
            elif isinstance(node, nodes.Filter):
                self._check_filter(node, node.name, node.args, node.kwargs,
                                   node.dyn_args is not None or node.dyn_kwargs is not None)
            elif isinstance(node, nodes.Call):
                self._check_format(node)
            elif isinstance(node, nodes.Const) and isinstance(node.value, str) and "__" in node.value:
                self.add(node, f"string {node.value[:40]!r} names a Python internal")
            elif isinstance(node, (nodes.Concat, nodes.Add)) and self._underscore_pieces(node):
                self.add(node, "a string assembled from underscore pieces")
            elif isinstance(node, (nodes.Assign, nodes.AssignBlock)):
                text = _literal_text(node, nodes)
                if text is not None and text.startswith("_"):
                    self.add(node, f"a variable set to the underscore string {text[:40]!r}")
            elif isinstance(node, (nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends)):
                self.add(node, f"{type(node).__name__.lower()} of another template")
            stack.extend(node.iter_child_nodes())
        return self.issues

    def _check_name(self, arg: Any, node: Any, how: str) -> None:
        """A subscript or `attr` argument: a literal string is checked; a string computed at run
        time (concatenation, filters, calls, `~`, `%`, `+`) is flagged; numbers and the caller's
        data are the ordinary `messages[0]` / `message[key]` shapes and pass, a variable the
        template itself assembled does not."""
        nodes = self.nodes
        if isinstance(arg, nodes.Const):
            if isinstance(arg.value, str) and _unsafe_name(arg.value):
                self.add(node, f"{how} {arg.value!r}")
            return
        if how == "attr filter":
            self.add(node, "attr filter with a name computed at run time")
            return
        if isinstance(arg, nodes.Slice):
            return
        shapes = (nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Neg, nodes.Pos)
        arithmetic = (nodes.Add, nodes.Sub, nodes.Mul, nodes.FloorDiv, nodes.Mod)
        if isinstance(arg, shapes) or (isinstance(arg, arithmetic) and _numeric(arg, nodes)):
            if self.kinds.of(arg) == _TAINTED:
                self.add(node, f"{how} with a name assembled in the template")
            return
        self.add(node, f"{how} with a name computed at run time")

    def _check_filter(self, node: Any, name: str, args: list[Any], kwargs: list[Any], dyn: bool) -> None:
        """`attr`, `map` and the attribute-path filters: every name they look up must be a literal
        made of safe parts; `map('attr', n)` and `map('map', attribute=p)` are the filter they name."""
        if name not in _RISKY_FILTERS:
            return
        if dyn:
            self.add(node, f"{name} filter with * or ** arguments")
            return
        keywords = {k.key: k.value for k in kwargs}
        if name == "attr":
            if args:
                self._check_name(args[0], node, "attr filter")
            else:
                self.add(node, "attr filter with a computed name")
        elif name == "map":
            if not args:
                if "attribute" in keywords:
                    self._check_path(keywords["attribute"], node, name)
            elif isinstance(args[0], self.nodes.Const) and isinstance(args[0].value, str):
                self._check_filter(node, args[0].value, args[1:], kwargs, dyn)
            else:
                self.add(node, "map filter with a filter name computed at run time")
        else:
            position = _PATH_FILTERS[name]
            if len(args) > position:
                self._check_path(args[position], node, name)
            if "attribute" in keywords:
                self._check_path(keywords["attribute"], node, name)

    def _check_path(self, arg: Any, node: Any, name: str) -> None:
        """An attribute path (`'content'`, `'function.name'`, `'a,b'` for sort, an integer)."""
        if not isinstance(arg, self.nodes.Const):
            self.add(node, f"{name} filter with an attribute path computed at run time")
        elif isinstance(arg.value, str) and any(_unsafe_part(p) for p in re.split(r"[.,]", arg.value)):
            self.add(node, f"{name} filter with the attribute path {arg.value[:40]!r}")

    def _check_format(self, node: Any) -> None:
        """`str.format` reads attributes named in its fields (`{0.__class__}`): the format string
        must be a literal whose fields name no unsafe attribute."""
        nodes = self.nodes
        if not (isinstance(node.node, nodes.Getattr) and node.node.attr == "format"):
            return
        target = node.node.node
        if not (isinstance(target, nodes.Const) and isinstance(target.value, str)):
            self.add(node, "str.format with a format string computed at run time")
            return
        import string

        try:
            parsed = list(string.Formatter().parse(target.value))
            parsed += [p for _, _, spec, _ in parsed if spec for p in string.Formatter().parse(spec)]
        except ValueError:
            self.add(node, "str.format with a malformed format string")
            return
        fields = [f for _, f, _, _ in parsed if f]
        for field in fields:
            if any(_unsafe_part(p) for p in re.findall(r"\.([^.\[]*)", re.sub(r"\[[^\]]*\]", "", field))):
                self.add(node, f"str.format field {field[:40]!r}")

    def _underscore_pieces(self, expr: Any) -> bool:
        """`'_' ~ '_cla' ~ 'ss_' ~ '_'` or `u ~ u ~ 'class'` with `{% set u = '_' %}`: a
        concatenation with a literal piece (or a variable set to one) that starts or ends with an
        underscore (chat-template markers such as '<|im_start|>' have them inside only)."""
        nodes = self.nodes
        operands = expr.nodes if isinstance(expr, nodes.Concat) else [expr.left, expr.right]
        for o in operands:
            if isinstance(o, nodes.Const) and isinstance(o.value, str):
                text = o.value
            elif isinstance(o, nodes.Name) and o.name in self.kinds.underscored:
                return True
            else:
                continue
            if text and (text.startswith("_") or text.endswith("_")):
                return True
        return False


def _literal_text(node: Any, nodes: Any) -> str | None:
    """The string a `{% set x = '...' %}` or `{% set x %}...{% endset %}` stores, when literal."""
    if isinstance(node, nodes.Assign):
        value = node.node
        return value.value if isinstance(value, nodes.Const) and isinstance(value.value, str) else None
    if node.filter is None and all(isinstance(b, nodes.Output) for b in node.body):
        parts = [n for b in node.body for n in b.nodes]
        if all(isinstance(p, nodes.TemplateData) for p in parts):
            return "".join(p.data for p in parts)
    return None


def _numeric(expr: Any, nodes: Any) -> bool:
    """Arithmetic over numbers and variables (`loop.index0 - 1`), never a string literal."""
    for sub in [expr, *expr.find_all(nodes.Expr)]:
        if isinstance(sub, nodes.Const) and not isinstance(sub.value, (int, float)):
            return False
        if isinstance(sub, (nodes.Concat, nodes.Filter, nodes.Call)):
            return False
    return True


# -- what a variable can hold -------------------------------------------------------------------
#
# DATA: the caller's values (messages, tools, loop), numbers, and what is read out of them;
# CONST: one of the template's literal strings, each a safe name; SEQ: a literal list, tuple or
# dict of those; TAINTED: anything else, i.e. a string the template may have assembled. Slicing,
# indexing, iterating or filtering a CONST string gives its characters ('im_start'[2] == '_').

_DATA, _CONST, _SEQ, _TAINTED = 0, 1, 2, 3
_COUNTING = frozenset({"length", "count", "int", "float", "abs", "round", "wordcount", "filesizeformat"})
_STRUCTURAL = frozenset({
    "list", "sort", "reverse", "unique", "select", "reject", "selectattr", "rejectattr", "batch", "slice",
    "dictsort", "items", "groupby", "first", "last", "random", "min", "max", "sum", "map", "attr",
})
_PICKS = frozenset({"first", "last", "random", "min", "max"})
_SEQ_KEEPING = frozenset({"list", "sort", "unique", "select", "reject", "selectattr", "rejectattr", "reverse"})
_FLOWING_KEYWORDS = frozenset({"default", "fill_with", "start"})
_DATA_METHODS = frozenset({
    "items", "keys", "values", "split", "rsplit", "splitlines", "strip", "lstrip", "rstrip", "lower",
    "upper", "title", "capitalize", "casefold", "startswith", "endswith", "count", "find", "rfind", "index",
    "isdigit", "isalpha", "isspace", "isupper", "islower", "copy",
})
#: jinja2's and the chat runtimes' global functions: printed, their names give away underscores
#: ('<function raise_exception at ...>'), so as values (not calls) they are not data
_CALLABLES = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace", "raise_exception",
                        "strftime_now"})
_MAX_PASSES = 50


def _join(*kinds: int) -> int:
    found = set(kinds)
    return _TAINTED if {_CONST, _SEQ} <= found else max(found, default=_DATA)


class _Kinds:
    """What each variable the template binds can hold, joined over every binding (scopes are not
    told apart, which only ever widens a kind), solved to a fixed point."""

    def __init__(self, tree: Any, nodes: Any) -> None:
        self.nodes = nodes
        self.bound: dict[str, int] = {"varargs": _TAINTED, "kwargs": _TAINTED, "caller": _TAINTED}
        self.namespaces: set[str] = set()
        self.underscored: set[str] = set()
        macros: dict[str, list[Any]] = {}
        for m in tree.find_all(nodes.Macro):
            macros.setdefault(m.name, []).append(m)
        callees = {id(c.node) for c in tree.find_all(nodes.Call)}
        self.escaped = {n.name for n in tree.find_all(nodes.Name)
                        if n.name in macros and n.ctx == "load" and id(n) not in callees}
        self.sites = list(tree.find_all((nodes.Assign, nodes.AssignBlock, nodes.For, nodes.With,
                                         nodes.CallBlock)))
        self.macros = macros
        self.calls: dict[str, list[Any]] = {}
        for c in tree.find_all(nodes.Call):
            if isinstance(c.node, nodes.Name) and c.node.name in macros:
                self.calls.setdefault(c.node.name, []).append(c)
        for site in self.sites:
            if not (isinstance(site, (nodes.Assign, nodes.AssignBlock)) and isinstance(site.target, nodes.Name)):
                continue
            value = getattr(site, "node", None)
            if isinstance(value, nodes.Call) and isinstance(value.node, nodes.Name) and value.node.name == "namespace":
                self.namespaces.add(site.target.name)
            text = _literal_text(site, nodes)
            if text and (text.startswith("_") or text.endswith("_")):
                self.underscored.add(site.target.name)
        for _ in range(_MAX_PASSES):
            before = dict(self.bound)
            self._pass()
            if self.bound == before:
                break
        else:
            self.bound = dict.fromkeys(self.bound, _TAINTED)

    def _bind(self, target: Any, kind: int, value: Any = None) -> None:
        nodes = self.nodes
        if isinstance(target, (nodes.Name, nodes.NSRef)):
            self.bound[target.name] = _join(self.bound.get(target.name, _DATA), kind)
        elif isinstance(target, (nodes.Tuple, nodes.List)):
            literal = isinstance(value, (nodes.Tuple, nodes.List)) and len(value.items) == len(target.items)
            for i, item in enumerate(target.items):
                self._bind(item, self.of(value.items[i]) if literal else _iterated(kind))

    def _pass(self) -> None:
        nodes = self.nodes
        for site in self.sites:
            if isinstance(site, nodes.Assign):
                self._bind(site.target, self.of(site.node), site.node)
            elif isinstance(site, nodes.AssignBlock):
                self._bind(site.target, _TAINTED)
            elif isinstance(site, nodes.For):
                it = site.iter
                if isinstance(it, (nodes.List, nodes.Tuple)):
                    self._bind(site.target, _join(*(self.of(i) for i in it.items)))
                else:
                    self._bind(site.target, _iterated(self.of(it)))
            elif isinstance(site, nodes.With):
                for target, value in zip(site.targets, site.values, strict=False):
                    self._bind(target, self.of(value), value)
            else:  # CallBlock: `caller(...)` arguments are not followed
                for arg in site.args:
                    self._bind(arg, _TAINTED)
        for name, defs in self.macros.items():
            for m in defs:
                params = [a.name for a in m.args]
                kinds: dict[str, list[int]] = {p: [] for p in params}
                for p, d in zip(params[len(params) - len(m.defaults):], m.defaults, strict=True):
                    kinds[p].append(self.of(d))
                for c in self.calls.get(name, []):
                    if c.dyn_args is not None or c.dyn_kwargs is not None:
                        kinds = {p: [_TAINTED] for p in params}
                        break
                    for p, a in zip(params, c.args, strict=False):
                        kinds[p].append(self.of(a))
                    for k in c.kwargs:  # an undeclared keyword lands in `kwargs`, already tainted
                        if k.key in kinds:
                            kinds[k.key].append(self.of(k.value))
                for p, found in kinds.items():
                    kind = _TAINTED if name in self.escaped else _join(*found)
                    self.bound[p] = _join(self.bound.get(p, _DATA), kind)

    def of(self, expr: Any) -> int:
        """The kind of value an expression yields."""
        nodes = self.nodes
        if isinstance(expr, nodes.Const):
            if isinstance(expr.value, str):
                return _TAINTED if _unsafe_part(expr.value) else _CONST
            return _DATA
        if isinstance(expr, nodes.Name):
            if expr.name in self.bound:
                return self.bound[expr.name]
            return _TAINTED if expr.name.endswith("_token") or expr.name in _CALLABLES else _DATA
        if isinstance(expr, nodes.Getattr):
            base = self.of(expr.node)
            namespace = isinstance(expr.node, nodes.Name) and expr.node.name in self.namespaces
            return base if namespace or base == _DATA else _TAINTED
        if isinstance(expr, nodes.Getitem):
            base = self.of(expr.node)
            if base == _SEQ:
                return _SEQ if isinstance(expr.arg, nodes.Slice) else _CONST
            return _DATA if base == _DATA else _TAINTED
        if isinstance(expr, (nodes.List, nodes.Tuple, nodes.Dict)):
            items = [self.of(i) for i in expr.items] if not isinstance(expr, nodes.Dict) else \
                [self.of(x) for p in expr.items for x in (p.key, p.value)]
            worst = _join(*items)
            return worst if worst in (_DATA, _TAINTED) else (_SEQ if _SEQ not in items else _TAINTED)
        if isinstance(expr, (nodes.Concat, nodes.BinExpr, nodes.Neg, nodes.Pos)):
            parts = expr.nodes if isinstance(expr, nodes.Concat) else \
                [expr.node] if isinstance(expr, (nodes.Neg, nodes.Pos)) else [expr.left, expr.right]
            if isinstance(expr, (nodes.And, nodes.Or)):
                return _join(*(self.of(p) for p in parts))
            return _DATA if all(self.of(p) == _DATA for p in parts) else _TAINTED
        if isinstance(expr, nodes.CondExpr):
            return _join(self.of(expr.expr1), self.of(expr.expr2) if expr.expr2 is not None else _DATA)
        if isinstance(expr, (nodes.Compare, nodes.Not, nodes.Test, nodes.Slice)):
            return _DATA
        if isinstance(expr, nodes.Filter) and expr.node is not None:
            dyn = expr.dyn_args is not None or expr.dyn_kwargs is not None
            return _TAINTED if dyn else self._filtered(expr.name, self.of(expr.node), expr.args, expr.kwargs)
        if isinstance(expr, nodes.Call):
            return self._called(expr)
        return _TAINTED

    def _filtered(self, name: str, value: int, args: list[Any], kwargs: list[Any]) -> int:
        keywords = {k.key: self.of(k.value) for k in kwargs}
        argkinds = [self.of(a) for a in args] + list(keywords.values())
        if name in _COUNTING:
            return _DATA
        if name in ("default", "d"):
            return _join(value, *(self.of(a) for a in args[:1]), keywords.get("default_value", _DATA))
        if name not in _STRUCTURAL:
            return _DATA if value == _DATA and all(k == _DATA for k in argkinds) else _TAINTED
        flowing = [k for key, k in keywords.items() if key in _FLOWING_KEYWORDS]
        if name in ("batch", "slice", "sum", "groupby") and len(args) > 1:
            flowing.append(self.of(args[1]))
        if any(k != _DATA for k in flowing):
            return _TAINTED
        if name == "map" and args:
            first = args[0]
            if not (isinstance(first, self.nodes.Const) and isinstance(first.value, str)):
                return _TAINTED
            inner = self._filtered(first.value, _DATA if value == _DATA else _TAINTED, args[1:], kwargs)
            return _DATA if value == _DATA and inner == _DATA else _TAINTED
        if value == _DATA:
            return _DATA
        if value == _SEQ and name in _PICKS:
            return _CONST
        return _SEQ if value == _SEQ and name in _SEQ_KEEPING else _TAINTED

    def _called(self, call: Any) -> int:
        nodes = self.nodes
        if call.dyn_args is not None or call.dyn_kwargs is not None:
            return _TAINTED
        argkinds = [self.of(a) for a in call.args] + [self.of(k.value) for k in call.kwargs]
        fn = call.node
        if isinstance(fn, nodes.Name) and fn.name not in self.bound and fn.name not in self.macros:
            if fn.name in ("range", "raise_exception"):
                return _DATA
            if fn.name in ("namespace", "dict"):
                return _join(*argkinds)
            return _TAINTED
        if isinstance(fn, nodes.Getattr) and self.of(fn.node) == _DATA:
            if fn.attr == "get":
                return _join(_DATA, *argkinds[1:])
            if fn.attr in _DATA_METHODS and all(k in (_DATA, _CONST) for k in argkinds):
                return _DATA
            return _DATA if all(k == _DATA for k in argkinds) else _TAINTED
        return _TAINTED


def _iterated(kind: int) -> int:
    """The kind of the items of a value of `kind` (a literal string's items are its characters)."""
    return {_DATA: _DATA, _SEQ: _CONST}.get(kind, _TAINTED)
