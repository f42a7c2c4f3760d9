"""``edgegate vuln scan`` and ``edgegate vuln db build|info``: known vulnerabilities in Python
projects, SBOM components and images, online (pip-audit/OSV) or from an offline OSV database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from edgegate._cli import DebugOpt, FormatOpt, OutputOpt, run_command

app = typer.Typer(
    help="Known vulnerabilities (OSV) in Python projects, SBOMs and images; offline OSV databases.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Build and inspect the offline vulnerability database.", no_args_is_help=True)
app.add_typer(db_app, name="db")

SeverityChoice = Optional[str]  # noqa: UP045 - typer needs Optional on 3.10


def _severity(value: str, option: str) -> Any:
    from edgegate.errors import InputError
    from edgegate.findings import Severity

    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


@app.command("scan")
def scan_cmd(
    path: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Argument(help="A requirements*.txt, a pyproject.toml, or a folder with them. None of PATH, "
                       "--sbom, --image: the Python environment edgegate runs in.", show_default=False),
    ] = None,
    sbom: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option("--sbom", help="CycloneDX JSON SBOM to check (repeatable).", show_default=False),
    ] = None,
    image: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--image", help="Container image (reference, docker-archive or OCI layout) to inventory "
                     "and check (repeatable).", show_default=False),
    ] = None,
    db: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--db", help="Offline: a database from `vuln db build`, a folder of OSV records or an OSV "
                     "all.zip. Default: [vuln] db, else online (PyPI only, via pip-audit)."),
    ] = None,
    osv_url: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--osv-url", help="Online: the OSV query endpoint (default https://api.osv.dev/v1/query)."),
    ] = None,
    fail_on: Annotated[
        SeverityChoice,
        typer.Option("--fail-on", help="Lowest severity that fails: critical, high, medium, low, info. "
                     "Default: [vuln] fail-on, else low (any vulnerability)."),
    ] = None,
    unknown_severity: Annotated[
        SeverityChoice,
        typer.Option("--unknown-severity", help="Severity of advisories with none (default high)."),
    ] = None,
    ignore: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--ignore", help="Advisory id or alias to accept for this run (repeatable; config "
                     "entries carry a reason and expiry).", show_default=False),
    ] = None,
    vex: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option("--vex", help="CycloneDX VEX JSON: not_affected statements with a justification "
                     "suppress findings (repeatable).", show_default=False),
    ] = None,
    max_db_age_days: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--max-db-age-days", help="Warn when the database is older (default 14).", min=0),
    ] = None,
    allow_unchecked: Annotated[
        bool,
        typer.Option("--allow-unchecked", help="Components that could not be checked (EGV001, EGV007) are "
                     "warnings; without it they make the scan an error (exit 2)."),
    ] = False,
    config_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="Config file whose [vuln] settings apply (default: found from PATH up)."),
    ] = None,
    no_config: Annotated[bool, typer.Option("--no-config", help="Ignore edgegate.toml.")] = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Check components against known vulnerabilities. Exit 1 when one at or above --fail-on is
    found, 2 when the inputs or the database cannot be read."""

    def produce() -> list[Any]:
        from edgegate.config import section_for
        from edgegate.vuln.gate import settings_from_section
        from edgegate.vuln.scan import IgnoreRule, ScanInput, scan

        section, cfg = section_for("vuln", path or Path.cwd(), config_file, no_config)
        settings = settings_from_section(section, cfg)
        if db is not None:
            settings.db = db
        if osv_url is not None:
            settings.osv_url = osv_url
        if fail_on is not None:
            settings.fail_on = _severity(fail_on, "--fail-on")
        if unknown_severity is not None:
            settings.unknown_severity = _severity(unknown_severity, "--unknown-severity")
        if max_db_age_days is not None:
            settings.max_db_age_days = max_db_age_days
        if allow_unchecked:
            settings.allow_unchecked = True
        settings.ignores += [IgnoreRule(i, "--ignore on the command line") for i in ignore or []]
        settings.vex += list(vex or [])
        inputs: list[ScanInput] = []
        if path is not None:
            inputs.append(ScanInput("python", path, str(path)))
        inputs += [ScanInput("sbom", s, str(s)) for s in sbom or []]
        inputs += [ScanInput("image", ref=r, shown=r) for r in image or []]
        if not inputs:
            inputs.append(ScanInput("environment"))
        return [scan(inputs, settings)]

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate vuln scan"))


@db_app.command("build")
def db_build(
    source: Annotated[Path, typer.Argument(help="A folder of OSV records (JSON/YAML) or an OSV all.zip.",
                                           show_default=False)],
    out: Annotated[Path, typer.Option("--db", help="The database file to write.", show_default=False,
                                      metavar="FILE")],
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Index OSV records into a database for fast offline scans (malformed records are skipped
    with a warning naming the file)."""

    def produce() -> list[Any]:
        from edgegate.vuln.report import build_result

        return [build_result(source, out)]

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate vuln db build"))


@db_app.command("info")
def db_info(
    database: Annotated[Path, typer.Argument(help="A database from `vuln db build`.", show_default=False)],
    max_age_days: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--max-age-days", help="Warn when it was built longer ago (default: [vuln] "
                     "max-db-age-days, else 14).", min=0),
    ] = None,
    config_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="Config file whose [vuln] max-db-age-days applies (default: found "
                     "from the current folder up)."),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Age, source and counts of a database; a warning when it is older than the maximum age."""

    def produce() -> list[Any]:
        from edgegate.config import section_for
        from edgegate.vuln.gate import settings_from_section
        from edgegate.vuln.report import info_result

        limit = max_age_days
        if limit is None:
            section, cfg = section_for("vuln", Path.cwd(), config_file)
            limit = settings_from_section(section, cfg).max_db_age_days
        return [info_result(database, limit)]

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate vuln db info"))
