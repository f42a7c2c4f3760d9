"""`edgegate sign --image REGISTRY/REPO:TAG --key KEY`: the registry side of `edgegate sign`."""

from __future__ import annotations

from pathlib import Path

from edgegate.errors import InputError
from edgegate.findings import Finding, GateResult, Location, Severity


def is_registry_ref(value: str) -> bool:
    """A reference that names its registry (``host[:port]/repo…`` or ``registry:…``), not a path."""
    if value.startswith("registry:"):
        return True
    first, sep, _ = value.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost") and not value.startswith(("/", "."))


def sign_registry_result(
    reference: str, key_path: Path | None, password_env: str, *, scheme: str, insecure: bool
) -> GateResult:
    """Sign a registry image with a key and report it as the sign gate does."""
    from edgegate.admit.gate import env_mirrors
    from edgegate.admit.sign import sign_image
    from edgegate.sign.keys import key_passphrase, load_signing_key

    if key_path is None:
        raise InputError("signing a registry image needs --key (keyless image signing is not supported)")
    ref_text = reference.removeprefix("registry:")
    passphrase = key_passphrase(key_path, password_env, interactive=_interactive())
    key = load_signing_key(key_path, passphrase, password_env)
    from edgegate.sbom.registry import parse_reference

    mirror = env_mirrors().get(parse_reference(ref_text).registry)
    signed = sign_image(ref_text, key, scheme=scheme, insecure=insecure, mirror=mirror)
    finding = Finding(
        gate="sign",
        rule_id="EGS100",
        severity=Severity.INFO,
        message=f"{signed.reference}: signed {signed.digest} with {key_path} ({signed.stored_as})",
        location=Location(path=signed.reference),
        title="image signed",
        details={"digest": signed.digest, "stored": signed.stored_as},
        blocking=False,
    )
    return GateResult.decide("sign", [finding], stats={"signed": 1})


def _interactive() -> bool:
    import sys

    from edgegate._cli import is_ci

    return sys.stdin.isatty() and sys.stderr.isatty() and not is_ci()
