"""GGUF chat templates: parsed with jinja2 (never rendered) and checked for what jinja2's sandbox
refuses, i.e. attribute access that reaches Python internals (CVE-2024-34359 class).

A plain `jinja2.Environment` (what llama-cpp-python used) lets `x.__class__`, `x['__class__']`
and `x|attr('__class__')` walk from any value to `os`. The sandbox refuses every attribute that
starts with `_` and a few more (`mro`, function and generator internals). A template is flagged
when such a name is reached, however it is spelled: jinja2's parser already decodes string
escapes (`'\\x5f\\x5fclass\\x5f\\x5f'`), and a name built at run time (`attr(u~'init'~u)`, a
subscript or `attr` with a computed string) is flagged because its value cannot be known
without rendering.
"""

from __future__ import annotations

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
MAX_FINDINGS = 20


class TemplateError(Exception):
    """The template cannot be parsed, so what it does cannot be decided."""


@dataclass(frozen=True)
class TemplateIssue:
    line: int
    what: str


def _unsafe_name(name: str) -> bool:
    return name.startswith("_") or name in _UNSAFE_ATTRIBUTES


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
    issues: list[TemplateIssue] = []

    def add(node: Any, what: str) -> None:
        if len(issues) < MAX_FINDINGS:
            issues.append(TemplateIssue(int(getattr(node, "lineno", 0) or 0), what))

    stack: list[Any] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.Getattr) and _unsafe_name(node.attr):
            add(node, f"attribute {node.attr!r}")
        elif isinstance(node, nodes.Getitem):
            _check_name(node.arg, node, "subscript", add, nodes)
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            if node.args:
                _check_name(node.args[0], node, "attr filter", add, nodes)
            else:
                add(node, "attr filter with a computed name")
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and "__" in node.value:
            add(node, f"string {node.value[:40]!r} names a Python internal")
        elif isinstance(node, (nodes.Concat, nodes.Add)) and _underscore_pieces(node, nodes):
            add(node, "a string assembled from underscore pieces")
        elif isinstance(node, (nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends)):
            add(node, f"{type(node).__name__.lower()} of another template")
        try:
            stack.extend(node.iter_child_nodes())
        except RecursionError:  # pragma: no cover - iter_child_nodes is flat
            raise TemplateError("Jinja template nested too deeply") from None
    return issues


def _check_name(arg: Any, node: Any, how: str, add: Any, nodes: Any) -> None:
    """A subscript or `attr` argument: a literal string is checked; a string computed at run time
    (concatenation, filters, calls, `~`, `%`, `+`) is flagged; numbers and plain variables are the
    ordinary `messages[0]` / `message[key]` shapes and pass (their strings are checked where they
    are written)."""
    if isinstance(arg, nodes.Const):
        if isinstance(arg.value, str) and _unsafe_name(arg.value):
            add(node, f"{how} {arg.value!r}")
        return
    if how == "attr filter":
        add(node, "attr filter with a name computed at run time")
        return
    if isinstance(arg, (nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Neg, nodes.Pos)):
        return
    if isinstance(arg, (nodes.Add, nodes.Sub, nodes.Mul, nodes.FloorDiv, nodes.Mod)) and _numeric(arg, nodes):
        return
    if isinstance(arg, nodes.Slice):
        return
    add(node, f"{how} with a name computed at run time")


def _underscore_pieces(expr: Any, nodes: Any) -> bool:
    """`'_' ~ '_cla' ~ 'ss_' ~ '_'`: a concatenation with a literal piece that starts or ends with
    an underscore (chat-template markers such as '<|im_start|>' have them inside only)."""
    operands = expr.nodes if isinstance(expr, nodes.Concat) else [expr.left, expr.right]
    return any(
        isinstance(o, nodes.Const) and isinstance(o.value, str) and o.value and (
            o.value.startswith("_") or o.value.endswith("_"))
        for o in operands
    )


def _numeric(expr: Any, nodes: Any) -> bool:
    """Arithmetic over numbers and variables (`loop.index0 - 1`), never a string literal."""
    for sub in [expr, *expr.find_all(nodes.Expr)]:
        if isinstance(sub, nodes.Const) and not isinstance(sub.value, (int, float)):
            return False
        if isinstance(sub, (nodes.Concat, nodes.Filter, nodes.Call)):
            return False
    return True
