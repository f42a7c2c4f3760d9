"""Signing artifacts: the library behind `edgegate sign`.

Key mode (air-gapped): an ECDSA private key whose passphrase comes from an environment variable;
the bundle carries the public key's hint and verifies offline with the public key. Keyless mode:
an OIDC identity (ambient in CI) exchanged for a Fulcio certificate, logged in Rekor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edgegate.errors import InputError
from edgegate.findings import GateResult
from edgegate.sign.keys import PASSWORD_ENV
from edgegate.sign.model import SignOutcome, _write_atomic, sign_model
from edgegate.sign.verify import default_bundle, resolve_kind

GATE = "sign"


@dataclass
class SignRequest:
    """What to sign and how."""

    path: Path
    out: Path | None = None
    key: Path | None = None
    password_env: str = PASSWORD_ENV
    keyless: bool = False
    identity_token: str | None = None
    interactive: bool = False
    """Keyless without a token or ambient credential: sign in through the browser."""
    instance: str = "production"
    kind: str = "auto"
    allow_symlinks: bool = False
    since: Path | None = None
    progress: bool | None = None
    workers: int | None = None


def sign(req: SignRequest) -> SignOutcome:
    """Sign one artifact; return what was done. Errors are `EdgegateError`s (exit 2)."""
    from edgegate.sign.keys import is_encrypted_pem, load_private_key, passphrase_from_env, read_passphrase

    if req.keyless == (req.key is not None):
        raise InputError("choose one signing mode: --key PRIVATE.pem or --keyless")
    kind = resolve_kind(req.path, req.kind)
    out = req.out or default_bundle(req.path)
    if req.since is not None and kind != "model":
        raise InputError("--since applies to model directories only")
    if req.since is not None and not req.since.is_file():
        raise InputError("no such signature file", req.since)

    key = None
    token = None
    if req.key is not None:
        passphrase = passphrase_from_env(req.password_env, required=False)
        if passphrase is None and req.interactive and is_encrypted_pem(req.key):
            passphrase = read_passphrase(req.password_env, interactive=True, what=str(req.key))
        key = load_private_key(req.key, passphrase, req.password_env)
    else:
        from edgegate.sign.keyless import identity_token

        token = identity_token(req.identity_token, instance=req.instance, interactive=req.interactive)

    if kind == "model":
        if not req.path.is_dir():
            raise InputError("model artifact is not a directory", req.path)
        return sign_model(
            req.path,
            out,
            key=key,
            keyless_token=token,
            instance=req.instance,
            allow_symlinks=req.allow_symlinks,
            since=req.since,
            progress=req.progress,
            workers=req.workers,
        )

    started = time.perf_counter()
    if kind == "image":
        from edgegate.sign.image import image_digest

        digest_hex = image_digest(req.path).hex
        size = 0
    else:
        from edgegate.sign.hashing import sha256_file_checked

        if req.path.is_dir():
            raise InputError("is a directory: sign it as a model (kind 'model')", req.path)
        digest_hex, size = sha256_file_checked(req.path)
    if key is not None:
        from edgegate.sign.bundles import sign_digest_bundle

        text = sign_digest_bundle(key, digest_hex)
    else:
        from edgegate.sign.keyless import sign_keyless_digest

        text = sign_keyless_digest(digest_hex, token, req.instance)
    _write_atomic(out, text)
    return SignOutcome(
        signature=out,
        files=1,
        bytes_total=size,
        hashed_files=1,
        hashed_bytes=size,
        seconds=time.perf_counter() - started,
    )


def sign_result(req: SignRequest) -> GateResult:
    """`sign` as a `GateResult` for the reporters (status passed; errors raise)."""
    outcome = sign(req)
    stats = {
        "files": outcome.files,
        "bytes": outcome.bytes_total,
        "hashed_files": outcome.hashed_files,
        "hashed_bytes": outcome.hashed_bytes,
        "reused_files": outcome.reused_files,
        "seconds": round(outcome.seconds, 3),
        "signature": str(outcome.signature),
    }
    if outcome.state_file is not None:
        stats["state_file"] = str(outcome.state_file)
    note = "; ".join(outcome.notes)
    # a signature made is a row of the gate's table, not a finding
    stats["tables"] = [
        {
            "title": "Signed",
            "columns": ["artifact", "signature", "files", "hashed", "reused", "notes"],
            "rows": [[str(req.path), str(outcome.signature), outcome.files, outcome.hashed_files,
                      outcome.reused_files, note]],
        }
    ]
    return GateResult.decide(GATE, [], stats=stats)
