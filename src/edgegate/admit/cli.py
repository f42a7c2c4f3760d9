"""`edgegate admit PATH... [--key PUB | --identity ID --issuer URL] [--mirror HOST=MIRROR] [--pin]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgegate._cli import DebugOpt, FormatOpt, OutputOpt, run_command
from edgegate.sign._typer import SingleCommandGroup


class _Group(SingleCommandGroup):
    default_command = "admit"


app = typer.Typer(
    cls=_Group,
    help="Admit what a change deploys: every image the manifests name is resolved to its digest "
    "in the registry and its cosign signatures and attestations verified. Trust comes from "
    "[admit] in edgegate.toml or from --key/--identity. Exit 0 admitted, 1 refused, 2 bad input.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("admit")
def admit_command(
    paths: Annotated[
        list[Path], typer.Argument(help="Manifest files or folders, or a project folder with [admit].")
    ],
    config_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="Config file (default: edgegate.toml found from PATH upwards)."),
    ] = None,
    key: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option("--key", "-k", help="Trusted public key PEM (cosign.pub); repeatable. Applies to every image."),
    ] = None,
    identity: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--identity", help="Trusted keyless signer identity (certificate SAN)."),
    ] = None,
    issuer: Annotated[Optional[str], typer.Option("--issuer", help="Its OIDC issuer URL.")] = None,  # noqa: UP045
    github_repository: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--github-repository", help="Keyless: signed by GitHub Actions in OWNER/REPO."),
    ] = None,
    github_ref: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--github-ref", help="...at this git ref."),
    ] = None,
    attestation: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--attestation", help="Required attestation: PREDICATE_TYPE or PREDICATE_TYPE=REGO_DIR; repeatable."),
    ] = None,
    mirror: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--mirror", help="HOST=MIRROR: read HOST's images from MIRROR (a mirror registry); repeatable."),
    ] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Plain HTTP (localhost registries only).")] = False,
    oci_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--oci-dir", help="Read images and signatures from this OCI layout directory (offline)."),
    ] = None,
    platform: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--platform", help="Platform an image index must provide (default linux/amd64)."),
    ] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parallel registry lookups (default 8).")] = None,  # noqa: UP045
    vuln_db: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--vuln-db", help="Also scan the admitted images against this offline OSV database."),
    ] = None,
    fail_on: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--fail-on", help="With --vuln-db: lowest severity that fails (default low)."),
    ] = None,
    sbom_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--sbom-dir", help="With --vuln-db: keep the admitted images' SBOMs here."),
    ] = None,
    sbom: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--sbom", help="With --vuln-db: the SBOM scanned: build (default), attested or attested-or-build."),
    ] = None,
    staging: Annotated[bool, typer.Option("--staging", help="Keyless: Sigstore's staging trust root.")] = False,
    pin: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--pin", help="Write a unified diff pinning every resolved tag to its digest to this file."),
    ] = None,
    write: Annotated[
        bool, typer.Option("--write", help="Rewrite the manifests in place with image@digest.")
    ] = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Admit every image the manifests in PATHS name."""

    def produce() -> list:  # type: ignore[type-arg]
        from edgegate.admit.cli_support import build_options, pin_manifests

        run_paths, opts = build_options(
            paths,
            config_file=config_file,
            keys=key or [],
            identity=identity,
            issuer=issuer,
            github_repository=github_repository,
            github_ref=github_ref,
            attestations=attestation or [],
            mirrors=mirror or [],
            insecure=insecure,
            oci_dir=oci_dir,
            platform=platform,
            jobs=jobs,
            staging=staging,
            vuln_db=vuln_db,
            fail_on=fail_on,
            sbom_dir=sbom_dir,
            sbom=sbom,
        )
        from edgegate.admit.verify import admit_results

        results = admit_results(run_paths, opts)
        if pin is not None or write:
            pin_manifests(results[0], patch=pin, write=write)
        return results

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate admit"))
