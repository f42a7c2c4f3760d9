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
`{% set %}` blocks, loop targets, macro arguments, `namespace` attributes, block and macro output
read back through `self.b()`, a macro call or `caller()`) are flagged because their value cannot be
known without rendering (see _template_kinds). Values the caller passes (`messages`, `tools`,
`loop` counters) are data and may be subscripts; `*_token` values come from the model file itself
and may not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from edgegate.model.scan._template_kinds import (
    _DATA,
    _TAINTED,
    _Kinds,
    _literal_text,
    _unsafe_name,
    _unsafe_part,
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
#: what hands out a string's `format` method by name (`format_map` is unsafe anyway)
_FORMAT_NAMES = frozenset({"format", "format_map"})
#: filters that only print or count a value (a `format` value reaching them is not called)
_VALUE_FILTERS = frozenset({"string", "tojson", "e", "escape", "trim", "lower", "upper", "length", "count"})
MAX_FINDINGS = 20


class TemplateError(Exception):
    """The template cannot be parsed, so what it does cannot be decided."""


@dataclass(frozen=True)
class TemplateIssue:
    line: int
    what: str



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
        self.parents: dict[int, Any] = {}

    def add(self, node: Any, what: str) -> None:
        if len(self.issues) < MAX_FINDINGS:
            self.issues.append(TemplateIssue(int(getattr(node, "lineno", 0) or 0), what))

    def run(self) -> list[TemplateIssue]:
        nodes = self.nodes
        self._check_own_text()
        stack: list[tuple[Any, Any]] = [(self.tree, None)]
        while stack:
            node, parent = stack.pop()
            self.parents[id(node)] = parent
            if isinstance(node, nodes.Getattr) and _unsafe_name(node.attr):
                self.add(node, f"attribute {node.attr!r}")
            elif isinstance(node, nodes.Getattr) and node.attr == "format":
                if not (isinstance(parent, nodes.Call) and parent.node is node):  # a call: _check_format
                    self._check_format_value(node, parent)
            elif isinstance(node, nodes.Getitem):
                self._check_name(node.arg, node, "subscript")
                if isinstance(node.arg, nodes.Const) and node.arg.value == "format":
                    self._check_format_value(node, parent)
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
            stack.extend((child, node) for child in node.iter_child_nodes())
        return self.issues

    def _check_format_value(self, node: Any, parent: Any) -> None:
        """`x.format` / `x['format']` not called on the spot hands out a string's `format` method
        (its fields walk attributes: `f(namespace)` with f = '{0.__init__...}'.format). Only the
        caller's data (a JSON schema's `format` key) used where just its value counts (printed,
        tested, compared, joined, counted) passes."""
        nodes = self.nodes
        value = node
        while isinstance(parent, (nodes.And, nodes.Or)) or (isinstance(parent, nodes.CondExpr) and parent.test
                                                             is not value):
            value, parent = parent, self.parents.get(id(parent))  # `a and b`, `a if c else b` hand it on
        consumed = isinstance(parent, (nodes.Output, nodes.Compare, nodes.Operand, nodes.Test, nodes.Not,
                                       nodes.Concat)) \
            or (isinstance(parent, (nodes.If, nodes.CondExpr)) and parent.test is value) \
            or (isinstance(parent, nodes.Filter) and parent.node is value and parent.name in _VALUE_FILTERS)
        if not consumed or self.kinds.of(node.node) != _DATA:
            self.add(node, "str.format obtained as a value (called later, its fields walk attributes)")

    def _check_own_text(self) -> None:
        """Text inside a block, macro, call block, `{% filter %}` or `{% set %}` body is a value the
        template can read back (`self.name()`, a macro call, `caller()`): like a string literal it
        may not name an internal nor be an underscore piece (`{% block b %}_{{''}}_init_{% endblock %}`)."""
        nodes = self.nodes
        seen: set[int] = set()
        for body in self.tree.find_all((nodes.Block, nodes.Macro, nodes.CallBlock, nodes.FilterBlock,
                                        nodes.AssignBlock)):
            for text in body.find_all(nodes.TemplateData):
                if id(text) in seen:
                    continue
                seen.add(id(text))
                data = text.data
                if "__" in data or data.startswith("_") or data.endswith("_"):
                    self.add(text, f"block or macro text {data[:40]!r} that names or pieces together an internal")

    def _check_name(self, arg: Any, node: Any, how: str) -> None:
        """A subscript or `attr` argument: a literal string is checked; a string computed at run
        time (concatenation, filters, calls, `~`, `%`, `+`) is flagged; numbers and the caller's
        data are the ordinary `messages[0]` / `message[key]` shapes and pass, a variable the
        template itself assembled does not."""
        nodes = self.nodes
        if isinstance(arg, nodes.Const):
            if isinstance(arg.value, str) and _unsafe_name(arg.value):
                self.add(node, f"{how} {arg.value!r}")
            elif how == "attr filter" and arg.value in _FORMAT_NAMES:
                self.add(node, "attr filter handing out str.format")
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
        elif isinstance(arg.value, str) and any(_unsafe_part(p) or p.strip() in _FORMAT_NAMES
                                                for p in re.split(r"[.,]", arg.value)):
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


def _numeric(expr: Any, nodes: Any) -> bool:
    """Arithmetic over numbers and variables (`loop.index0 - 1`), never a string literal."""
    for sub in [expr, *expr.find_all(nodes.Expr)]:
        if isinstance(sub, nodes.Const) and not isinstance(sub.value, (int, float)):
            return False
        if isinstance(sub, (nodes.Concat, nodes.Filter, nodes.Call)):
            return False
    return True
