"""``edgegate sbom image|model|python``: write a CycloneDX 1.6 SBOM (``--sbom-output FILE``) and
report (``-f``/``-o`` like every command)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgegate._cli import DebugOpt, FormatOpt, OutputOpt, deprecated_alias, run_command

app = typer.Typer(
    help="Software bills of materials: container images, model weights, Python projects.",
    no_args_is_help=True,
)

SbomOut = Annotated[
    Path,
    typer.Option("--sbom-output", help="Where to write the CycloneDX 1.6 JSON SBOM.", show_default=False,
                 metavar="FILE"),
]
ReportOut = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional on 3.10
    typer.Option("--report-output", hidden=True, help="Deprecated: use --output/-o."),
]


@app.command("image")
def image(
    source: Annotated[
        str,
        typer.Argument(
            help="docker-archive or OCI tarball, OCI layout or root filesystem directory, or a registry "
            "reference (registry/repo:tag or @sha256:...). Prefixes docker-archive:, oci:, oci-archive:, "
            "dir:, registry: force the kind."
        ),
    ],
    sbom_output: SbomOut,
    platform: Annotated[
        str, typer.Option("--platform", help="os/arch[/variant] to pick from a multi-arch index.")
    ] = "linux/amd64",
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Plain HTTP; only for a localhost registry.")
    ] = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    report_output: ReportOut = None,
    debug: DebugOpt = False,
) -> None:
    """SBOM of a container image: OS packages (dpkg, apk, rpm), Python and Node packages."""
    from edgegate.sbom.api import image_sbom

    raise typer.Exit(
        run_command(
            lambda: [image_sbom(source, sbom_output, platform=platform, insecure=insecure)],
            formats=fmt,
            output=deprecated_alias(output, report_output, "--report-output", "--output"),
            debug=debug,
            command="edgegate sbom image",
        )
    )


@app.command("model")
def model(
    source: Annotated[
        str, typer.Argument(help="Model directory or file, or a Hugging Face repo id org/name[@rev].")
    ],
    sbom_output: SbomOut,
    revision: Annotated[
        str | None, typer.Option("--revision", help="Hub revision (branch, tag, commit).")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Hashing progress bar on stderr.")
    ] = True,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    report_output: ReportOut = None,
    debug: DebugOpt = False,
) -> None:
    """ML-BOM of model weights: file hashes and formats, tensors, parameters, model card."""
    from edgegate.sbom.api import model_sbom

    raise typer.Exit(
        run_command(
            lambda: [model_sbom(source, sbom_output, revision=revision, progress=progress)],
            formats=fmt,
            output=deprecated_alias(output, report_output, "--report-output", "--output"),
            debug=debug,
            command="edgegate sbom model",
        )
    )


@app.command("python")
def python(
    sbom_output: SbomOut,
    path: Annotated[
        Path,
        typer.Argument(help="Project folder, requirements*.txt, pyproject.toml, or a virtual environment."),
    ] = Path("."),
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    report_output: ReportOut = None,
    debug: DebugOpt = False,
) -> None:
    """SBOM of a Python project or environment."""
    from edgegate.sbom.api import python_sbom

    raise typer.Exit(
        run_command(
            lambda: [python_sbom(path, sbom_output)],
            formats=fmt,
            output=deprecated_alias(output, report_output, "--report-output", "--output"),
            debug=debug,
            command="edgegate sbom python",
        )
    )
