"""ECDSA P-256 key pairs: generation, loading (encrypted PEM), and the public-key hint.

The private key is PKCS#8 PEM encrypted with a passphrase read from an environment variable
(`EDGEGATE_KEY_PASSWORD` by default), so it never appears on a command line.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from edgegate.errors import InputError
from edgegate.io.files import read_bounded

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

PASSWORD_ENV = "EDGEGATE_KEY_PASSWORD"
"""The default environment variable holding the private key's passphrase."""

_MAX_KEY_BYTES = 64 * 1024
_CURVES = ("secp256r1", "secp384r1", "secp521r1")


def read_passphrase(env: str, *, interactive: bool, confirm: bool = False, what: str = "the key") -> bytes | None:
    """The passphrase: environment variable `env` if set, else asked on the terminal (twice with
    `confirm`, as for a new key; a mismatch is an `InputError`), else None."""
    value = passphrase_from_env(env, required=False)
    if value is not None or not interactive:
        return value
    import getpass

    try:
        first = getpass.getpass(f"Enter passphrase for {what}: ")
        if confirm:
            again = getpass.getpass(f"Enter passphrase for {what} again: ")
            if again != first:
                raise InputError("the two passphrases differ")
    except EOFError:
        raise InputError(f"no passphrase given (set {env} when there is no terminal)") from None
    return first.encode("utf-8") if first else None


def is_encrypted_pem(path: str | Path) -> bool:
    """Is the private key PEM at `path` encrypted (PKCS#8 ENCRYPTED or a legacy Proc-Type header)?"""
    data = read_bounded(path, _MAX_KEY_BYTES)
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data


def passphrase_from_env(env: str = PASSWORD_ENV, *, required: bool = True) -> bytes | None:
    """The passphrase in environment variable `env`; an `InputError` when required and unset."""
    value = os.environ.get(env)
    if value is None or value == "":
        if required:
            raise InputError(f"environment variable {env} is not set (it holds the key passphrase)")
        return None
    return value.encode("utf-8")


def generate_keypair(
    private_path: str | Path,
    public_path: str | Path,
    passphrase: bytes,
    *,
    force: bool = False,
) -> None:
    """Write a new ECDSA P-256 key pair: encrypted PKCS#8 private PEM (mode 0600), SPKI public PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if not passphrase:
        raise InputError("refusing to write an unencrypted private key: the passphrase is empty")
    priv, pub = Path(private_path), Path(public_path)
    from edgegate.io.paths import check_distinct_outputs

    check_distinct_outputs([("--private", priv), ("--public", pub)])
    for p in (priv, pub):
        if p.exists() and not force:
            raise InputError("already exists (pass --force to overwrite)", p)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    from edgegate.io.output import write_output

    # whole files (temp + rename): never through a FIFO or device, never half a key
    write_output(priv, pem, "the private key", mode=0o600, regular_only=True)
    write_output(pub, public_pem(key.public_key()), "the public key")


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of `key`."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_hint(key: ec.EllipticCurvePublicKey) -> str:
    """The bundle's public-key hint: hex SHA-256 of the SPKI PEM (as model-signing writes it)."""
    return hashlib.sha256(public_pem(key)).hexdigest()


def load_private_key(
    path: str | Path, passphrase: bytes | None, env: str = PASSWORD_ENV
) -> ec.EllipticCurvePrivateKey:
    """Load an EC private key PEM; wrong passphrase, not-a-key or an unsupported curve → `InputError`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data = read_bounded(path, _MAX_KEY_BYTES)
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except TypeError as exc:
        msg = str(exc).lower()
        if "password was not given" in msg:
            raise InputError(f"private key is encrypted and {env} is not set", path) from None
        if "password was given but" in msg:
            raise InputError("private key is not encrypted but a passphrase was given", path) from None
        raise InputError(f"cannot load private key: {exc}", path) from None
    except ValueError as exc:
        msg = str(exc)
        if "incorrect password" in msg.lower() or "bad decrypt" in msg.lower():
            raise InputError("wrong passphrase for the private key", path) from None
        raise InputError("not a PEM private key", path) from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm and friends
        raise InputError(f"cannot load private key: {type(exc).__name__}", path) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InputError("not an elliptic-curve (ECDSA) private key", path)
    if key.curve.name not in _CURVES:
        raise InputError(f"unsupported curve {key.curve.name}", path)
    return key


def load_public_key(path: str | Path) -> ec.EllipticCurvePublicKey:
    """Load an EC public key PEM (SubjectPublicKeyInfo); anything else → `InputError`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    data = read_bounded(path, _MAX_KEY_BYTES)
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise InputError("not a PEM public key", path) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise InputError("not an elliptic-curve (ECDSA) public key", path)
    if key.curve.name not in _CURVES:
        raise InputError(f"unsupported curve {key.curve.name}", path)
    return key


def ecdsa_hash(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> str:
    """The hash the bundle's signatures use with this curve (sha256 / sha384 / sha512)."""
    return {256: "sha256", 384: "sha384", 521: "sha512"}[key.curve.key_size]
