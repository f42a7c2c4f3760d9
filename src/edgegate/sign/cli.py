"""`edgegate sign PATH ...` and `edgegate sign keygen`.

``edgegate sign PATH`` is shorthand for ``edgegate sign artifact PATH``. Engines (sigstore,
model-signing, cryptography) are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgegate._cli import DebugOpt, FormatOpt, OutputOpt, guard, run_command
from edgegate.sign._typer import DefaultCommandGroup

_DEFAULT_COMMAND = DefaultCommandGroup.default_command

app = typer.Typer(
    cls=DefaultCommandGroup,
    help="Sign files, model directories (OpenSSF model-signing format) and container images "
    "into Sigstore bundles, with a key pair (offline) or keyless (OIDC). "
    "'edgegate sign PATH' is short for 'edgegate sign artifact PATH'.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command(_DEFAULT_COMMAND)
def artifact(
    path: Annotated[Path, typer.Argument(help="File, model directory, or image (OCI layout / tar).")],
    key: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--key", "-k", help="Private key (edgegate sign keygen's, or cosign's cosign.key)."),
    ] = None,
    keyless: Annotated[
        bool, typer.Option("--keyless", help="Sign with an OIDC identity via Fulcio/Rekor (network).")
    ] = False,
    bundle: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--bundle", "-b", help="Where to write the bundle (default PATH.sigstore.json; DIR.sig for a model)."
        ),
    ] = None,
    password_env: Annotated[
        str, typer.Option("--password-env", help="Environment variable holding the key passphrase (asked on a "
                          "terminal when it is unset).")
    ] = "EDGEGATE_KEY_PASSWORD",
    kind: Annotated[
        str, typer.Option("--kind", help="auto (directory → model, else file), file, model or image.")
    ] = "auto",
    image: Annotated[bool, typer.Option("--image", help="Same as --kind image.")] = False,
    since: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--since", help="Previous signature of this model: re-hash only changed files."),
    ] = None,
    allow_symlinks: Annotated[
        bool,
        typer.Option("--allow-symlinks", help="Hash symlinks to files inside the model (never outside)."),
    ] = False,
    staging: Annotated[bool, typer.Option("--staging", help="Keyless: use Sigstore's staging instance.")] = False,
    identity_token: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--identity-token",
            envvar="EDGEGATE_IDENTITY_TOKEN",
            help="Keyless: an explicit OIDC token (default: ambient credential detection).",
        ),
    ] = None,
    progress: Annotated[
        Optional[bool],  # noqa: UP045
        typer.Option("--progress/--no-progress", help="Progress bar on stderr (default: on a terminal)."),
    ] = None,
    scheme: Annotated[
        str,
        typer.Option("--scheme", help="Registry image (--image REF): cosign's 'tag' (.sig) or 'referrers' (bundle v0.3)."),
    ] = "tag",
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Registry image: plain HTTP (localhost registries only).")
    ] = False,
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Sign PATH into a Sigstore bundle (or, with --image REF, sign a registry image as cosign does)."""
    from edgegate.sign.signer import SignRequest, sign_result

    if (image or kind == "image") and not path.exists():
        from edgegate.admit.sign_cli import is_registry_ref, sign_registry_result

        if is_registry_ref(str(path)):
            raise typer.Exit(
                run_command(
                    lambda: [sign_registry_result(str(path), key, password_env, scheme=scheme, insecure=insecure)],
                    formats=fmt, output=output, debug=debug, command="edgegate sign",
                )
            )

    req = SignRequest(
        path=path,
        out=bundle,
        key=key,
        password_env=password_env,
        keyless=keyless,
        identity_token=identity_token,
        interactive=_interactive(),
        instance="staging" if staging else "production",
        kind="image" if image else kind,
        allow_symlinks=allow_symlinks,
        since=since,
        progress=progress,
    )
    raise typer.Exit(
        run_command(lambda: [sign_result(req)], formats=fmt, output=output, debug=debug, command="edgegate sign")
    )


@app.command()
def keygen(
    private: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--private", help="Private key file to write (default edgegate.key; cosign.key with --key-format cosign)."),
    ] = None,
    public: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--public", help="Public key PEM to write (default edgegate.pub; cosign.pub with --key-format cosign)."),
    ] = None,
    password_env: Annotated[
        str, typer.Option("--password-env", help="Environment variable holding the passphrase.")
    ] = "EDGEGATE_KEY_PASSWORD",
    key_format: Annotated[
        str, typer.Option("--key-format", help="edgegate (encrypted PKCS#8 PEM) or cosign (cosign's encrypted key, "
                          "for cosign sign --key; its password also from COSIGN_PASSWORD).")
    ] = "edgegate",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing key files.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Write an ECDSA P-256 key pair; the private key is encrypted with a passphrase: asked twice
    on a terminal, else from $EDGEGATE_KEY_PASSWORD (or --password-env; with --key-format cosign,
    $COSIGN_PASSWORD first)."""

    def body() -> int:
        import os

        from edgegate.errors import InputError
        from edgegate.sign.keys import generate_keypair, read_passphrase

        if key_format not in ("edgegate", "cosign"):
            raise InputError(f"unknown key format {key_format!r} (expected edgegate or cosign)")
        stem = "cosign" if key_format == "cosign" else "edgegate"
        priv, pub = private or Path(f"{stem}.key"), public or Path(f"{stem}.pub")
        cosign_password = os.environ.get("COSIGN_PASSWORD") if key_format == "cosign" else None
        passphrase = cosign_password.encode() if cosign_password else read_passphrase(
            password_env, interactive=_interactive(), confirm=True, what=f"the new key {priv}")
        if passphrase is None:
            raise InputError(f"environment variable {password_env} is not set (it holds the key passphrase; "
                             "on a terminal edgegate asks for it)")
        generate_keypair(priv, pub, passphrase, force=force, key_format=key_format)
        typer.echo(f"wrote {priv} (private, encrypted) and {pub} (public)")
        return 0

    raise typer.Exit(guard(body, debug))


def _interactive() -> bool:
    """Browser sign-in for --keyless only on a terminal outside CI."""
    import sys

    from edgegate._cli import is_ci

    return sys.stdin.isatty() and sys.stderr.isatty() and not is_ci()
