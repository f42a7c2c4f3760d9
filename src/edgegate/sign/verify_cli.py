"""`edgegate verify PATH --bundle BUNDLE (--key PUB | --identity ID --issuer URL | --github-repository R)`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgegate._cli import DebugOpt, FormatOpt, OutputOpt, run_command
from edgegate.sign._typer import SingleCommandGroup

app = typer.Typer(
    cls=SingleCommandGroup,
    help="Verify a file, model directory or container image against its Sigstore bundle. "
    "An identity or a key is required. Exit 0 verified, 1 not verified (reason shown), 2 bad input.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("artifact")
def verify(
    path: Annotated[Path, typer.Argument(help="File, model directory, or image (OCI layout / tar).")],
    bundle: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--bundle", "-b", help="The Sigstore bundle (default PATH.sigstore.json; DIR.sig for a model)."
        ),
    ] = None,
    key: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--key", "-k", help="Public key PEM (key-pair mode)."),
    ] = None,
    identity: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--identity", help="Expected signer identity (certificate SAN: email or URI)."),
    ] = None,
    issuer: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--issuer", help="Expected OIDC issuer URL."),
    ] = None,
    github_repository: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--github-repository", help="Signed by GitHub Actions in OWNER/REPO."),
    ] = None,
    github_ref: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--github-ref", help="...at this git ref (e.g. refs/tags/v1.2.0)."),
    ] = None,
    github_workflow: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--github-workflow", help="...by the workflow with this name."),
    ] = None,
    github_trigger: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--github-trigger", help="...triggered by this event (e.g. release, push)."),
    ] = None,
    github_sha: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--github-sha", help="...at this commit."),
    ] = None,
    staging: Annotated[bool, typer.Option("--staging", help="Use Sigstore's staging trust root.")] = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline/--online",
            help="Use the trust root embedded in sigstore-python (default) or refresh it over TUF.",
        ),
    ] = True,
    kind: Annotated[
        str, typer.Option("--kind", help="auto (directory → model, else file), file, model or image.")
    ] = "auto",
    image: Annotated[bool, typer.Option("--image", help="Same as --kind image.")] = False,
    allow_symlinks: Annotated[
        bool, typer.Option("--allow-symlinks", help="Hash symlinks to files inside the model (never outside).")
    ] = False,
    progress: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--progress/--no-progress", help="Progress bar on stderr (default: on a terminal)."),
    ] = None,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Verify PATH against its Sigstore bundle."""
    from edgegate.sign.keyless import IdentityPolicy
    from edgegate.sign.verify import VerifyRequest, default_bundle, verify_gate

    def produce() -> list:  # type: ignore[type-arg]
        req = VerifyRequest(
            path=path,
            bundle=bundle or default_bundle(path),
            key=key,
            policy=IdentityPolicy(
                identity=identity,
                issuer=issuer,
                github_repository=github_repository,
                github_ref=github_ref,
                github_workflow=github_workflow,
                github_trigger=github_trigger,
                github_sha=github_sha,
            ),
            kind="image" if image else kind,
            instance="staging" if staging else "production",
            offline=offline,
            allow_symlinks=allow_symlinks,
            shown=str(path),
        )
        return [verify_gate([req], raise_errors=True, progress=progress)]

    raise typer.Exit(run_command(produce, formats=fmt, output=output, debug=debug, command="edgegate verify"))
