"""``edgegate cost``: estimate what manifests cost and gate on FinOpsPolicy caps and budgets;
rightsize requests from observed usage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from edgegate._cli import DebugOpt, FormatOpt, OutputOpt, run_command

if TYPE_CHECKING:
    from edgegate.findings import GateResult
    from edgegate.finops.gate import CostSettings

app = typer.Typer(
    help="What Kubernetes / Knative / edge-AI manifests cost, against FinOpsPolicy caps and budgets.",
    no_args_is_help=True,
)

PathsArg = Annotated[list[Path], typer.Argument(help="Manifest files or folders.", show_default=False)]
PricesOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--prices", help="Price sheet (YAML/JSON). Default: [cost] prices, else the shipped EXAMPLE sheet."),
]
ConfigOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--config", "-c", help="Config file whose [cost] section applies (default: found from PATH up)."),
]
NoConfigOpt = Annotated[bool, typer.Option("--no-config", help="Ignore edgegate.toml.")]
NodesOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--nodes", min=0, help="Nodes a DaemonSet runs on."),
]


def _settings(paths: list[Path], config_file: Path | None, no_config: bool) -> CostSettings:
    from edgegate.config import section_for
    from edgegate.finops.gate import CostSettings, settings_from_section

    if no_config or (not paths and config_file is None):
        return CostSettings()
    section, cfg = section_for("cost", paths[0] if paths else Path.cwd(), config_file)
    if cfg.path is None:  # no config found
        return CostSettings()
    return settings_from_section(section, cfg)


@app.command()
def estimate(
    paths: PathsArg,
    prices: PricesOpt = None,
    base: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--base", help="Git ref to compare with: per-workload and total change."),
    ] = None,
    nodes: NodesOpt = None,
    basis: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--basis", help="min, expected or max: the figure budgets, thresholds and the diff use."),
    ] = None,
    config_file: ConfigOpt = None,
    no_config: NoConfigOpt = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Monthly cost per workload (min / expected / max scale) and the FinOps gate: exit 1 when a
    FinOpsPolicy cap, a budget, a required tag or a threshold is breached."""

    def produce() -> list[GateResult]:
        from edgegate.errors import EdgegateError
        from edgegate.finops.gate import run_estimate

        settings = _settings(paths, config_file, no_config)
        if prices is not None:
            settings.prices = prices
        if base is not None:
            settings.base = base
        if nodes is not None:
            settings.nodes = nodes
        if basis is not None:
            if basis not in ("min", "expected", "max"):
                raise EdgegateError(f"--basis must be min, expected or max, not {basis!r}")
            settings.basis = basis  # type: ignore[assignment]
        return run_estimate(paths, settings)

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate cost estimate"))


@app.command()
def rightsize(
    paths: PathsArg,
    usage: Annotated[
        list[str],
        typer.Option(
            "--usage",
            help="Observed usage: CSV or Prometheus range-query JSON (cpu=FILE / memory=FILE when the "
            "series have no __name__). Repeatable.",
        ),
    ],
    prices: PricesOpt = None,
    patch: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--patch", help="Write the changes as a unified diff to this file."),
    ] = None,
    write: Annotated[bool, typer.Option("--write", help="Edit the manifests in place.")] = False,
    percentile: Annotated[float, typer.Option("--percentile", min=1, max=100, help="CPU percentile.")] = 90,
    margin: Annotated[float, typer.Option("--margin", min=0, max=10, help="Safety margin (0.15 = 15 %).")] = 0.15,
    nodes: NodesOpt = None,
    config_file: ConfigOpt = None,
    no_config: NoConfigOpt = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Recommend requests/limits from usage (VPA-style: CPU p90 + 15 %, memory peak + 15 %) and
    the monthly saving. Files change only with --write; --patch writes a diff for review."""

    def produce() -> list[GateResult]:
        from decimal import Decimal

        from edgegate.errors import NothingToCheckError
        from edgegate.finops.prices import load_prices
        from edgegate.finops.rightsize import (
            Settings,
            apply_edits,
            recommend,
            rightsize_result,
            unified_patch,
            write_files,
        )
        from edgegate.finops.usage import load_usage
        from edgegate.finops.workloads import WorkloadOptions, extract_workloads, load_manifests

        cs = _settings(paths, config_file, no_config)
        sheet = load_prices(prices if prices is not None else cs.prices)
        options = WorkloadOptions(
            nodes=nodes if nodes is not None else (cs.nodes if cs.nodes is not None else sheet.nodes),
            expected_load=cs.expected_load,
            assume_max_replicas=cs.assume_max_replicas,
            job_duration_hours=cs.job_duration_hours,
            hours_per_month=sheet.hours_per_month,
        )
        workloads = extract_workloads(load_manifests(paths), options)
        if not workloads:
            raise NothingToCheckError(
                "no workload to rightsize (Deployment, StatefulSet, DaemonSet, Job, CronJob, Knative "
                "Service, EdgeAIDeployment)",
                ", ".join(map(str, paths)),
            )
        observed = load_usage(list(usage))
        settings = Settings(cpu_percentile=Decimal(str(percentile)), margin=Decimal(str(margin)))
        recs, notes = recommend(workloads, observed, sheet, settings)
        result = rightsize_result(recs, notes, sheet, settings)
        if patch is not None or write:
            files = apply_edits(recs)
            if patch is not None:
                from edgegate.io.output import write_output

                write_output(patch, unified_patch(files), "the patch")
                result.stats["patch"] = str(patch)
            if write:
                write_files(files)
                result.stats["written"] = sorted(files)
        return [result]

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate cost rightsize"))
