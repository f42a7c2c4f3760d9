"""The one CLI grammar (docs/cli.md), applied to the whole command tree in one place.

Every leaf command gets ``-V/--version``, ``-q/--quiet`` and ``--no-color``; every option can be
set as ``EDGEGATE_<LONG_NAME>`` (Trivy's rule: one variable per option name, whatever the
sub-command); metavars are words (``FILE``, ``FORMAT[:PATH]``), not Python types; plain values
are converted without pydantic (`edgegate._coerce`). The gates' own modules declare only their
own options; `RootGroup` adds the rest when Typer builds the
Click tree, so `edgegate --help` stays as fast as before and no gate can drift from the grammar.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup

from edgegate import __version__
from edgegate._coerce import install as install_coercion
from edgegate._coerce import install_command

ENV_PREFIX = "EDGEGATE_"

#: Metavars by option name (long name without dashes); other options get one from their type.
METAVARS: dict[str, str] = {
    "format": "FORMAT[:PATH]",
    "output": "FILE",
    "config": "FILE",
    "gate": "GATE",
    "rules": "DIR|FILE",
    "data": "FILE",
    "namespace": "PACKAGE",
    "schemas": "DIR",
    "parser": "yaml|json|toml",
    "fail-on": "SEVERITY",
    "unknown-severity": "SEVERITY",
    "platform": "OS/ARCH[/VARIANT]",
    "basis": "min|expected|max",
    "kind": "KIND",
    "ignore": "ID",
    "image": "IMAGE",
    "usage": "[METRIC=]FILE",
    "identity": "IDENTITY",
    "issuer": "URL",
    "osv-url": "URL",
    "base": "GIT_REF",
    "revision": "REV",
}
_TYPE_METAVARS = {"path": "PATH", "str": "TEXT", "int": "N", "float": "NUMBER"}

#: The options every command has, added by `RootGroup` (their parameter names).
COMMON = ("version", "quiet", "no_color")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgegate {__version__}")
        raise typer.Exit(0)


@functools.cache
def _common_params() -> list[Any]:
    """`-V`, `-q`, `--no-color` as Click parameters (declared once, with Typer)."""
    holder = typer.Typer(add_completion=False)

    @holder.command()
    def _holder(
        version: Annotated[
            bool,
            typer.Option("--version", "-V", callback=_version, is_eager=True, expose_value=True,
                         help="Show the version and exit."),
        ] = False,
        quiet: Annotated[
            bool, typer.Option("--quiet", "-q", envvar="EDGEGATE_QUIET",
                         help="No progress display and no warnings on stderr.")
        ] = False,
        no_color: Annotated[bool, typer.Option("--no-color", envvar="EDGEGATE_NO_COLOR",
                                                help="No colour (also: NO_COLOR=1).")] = False,
    ) -> None:
        """Holder of the common options."""

    params: list[Any] = typer.main.get_command(holder).params
    for param in params:
        install_coercion(param)
    return params


class _Argument(TyperArgument):
    """An argument shown by its metavar alone: ``PATHS...``, not ``{paths}... <list[Path]>``."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = str(self.metavar or self.name).upper()
        if self.nargs != 1:
            name += "..."
        return name if self.required else f"[{name}]"

    def _rich_display_name(self) -> str:
        return str(self.metavar or self.name).upper() + ("..." if self.nargs != 1 else "")


class RootGroup(TyperGroup):
    """The root `edgegate` group: applies the grammar to every command below it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        common = _common_params()
        commands = list(iter_commands(self))
        flags = _flag_kinds([c for _, c in commands])
        for words, command in commands:
            _apply(words, command, common, flags)
        for group in _groups(self):
            install_command(group)


def _groups(group: Any) -> Iterator[Any]:
    yield group
    for sub in getattr(group, "commands", {}).values():
        if getattr(sub, "commands", None) is not None:
            yield from _groups(sub)


def iter_commands(group: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf command below `group` (depth first) with its words: (("vuln", "db", "build"), cmd)."""
    for name, sub in getattr(group, "commands", {}).items():
        if getattr(sub, "commands", None) is not None:
            yield from iter_commands(sub, (*prefix, name))
        else:
            yield (*prefix, name), sub


def env_name(option: Any, words: tuple[str, ...] = (), flags: dict[str, set[bool]] | None = None) -> str:
    """``EDGEGATE_<NAME>`` for an option: its first long name, upper-case, dashes as underscores.
    Where one name is a flag in some commands and takes a value in others (``--image``), the
    flag's variable carries its command: ``EDGEGATE_SIGN_IMAGE``."""
    longs: list[str] = [o for o in option.opts if o.startswith("--")] or list(option.opts)
    name = longs[0].lstrip("-").upper().replace("-", "_")
    if flags is not None and words and option.is_flag and len(flags.get(name, set())) > 1:
        name = f"{words[0].upper().replace('-', '_')}_{name}"
    return ENV_PREFIX + name


def _flag_kinds(commands: list[Any]) -> dict[str, set[bool]]:
    kinds: dict[str, set[bool]] = {}
    for command in commands:
        for param in command.params:
            if isinstance(param, TyperArgument) or param.hidden or param.envvar is not None:
                continue
            longs = [o for o in param.opts if o.startswith("--")] or list(param.opts)
            kinds.setdefault(longs[0].lstrip("-").upper().replace("-", "_"), set()).add(bool(param.is_flag))
    return kinds


def _metavar(option: Any) -> str:
    longs = [o for o in option.opts if o.startswith("--")]
    name = longs[0][2:] if longs else option.name
    if name in METAVARS:
        return METAVARS[name]
    type_name = option.bare_type().lower()
    for key, word in _TYPE_METAVARS.items():
        if key in type_name:
            return word
    return "TEXT"


def _apply(words: tuple[str, ...], command: Any, common: list[Any], flags: dict[str, set[bool]]) -> None:
    names = {p.name for p in command.params}
    command.context_settings.setdefault("help_option_names", ["-h", "--help"])
    install_command(command)
    for param in command.params:
        if isinstance(param, TyperArgument):
            if type(param) is TyperArgument:
                param.__class__ = _Argument
            continue
        if param.hidden:
            continue
        if param.envvar is None:
            param.envvar = env_name(param, words, flags)
        if param.metavar is None and not param.is_flag:
            param.metavar = _metavar(param)
    for param in common:
        if param.name not in names:
            command.params.append(param)
    if command.callback is not None and not getattr(command.callback, "_edgegate_grammar", False):
        command.callback = _wrap(command.callback)


def _wrap(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        from edgegate._cli import STATE

        kwargs.pop("version", None)
        STATE.quiet = bool(kwargs.pop("quiet", False))
        STATE.color = False if kwargs.pop("no_color", False) else None
        if STATE.quiet and "progress" in kwargs:
            kwargs["progress"] = False
        return callback(*args, **kwargs)

    run._edgegate_grammar = True  # type: ignore[attr-defined]
    return run
