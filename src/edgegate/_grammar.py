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
from collections.abc import Callable, Iterator, MutableMapping, Sequence
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

#: Long option names that are a flag in some commands and take a value in others: their
#: variable carries the command (`env_name`). Fixed here because the gates' commands are built
#: lazily; a test recomputes it over the whole tree (`flag_kinds`).
AMBIGUOUS_FLAGS: frozenset[str] = frozenset({"IMAGE"})

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
    """The root `edgegate` group: applies the grammar to every command below it.

    The gates' sub-apps (`subapps`: name, module with a Typer ``app``) are imported and built
    when first looked up, so ``edgegate sign ...`` builds the sign commands only; listing them
    all (``edgegate --help``, the tests' tree walk) builds every one.
    """

    subapps: tuple[tuple[str, str], ...] = ()
    pretty_exceptions_short = True
    """The root app's setting (Typer's default), which its sub-apps are built with."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._common = _common_params()
        for words, command in iter_commands(self):
            _apply(words, command, self._common, AMBIGUOUS_FLAGS)
        install_command(self)
        self.commands = _LazyCommands(dict(self.commands), self.subapps, self._load)

    def _load(self, name: str, module_name: str) -> Any:
        import importlib

        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # gate not built yet
                return None
            raise
        holder = typer.Typer()
        holder.add_typer(module.app, name=name)  # what the root's add_typer would register
        group = typer.main.get_group_from_info(
            holder.registered_groups[0],
            pretty_exceptions_short=self.pretty_exceptions_short,
            rich_markup_mode=self.rich_markup_mode,
            suggest_commands=self.suggest_commands,
        )
        for words, command in iter_commands(group, (name,)):
            _apply(words, command, self._common, AMBIGUOUS_FLAGS)
        for sub in _groups(group):
            install_command(sub)
        return group

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # names only: nothing is built to list them


class _LazyCommands(MutableMapping[str, Any]):
    """A group's commands where some are built on first lookup (`load(name, module)`; None:
    not there). Iteration order: the built ones, then the lazy ones, as given."""

    def __init__(self, built: dict[str, Any], lazy: Sequence[tuple[str, str]], load: Callable[[str, str], Any]) -> None:
        self._built = built
        self._lazy = {n: m for n, m in lazy if n not in built}
        self._load = load

    def __getitem__(self, name: str) -> Any:
        if name in self._lazy:
            command = self._load(name, self._lazy.pop(name))
            if command is not None:
                self._built[name] = command
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._lazy.pop(name, None)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if self._lazy.pop(name, None) is None:
            del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._built, *self._lazy])

    def __len__(self) -> int:
        return len(self._built) + len(self._lazy)

    def __contains__(self, name: object) -> bool:
        return name in self._built or name in self._lazy


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


def _long_name(option: Any) -> str:
    longs: list[str] = [o for o in option.opts if o.startswith("--")] or list(option.opts)
    return longs[0].lstrip("-").upper().replace("-", "_")


def env_name(option: Any, words: tuple[str, ...] = (), ambiguous: frozenset[str] = AMBIGUOUS_FLAGS) -> str:
    """``EDGEGATE_<NAME>`` for an option: its first long name, upper-case, dashes as underscores.
    Where one name is a flag in some commands and takes a value in others (`AMBIGUOUS_FLAGS`,
    e.g. ``--image``), the flag's variable carries its command: ``EDGEGATE_SIGN_IMAGE``."""
    name = _long_name(option)
    if words and option.is_flag and name in ambiguous:
        name = f"{words[0].upper().replace('-', '_')}_{name}"
    return ENV_PREFIX + name


FLAG_KINDS: dict[str, set[bool]] = {}
"""Long name → {is a flag?} over every command built so far (the test of `AMBIGUOUS_FLAGS`)."""


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


def _apply(words: tuple[str, ...], command: Any, common: list[Any], ambiguous: frozenset[str]) -> None:
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
            FLAG_KINDS.setdefault(_long_name(param), set()).add(bool(param.is_flag))
            param.envvar = env_name(param, words, ambiguous)
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
