"""The `edgegate` command: a Typer root composing one sub-app per gate, plus `check` and `init`.

Gate sub-apps are small modules that import their engines inside their commands, so that
`edgegate --help` stays fast.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from edgegate import __version__
from edgegate._cli import DebugOpt, FormatOpt, OutputOpt, error_line, guard, run_command

if TYPE_CHECKING:
    from edgegate.config import Config

app = typer.Typer(
    name="edgegate",
    help="The supply-chain and policy gate in front of edge AI deployments. "
    "Exit code: 0 every gate passed, 1 a gate failed, 2 usage or input error.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

#: (sub-command name, module with a Typer `app`, help)
_SUBAPPS: list[tuple[str, str]] = [
    ("policy", "edgegate.policy.cli"),
    ("sbom", "edgegate.sbom.cli"),
    ("vuln", "edgegate.vuln.cli"),
    ("sign", "edgegate.sign.cli"),
    ("verify", "edgegate.sign.verify_cli"),
    ("model", "edgegate.model.cli"),
    ("cost", "edgegate.finops.cli"),
]


def _register() -> None:
    for name, module_name in _SUBAPPS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # gate not built yet
                continue
            raise
        sub = module.app
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgegate {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """edgegate: may this change ship?"""


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="Project folder (or config file) to check.")] = Path("."),
    gate: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--gate", "-g", help="Run only this gate (repeatable)."),
    ] = None,
    config_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="Config file (default: edgegate.toml found from PATH upwards)."),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Run every gate configured in edgegate.toml (or [tool.edgegate]) and give one verdict."""
    from edgegate.check import load_for_check, run_check

    def body() -> int:
        cfg = load_for_check(path, config_file)
        formats = list(fmt or [])
        if not formats:
            report = cfg.section("report") or {}
            formats = list(report.get("formats", [])) or ["text"]
            formats = [_resolve_format(f, cfg) for f in formats]
        return run_command(
            lambda: run_check(cfg, gate),
            formats=formats,
            output=output,
            debug=debug,
            command="edgegate check",
            root=cfg.root,
            fallback_path=str(cfg.path) if cfg.path else None,
        )

    raise typer.Exit(guard(body, debug))


def _resolve_format(spec: str, cfg: Config) -> str:
    name, sep, dest = spec.partition(":")
    if sep:
        return f"{name}:{cfg.resolve(dest)}"  # a config's report path stays inside the project
    return spec


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Folder to write edgegate.toml into.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write a commented starter edgegate.toml and an example Rego rule."""
    from edgegate.init import write_starter

    def body() -> int:
        for written in write_starter(path, force=force):
            typer.echo(f"wrote {written}")
        return 0

    raise typer.Exit(guard(body))


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        error_line("interrupted")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
