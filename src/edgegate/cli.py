"""The `edgegate` command: a Typer root composing one sub-app per gate, plus `check` and `init`.

Gate sub-apps are small modules that import their engines inside their commands, so that
`edgegate --help` stays fast; a command imports and builds only its own gate's sub-app.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from edgegate import __version__
from edgegate._cli import DebugOpt, FormatOpt, OutputOpt, error_line, guard, run_command
from edgegate._grammar import RootGroup
from edgegate.findings import GateResult

if TYPE_CHECKING:
    from edgegate.config import Config


#: (sub-command name, module with a Typer `app`): built when first looked up (`RootGroup`)
_SUBAPPS: tuple[tuple[str, str], ...] = (
    ("policy", "edgegate.policy.cli"),
    ("sbom", "edgegate.sbom.cli"),
    ("vuln", "edgegate.vuln.cli"),
    ("sign", "edgegate.sign.cli"),
    ("verify", "edgegate.sign.verify_cli"),
    ("admit", "edgegate.admit.cli"),
    ("model", "edgegate.model.cli"),
    ("cost", "edgegate.finops.cli"),
)


class _Root(RootGroup):
    subapps = _SUBAPPS


app = typer.Typer(
    name="edgegate",
    cls=_Root,
    help="The supply-chain and policy gate in front of edge AI deployments. "
    "Exit code: 0 every gate passed, 1 a gate failed, 2 usage or input error.",
    epilog="Every option can also be set as EDGEGATE_<OPTION> (e.g. EDGEGATE_FORMAT=json, "
    "EDGEGATE_FAIL_ON=high); the command line wins. Grammar: docs/cli.md.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

def _version(value: bool) -> None:
    if value:
        from edgegate.policy.opa import engine_version

        opa = engine_version()
        typer.echo(f"edgegate {__version__} (OPA {opa or 'not installed'})")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")
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
        report = cfg.section("report") or {}
        if not formats:
            formats = list(report.get("formats", [])) or ["text"]
            formats = [_resolve_format(f, cfg) for f in formats]
        from edgegate._cli import STATE
        from edgegate.progress import CheckDisplay

        def produce() -> list[GateResult]:
            with CheckDisplay(enabled=not STATE.quiet) as display:
                return run_check(cfg, gate, display)

        return run_command(
            produce,
            formats=formats,
            output=output,
            debug=debug,
            command="edgegate check",
            root=cfg.root,
            fallback_path=str(cfg.path) if cfg.path else None,
            category=report.get("category"),
        )

    raise typer.Exit(guard(body, debug))


def _resolve_format(spec: str, cfg: Config) -> str:
    name, sep, dest = spec.partition(":")
    if sep:
        return f"{name}:{cfg.resolve(dest)}"  # a config's report path stays inside the project
    return spec


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Repository folder to look at and write edgegate.toml into.")] = Path("."),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Write without asking (for scripts).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Look at the repository (manifests, Helm charts, models, requirements, signatures) and write
    an edgegate.toml whose gates point at what is there, plus an example Rego rule with its tests.
    Prints what it found and what it left out; asks before writing on a terminal."""
    import sys

    from edgegate.init import plan_init, write_plan

    def body() -> int:
        plan = plan_init(path)
        for line in plan.found:
            typer.echo(f"found: {line}")
        for line in plan.left_out:
            typer.echo(f"left out: {line}")
        if not plan.gates:
            typer.echo("no gate could be configured from what is here; edit edgegate.toml by hand")
        else:
            typer.echo(f"gates: {', '.join(plan.gates)}")
        if not yes and sys.stdin.isatty() and not typer.confirm(f"write {len(plan.files)} file(s)?", default=True):
            typer.echo("nothing written")
            return 0
        for written in write_plan(plan, force=force):
            typer.echo(f"wrote {written}")
        return 0

    raise typer.Exit(guard(body, debug))


@app.command("precommit")
def precommit(
    files: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Argument(help="Changed files (pre-commit passes them)."),
    ] = None,
    config_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="Config file (default: edgegate.toml found from the current folder up)."),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """The pre-commit hook: lint the changed files that edgegate.toml's [policy] paths name, with
    its rules, data and overrides (Helm templates skipped). Exit 1 when a changed file fails."""
    from edgegate.check import load_for_check
    from edgegate.precommit import lint_changed

    def body() -> int:
        cfg = load_for_check(Path("."), config_file)
        return run_command(
            lambda: lint_changed(list(files or []), cfg),
            formats=fmt,
            output=output,
            debug=debug,
            command="edgegate precommit",
            root=cfg.root,
        )

    raise typer.Exit(guard(body, debug))



def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        error_line("interrupted")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
