"""Signing keys: ECDSA P-256 generation, loading (encrypted PEM or cosign's key file), the public-key hint.

The private key is PKCS#8 PEM encrypted with a passphrase read from an environment variable
(`EDGEGATE_KEY_PASSWORD` by default), so it never appears on a command line, or cosign's
encrypted key (`edgegate.sign.cosign_key`), whose password comes from ``COSIGN_PASSWORD`` as in
cosign. Files and models are signed with ECDSA keys; registry images also with RSA and Ed25519
keys (`load_signing_key`), as cosign signs them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from edgegate.errors import InputError
from edgegate.io.files import read_bounded

if TYPE_CHECKING:
    from typing import TypeAlias

    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

PASSWORD_ENV = "EDGEGATE_KEY_PASSWORD"
"""The default environment variable holding the private key's passphrase."""

_MAX_KEY_BYTES = 64 * 1024
_CURVES = ("secp256r1", "secp384r1", "secp521r1")
_RSA_SIZES = (2048, 3072, 4096)
"""RSA sizes sigstore's signature package has algorithms for (others are refused there too)."""


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
    from edgegate.sign.cosign_key import pem_type

    data = read_bounded(path, _MAX_KEY_BYTES)
    return (b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data
            or pem_type(data) is not None)


def key_passphrase(path: str | Path, env: str, *, interactive: bool) -> bytes | None:
    """The passphrase for the private key at `path`. A cosign key's comes from ``COSIGN_PASSWORD``
    when it is set (even empty, as in cosign), else from `env`, else a prompt on a terminal; an
    edgegate key's from `env`, else a prompt when the key is encrypted."""
    from edgegate.sign.cosign_key import PASSWORD_ENV as COSIGN_ENV
    from edgegate.sign.cosign_key import pem_type

    cosign = pem_type(read_bounded(path, _MAX_KEY_BYTES)) is not None
    if cosign and os.environ.get(COSIGN_ENV) is not None:
        return os.environ[COSIGN_ENV].encode("utf-8")
    value = passphrase_from_env(env, required=False)
    if value is None and interactive and is_encrypted_pem(path):
        value = read_passphrase(env, interactive=True, what=str(path))
    if value is None and cosign:
        raise InputError(f"cosign private key is encrypted and neither {COSIGN_ENV} nor {env} is set", path)
    return value


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
    key_format: str = "edgegate",
) -> None:
    """Write a new ECDSA P-256 key pair: the private key encrypted (mode 0600) as PKCS#8 PEM
    (`key_format` ``edgegate``) or as cosign's encrypted key (``cosign``), and the SPKI public PEM."""
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
    if key_format not in ("edgegate", "cosign"):
        raise InputError(f"unknown key format {key_format!r} (expected edgegate or cosign)")
    key = ec.generate_private_key(ec.SECP256R1())
    if key_format == "cosign":
        from edgegate.sign.cosign_key import encrypt_private_key

        pem = encrypt_private_key(key, passphrase)
    else:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
    from edgegate.io.output import write_output

    # whole files (temp + rename): never through a FIFO or device, never half a key
    write_output(priv, pem, "the private key", mode=0o600, regular_only=True)
    write_output(pub, public_pem(key.public_key()), "the public key")


def public_pem(key: PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of `key`."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_hint(key: ec.EllipticCurvePublicKey) -> str:
    """The bundle's public-key hint: hex SHA-256 of the SPKI PEM (as model-signing writes it)."""
    return hashlib.sha256(public_pem(key)).hexdigest()


def load_signing_key(path: str | Path, passphrase: bytes | None, env: str = PASSWORD_ENV) -> PrivateKey:
    """Load a private key: cosign's encrypted key, or PEM (PKCS#8, encrypted or not; PKCS#1 RSA;
    SEC1 EC), of a type cosign signs with (ECDSA P-256/384/521, RSA 2048/3072/4096, Ed25519).
    A wrong passphrase, not-a-key or another key type → `InputError`."""
    from cryptography.hazmat.primitives import serialization

    from edgegate.sign.cosign_key import decrypt_private_key, pem_type

    data = read_bounded(path, _MAX_KEY_BYTES)
    if pem_type(data) is not None:
        return _check_type(decrypt_private_key(data, passphrase or b"", path), path)
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
    return _check_type(key, path)


def _check_type(key: object, path: str | Path) -> PrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise InputError(f"unsupported curve {key.curve.name}", path)
    elif isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size not in _RSA_SIZES:
            raise InputError(f"unsupported RSA key size {key.key_size} (2048, 3072 or 4096)", path)
    elif not isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        raise InputError(f"unsupported key type {type(key).__name__} (ECDSA, RSA or Ed25519)", path)
    return key  # type: ignore[return-value]


def load_private_key(
    path: str | Path, passphrase: bytes | None, env: str = PASSWORD_ENV
) -> ec.EllipticCurvePrivateKey:
    """Load an EC private key (`load_signing_key` limited to ECDSA, which bundles for files and
    models are signed with)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = load_signing_key(path, passphrase, env)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InputError("not an elliptic-curve (ECDSA) private key", path)
    return key


def load_verification_key(path: str | Path) -> PublicKey:
    """Load a public key PEM (SubjectPublicKeyInfo, or PKCS#1 RSA) of a type cosign verifies."""
    from cryptography.hazmat.primitives import serialization

    data = read_bounded(path, _MAX_KEY_BYTES)
    try:
        key = serialization.load_pem_public_key(data)
    except Exception:
        raise InputError("not a PEM public key", path) from None
    return _check_type(key, path)  # type: ignore[return-value]


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
