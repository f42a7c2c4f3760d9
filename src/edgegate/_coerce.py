"""Option values of plain types converted without importing pydantic.

Typer 0.29 converts every parameter value through a pydantic ``TypeAdapter`` built on first use,
so any command (not ``--help``) imports pydantic and builds an adapter per parameter: more CPU
than a whole key-mode ``edgegate sign``. For the values a command line or a default gives to
edgegate's parameter types that conversion is an identity (``str``, ``bool``, an ``int``/``float``
that already is one) or ``Path(text)`` followed by typer's own path checks
(`typer._param_types.coerce_cli_path`, called here as the adapter calls it). Everything else —
numbers given as text, booleans from the environment, parsers, choices, files — goes to typer's
own runtime parameter, built lazily as before. A test compares the two on the same values.

If typer's internals change shape, `install` leaves the parameter alone (typer's own path); the
test of the key-mode module set then fails, so the change is seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

try:
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # pragma: no cover - another typer: `install` does nothing
    RuntimeParam = object  # type: ignore[misc,assignment]
    build_runtime_param = None  # type: ignore[assignment]

_SKIP = object()
"""`_fast` could not convert the value: typer's own runtime parameter does."""


def _leaf(annotation: Any, info: Any) -> bool:
    """Is `annotation` a leaf type `_fast` handles (no parser, no range, no path options)?"""
    if info.parser is not None or info.min is not None or info.max is not None:
        return False
    if annotation in (str, bool, int, float):
        return True
    if annotation is Path:
        return info.path_type is None
    return False


def _convert(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    if annotation is Path:
        if type(value) is not str:
            return _SKIP
        from typer._param_types import coerce_cli_path

        # the adapter's TypeAdapter(Path) is Path(text) for a str; typer's checks follow
        return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    if annotation is bool:
        return value if type(value) is bool else _SKIP
    # str, int, float: a value of exactly that type is what the adapter returns unchanged
    return value if type(value) is annotation else _SKIP


def _fast(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        if not isinstance(value, (list, tuple)):
            return _SKIP
        out = [_convert(item, info, v, param, ctx) for v in value]
        return _SKIP if any(v is _SKIP for v in out) else out
    return _convert(annotation, info, value, param, ctx)


def _handled(annotation: Any, info: Any) -> bool:
    if get_origin(annotation) is list:
        args = get_args(annotation)
        return len(args) == 1 and _leaf(args[0], info)
    return _leaf(annotation, info)


@dataclass(frozen=True)
class _Plain(RuntimeParam):  # type: ignore[misc]
    """`_fast`, else the runtime parameter typer would have built (once, on first need)."""

    descriptor: Any = None
    typer_param: list[Any] = field(default_factory=list)

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        out = _fast(self.annotation, self.parameter_info, value, param, ctx)
        if out is not _SKIP:
            return out
        if not self.typer_param:
            self.typer_param.append(build_runtime_param(self.descriptor))
        return self.typer_param[0]._coerce_value(value, param=param, ctx=ctx)


def install(param: Any) -> None:
    """Give a Typer parameter of a plain type a runtime parameter that converts without pydantic."""
    try:
        descriptor = param.type_descriptor
        annotation, info = descriptor.annotation, descriptor.parameter_info
        if param._runtime_param is not None or descriptor.file_annotation is not None:
            return
        if _handled(annotation, info):
            param._runtime_param = _Plain(parameter_info=info, annotation=annotation, descriptor=descriptor)
    except AttributeError:
        return


def install_command(command: Any) -> None:
    """`install` on a command's (or group's) parameters and on the help option Click makes for it
    on first use."""
    for param in getattr(command, "params", ()):
        install(param)
    make_help = getattr(command, "get_help_option", None)
    if make_help is None or getattr(make_help, "_edgegate_coerce", False):
        return

    def get_help_option(ctx: Any) -> Any:
        option = make_help(ctx)
        if option is not None:
            install(option)
        return option

    get_help_option._edgegate_coerce = True  # type: ignore[attr-defined]
    command.get_help_option = get_help_option
