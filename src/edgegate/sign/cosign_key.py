"""cosign's encrypted private-key format (``cosign generate-key-pair`` / ``import-key-pair``).

A PEM block ``ENCRYPTED SIGSTORE PRIVATE KEY`` (older cosign: ``ENCRYPTED COSIGN PRIVATE KEY``)
holds the JSON of go-securesystemslib's ``encrypted`` package: scrypt derives a 32-byte key from
the password and a 32-byte salt, and that key opens a NaCl secretbox (24-byte nonce) around the
PKCS#8 DER private key. Only the three scrypt parameter sets that package writes are accepted
(N 2^15, 2^16 or 2^17; r 8; p 1), checked before any work as it does: a tampered N would
otherwise cost memory and time. A wrong password and an altered ciphertext are the same
failure (the secretbox does not open).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgegate.errors import InputError

if TYPE_CHECKING:
    from edgegate.sign.keys import PrivateKey

PEM_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
PASSWORD_ENV = "COSIGN_PASSWORD"
"""cosign's password variable (read even when set to the empty string, as cosign does)."""

_PARAMS = ({"N": 32768, "r": 8, "p": 1}, {"N": 65536, "r": 8, "p": 1}, {"N": 131072, "r": 8, "p": 1})
_WRITE_PARAMS = _PARAMS[1]  # go-securesystemslib's default ("Standard")
_SALT, _KEY, _NONCE = 32, 32, 24


def pem_type(data: bytes) -> str | None:
    """The cosign PEM type of `data` (``None`` for any other file)."""
    for t in PEM_TYPES:
        if f"-----BEGIN {t}-----".encode() in data:
            return t
    return None


def _pem_body(data: bytes, ptype: str, where: str | Path) -> bytes:
    begin, end = f"-----BEGIN {ptype}-----".encode(), f"-----END {ptype}-----".encode()
    start = data.index(begin) + len(begin)
    stop = data.find(end, start)
    if stop < 0:
        raise InputError(f"{ptype} PEM block has no END line", where)
    try:
        return base64.b64decode(b"".join(data[start:stop].split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{ptype} PEM block is not base64", where) from None


def _bytes(doc: Any, key: str, size: int | None, where: str | Path) -> bytes:
    value = doc.get(key) if isinstance(doc, dict) else None
    try:
        out = base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except (binascii.Error, ValueError):
        out = None
    if out is None or (size is not None and len(out) != size):
        raise InputError(f"cosign private key: {key} is missing or malformed", where)
    return out


def _scrypt(password: bytes, salt: bytes, params: dict[str, int]) -> bytes:
    n, r, p = params["N"], params["r"], params["p"]
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=_KEY, maxmem=256 * r * n * p + (1 << 20))


def decrypt_private_key(data: bytes, password: bytes, where: str | Path) -> PrivateKey:
    """The private key of a cosign key file; a wrong password, an altered file or an unknown
    format is an `InputError` (one line, naming `where`)."""
    import nacl.exceptions
    import nacl.secret
    from cryptography.hazmat.primitives import serialization

    ptype = pem_type(data)
    if ptype is None:
        raise InputError("not a cosign private key", where)
    try:
        doc = json.loads(_pem_body(data, ptype, where))
    except (ValueError, UnicodeDecodeError):
        raise InputError("cosign private key: the PEM block is not the encrypted-key JSON", where) from None
    kdf = doc.get("kdf") if isinstance(doc, dict) else None
    cipher = doc.get("cipher") if isinstance(doc, dict) else None
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise InputError("cosign private key: unknown key derivation (expected scrypt)", where)
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        raise InputError("cosign private key: unknown cipher (expected nacl/secretbox)", where)
    params = kdf.get("params")
    if not isinstance(params, dict) or {k: params.get(k) for k in ("N", "r", "p")} not in _PARAMS:
        raise InputError("cosign private key: unsupported scrypt parameters", where)
    salt = _bytes(kdf, "salt", None, where)
    nonce = _bytes(cipher, "nonce", _NONCE, where)
    ciphertext = _bytes(doc, "ciphertext", None, where)
    box = nacl.secret.SecretBox(_scrypt(password, salt, params))
    try:
        der = box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise InputError("wrong password for the cosign private key (or the key file was altered)", where) from None
    try:
        key = serialization.load_der_private_key(der, None)
    except (ValueError, TypeError):
        raise InputError("cosign private key: the decrypted key is not PKCS#8", where) from None
    return key  # type: ignore[return-value]  # the caller checks the key type


def encrypt_private_key(key: PrivateKey, password: bytes) -> bytes:
    """`key` as cosign writes it (``ENCRYPTED SIGSTORE PRIVATE KEY``, scrypt N=2^16)."""
    import nacl.secret
    from cryptography.hazmat.primitives import serialization

    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt, nonce = os.urandom(_SALT), os.urandom(_NONCE)
    sealed = nacl.secret.SecretBox(_scrypt(password, salt, _WRITE_PARAMS)).encrypt(der, nonce)
    b64 = base64.b64encode
    doc = {
        "kdf": {"name": "scrypt", "params": _WRITE_PARAMS, "salt": b64(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce).decode()},
        "ciphertext": b64(sealed.ciphertext).decode(),
    }
    body = b64(json.dumps(doc, separators=(",", ":")).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {PEM_TYPES[0]}-----", *lines, f"-----END {PEM_TYPES[0]}-----", ""]).encode()
