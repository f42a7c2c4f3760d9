"""`edgegate policy lint|test`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgegate._cli import DebugOpt, FormatOpt, OutputOpt, run_command

app = typer.Typer(
    help="Policy-as-code over deployment manifests: conftest-compatible Rego rules and JSON Schemas.",
    no_args_is_help=True,
)

_Paths = Optional[list[str]]  # noqa: UP045 - typer needs Optional on 3.10
_Engine = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--engine", help="Rego engine: opa (default, the real OPA) or regopy (the fallback)."),
]
_RegoVersion = Annotated[
    str, typer.Option("--rego-version", help="Rego syntax of the policies: v1 (default) or v0, as conftest.")
]


@app.command("lint")
def lint_command(
    paths: Annotated[list[Path], typer.Argument(help="Manifests: YAML (multi-document), JSON or TOML files or folders.")],
    rules: Annotated[
        _Paths,
        typer.Option("--rules", "--policy", "-p", help="Rego folder or file (repeatable); 'builtin:edge-ai' is the shipped pack. Default: ./policy"),
    ] = None,
    data: Annotated[_Paths, typer.Option("--data", "-d", help="Data file exposed under data. (repeatable).")] = None,
    namespace: Annotated[_Paths, typer.Option("--namespace", "-n", help="Rego package to evaluate (repeatable; default main).")] = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", help="Evaluate every package.")] = False,
    combine: Annotated[bool, typer.Option("--combine", help="All documents as one array input, like conftest.")] = False,
    schemas: Annotated[_Paths, typer.Option("--schemas", help="Folder of JSON Schemas for custom kinds (repeatable).")] = None,
    no_builtin_schemas: Annotated[bool, typer.Option("--no-builtin-schemas", help="Skip the shipped kind schemas.")] = False,
    fail_on_warn: Annotated[bool, typer.Option("--fail-on-warn", help="Warnings fail the gate too.")] = False,
    parser: Annotated[Optional[str], typer.Option("--parser", help="Force a parser: yaml, json or toml.")] = None,  # noqa: UP045
    stdin_filename: Annotated[
        Optional[str], typer.Option("--stdin-filename", metavar="NAME", help="The name of standard input ('-') in findings.")  # noqa: UP045
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="OPA's strict compile (unused variables and imports, …).")] = False,
    capabilities: Annotated[
        Optional[str], typer.Option("--capabilities", metavar="FILE", help="OPA capabilities JSON file restricting builtins and features.")  # noqa: UP045
    ] = None,
    trace: Annotated[bool, typer.Option("--trace", help="Print OPA's evaluation trace to stderr.")] = False,
    engine: _Engine = None,
    rego_version: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--rego-version", help="Rego syntax of the policies: v1 (default) or v0, as conftest."),
    ] = None,
    config_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="Config file whose [policy] settings apply (default: found from the current folder up)."),
    ] = None,
    no_config: Annotated[bool, typer.Option("--no-config", help="Ignore edgegate.toml.")] = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Check manifests against Rego rules (deny/violation/warn) and JSON Schemas; '-' reads
    standard input. print() output and --trace go to stderr (the report stays parseable).
    [policy] in the current folder's edgegate.toml gives the defaults (rules, data, namespaces,
    schemas, engine, overrides, fail-on), as conftest.toml does for conftest; options given win."""
    import dataclasses

    from edgegate.config import section_for
    from edgegate.errors import EdgegateError
    from edgegate.policy.gate import finish, options_from_section
    from edgegate.policy.lint import ConftestOptions, LintOptions, lint
    from edgegate.policy.overrides import overrides_from_section

    def produce() -> list:  # type: ignore[type-arg]
        if namespace and all_namespaces:
            raise EdgegateError("--namespace and --all-namespaces exclude each other")
        if parser and parser not in ("yaml", "json", "toml"):
            raise EdgegateError(f"unknown parser {parser!r} (expected yaml, json or toml)")
        if config_file is not None and no_config:
            raise EdgegateError("--config and --no-config exclude each other")
        # as conftest.toml: the config of the folder the command runs in (never one found next
        # to the inputs, which a pull request could add beside the manifests it changes)
        section, cfg = section_for("policy", Path.cwd(), config_file, no_config)
        overrides = overrides_from_section(section.get("override"), cfg)
        base = options_from_section(section, cfg) if section else LintOptions()
        chosen = bool(namespace) or all_namespaces
        options = dataclasses.replace(
            base,
            rules=list(rules) if rules else list(base.rules),
            data=list(data) if data else list(base.data),
            namespaces=list(namespace or []) if chosen else list(base.namespaces),
            all_namespaces=all_namespaces if chosen else base.all_namespaces,
            combine=combine or base.combine,
            schema_dirs=list(schemas) if schemas else list(base.schema_dirs),
            builtin_schemas=base.builtin_schemas and not no_builtin_schemas,
            fail_on_warn=fail_on_warn or base.fail_on_warn,
            parser=parser,
            engine=engine if engine is not None else base.engine,
            rego_version=rego_version if rego_version is not None else base.rego_version,
            stdin_name=stdin_filename,
            conftest=ConftestOptions(strict=strict, capabilities=capabilities,
                                     trace=_stderr_lines("TRAC") if trace else None,
                                     on_print=_stderr_lines("PRNT")),
        )
        return [finish(lint(paths, options), section, cfg, overrides)]

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate policy lint"))


def _stderr_lines(tag: str) -> Callable[[str], None]:
    """A sink writing conftest's ``PRNT``/``TRAC`` lines to stderr, each value on one line with
    control characters shown (a message cannot move the cursor or forge a line or a CI command)."""
    import sys

    from edgegate.report._sanitize import defuse_lines, visible

    def write(text: str) -> None:
        sys.stderr.write(defuse_lines(f"{tag}   {visible(text)}") + "\n")

    return write


@app.command("test")
def test_command(
    folders: Annotated[Optional[list[Path]], typer.Argument(help="Policy folders (default: ./policy).")] = None,  # noqa: UP045
    data: Annotated[_Paths, typer.Option("--data", "-d", help="Data file exposed under data. (repeatable).")] = None,
    engine: _Engine = None,
    rego_version: _RegoVersion = "v1",
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Run Rego test_* rules and YAML test cases; exit 1 if any fails."""
    from edgegate.policy.lint import load_data_files
    from edgegate.policy.modules import resolve_rule_dir
    from edgegate.policy.testing import test_policies

    def produce() -> list:  # type: ignore[type-arg]
        targets = [resolve_rule_dir(str(f)) for f in (folders or [Path("policy")])]
        merged = load_data_files(data) if data else None
        return [test_policies(targets, engine_name=engine, data=merged, rego_version=rego_version)]

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate policy test"))
