"""What a variable of a GGUF chat template can hold (caller data, a safe literal, or a string the
template assembled), solved over the parsed tree without rendering it; used by templates.py."""

from __future__ import annotations

from typing import Any

#: Attributes jinja2's sandbox refuses besides `_`-prefixed ones (jinja2.sandbox's UNSAFE_*).
_UNSAFE_ATTRIBUTES = frozenset(
    {
        "func_closure", "func_code", "func_dict", "func_defaults", "func_globals", "im_class", "im_func",
        "im_self", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "ag_code", "ag_frame",
        "mro", "f_globals", "f_locals", "f_builtins", "tb_frame", "format_map",
    }
)


def _unsafe_name(name: str) -> bool:
    return name.startswith("_") or name in _UNSAFE_ATTRIBUTES


def _unsafe_part(name: str) -> bool:
    return _unsafe_name(name) or "__" in name


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


# -- what a variable can hold -------------------------------------------------------------------
#
# DATA: the caller's values (messages, tools, loop counters), numbers, and what is read out of
# them; CONST: one of the template's literal strings, each a safe name; SEQ: a literal list, tuple
# or dict of those; TAINTED: anything else, i.e. a string the template may have assembled. Slicing,
# indexing, iterating or filtering a CONST string gives its characters ('im_start'[2] == '_').
# Joining pieces (`~`, `+`, `*`, `%`, `join`, `replace`, ...) is assembling even when every piece
# is data: characters sliced out of the printed form of a value (`(d.keys()|string)[4] == '_'`)
# are data too. So is whatever a function, method or filter off an allow-list returns, and the
# template's own objects: `self` (its blocks), `super`, `caller`, `varargs`, `kwargs`, macros,
# `loop` but for its counters.

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
#: filters whose output is made of their input alone (no text of the template's own goes in)
_DATA_FILTERS = frozenset({
    "trim", "lower", "upper", "title", "capitalize", "string", "e", "escape", "forceescape", "safe",
    "striptags", "tojson", "pprint", "urlencode",
})
#: the template's own objects: their output or printed form is text the template wrote
_OWN_NAMES = frozenset({"self", "super", "loop", "caller", "varargs", "kwargs"})
#: `loop` attributes that are numbers or booleans (previtem, nextitem, cycle, changed are not)
_LOOP_COUNTERS = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth",
                            "depth0"})
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
            own = expr.name in _OWN_NAMES or expr.name in self.macros
            return _TAINTED if own or expr.name.endswith("_token") or expr.name in _CALLABLES else _DATA
        if _loop_counter(expr, nodes) and "loop" not in self.bound:
            return _DATA
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
        if isinstance(expr, nodes.Concat):
            return _TAINTED
        if isinstance(expr, (nodes.BinExpr, nodes.Neg, nodes.Pos)):
            parts = [expr.node] if isinstance(expr, (nodes.Neg, nodes.Pos)) else [expr.left, expr.right]
            if isinstance(expr, (nodes.And, nodes.Or)):
                return _join(*(self.of(p) for p in parts))
            if any(self.of(p) != _DATA for p in parts):
                return _TAINTED
            if isinstance(expr, (nodes.Add, nodes.Mul)):  # `u + u`, `u * 2`: a number on one side or not data
                return _DATA if any(_numberish(p, nodes) for p in parts) else _TAINTED
            if isinstance(expr, nodes.Mod):  # `fmt % args` formats a string unless both are numbers
                return _DATA if all(_numberish(p, nodes) for p in parts) else _TAINTED
            return _DATA
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
            data = value == _DATA and all(k == _DATA for k in argkinds)
            return _DATA if data and name in _DATA_FILTERS else _TAINTED
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
                # the keyword names are the template's text: `dict(_=1)|first` is '_'
                keys = [_TAINTED if _unsafe_part(k.key) else _CONST for k in call.kwargs]
                return _join(*argkinds, *(keys if fn.name == "dict" or _TAINTED in keys else []))
            return _TAINTED
        if isinstance(fn, nodes.Getattr) and self.of(fn.node) == _DATA:
            if fn.attr == "get":
                return _join(_DATA, *argkinds[1:])
            if fn.attr in _DATA_METHODS and all(k in (_DATA, _CONST) for k in argkinds):
                return _DATA
        return _TAINTED


def _loop_counter(expr: Any, nodes: Any) -> bool:
    return (isinstance(expr, nodes.Getattr) and expr.attr in _LOOP_COUNTERS and isinstance(expr.node, nodes.Name)
            and expr.node.name == "loop")


def _numberish(expr: Any, nodes: Any) -> bool:
    """An expression that can only be a number (or fail): `1`, `loop.index0`, `x|length`, `a - b`."""
    if isinstance(expr, nodes.Const):
        return isinstance(expr.value, (int, float))
    if isinstance(expr, (nodes.Sub, nodes.Div, nodes.FloorDiv, nodes.Pow, nodes.Neg, nodes.Pos)):
        return True
    if isinstance(expr, (nodes.Add, nodes.Mul, nodes.Mod)):
        return _numberish(expr.left, nodes) and _numberish(expr.right, nodes)
    if isinstance(expr, nodes.Filter):
        return expr.name in _COUNTING and expr.name != "filesizeformat"
    return _loop_counter(expr, nodes)


def _iterated(kind: int) -> int:
    """The kind of the items of a value of `kind` (a literal string's items are its characters)."""
    return {_DATA: _DATA, _SEQ: _CONST}.get(kind, _TAINTED)
