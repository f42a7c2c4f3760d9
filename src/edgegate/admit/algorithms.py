"""The signature scheme cosign uses for each key type (sigstore/sigstore ``pkg/signature``'s
defaults, which cosign signs with):

- ECDSA P-256/384/521: ECDSA over SHA-256 (what ``cosign verify --key`` checks); the curve's own
  hash (SHA-384/512, sigstore's default algorithm for P-384/521) is accepted too.
- RSA 2048/3072/4096: RSASSA-PKCS1-v1_5 with SHA-256.
- Ed25519: cosign 2.6 *signs* with Ed25519ph (RFC 8032, SHA-512 prehash: its default load option)
  but ``cosign verify --key`` *checks* plain Ed25519 (``signature.LoadVerifier`` without the ph
  option), so cosign does not verify its own Ed25519 signatures in either scheme (tested; see
  sigstore/cosign pull request 5074). edgegate accepts both and signs plain Ed25519, which is
  what ``cosign verify --key`` accepts. `cryptography` has no Ed25519ph: pycryptodomex (already
  installed for sigstore) provides it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgegate.sign.keys import PrivateKey, PublicKey


def _ed25519ph(key: PublicKey) -> object:
    from Cryptodome.PublicKey import ECC
    from Cryptodome.Signature import eddsa
    from cryptography.hazmat.primitives import serialization

    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return eddsa.new(ECC.import_key(der), "rfc8032")


def sign(key: PrivateKey, data: bytes) -> bytes:
    """Sign `data` so that ``cosign verify --key`` accepts it."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)  # plain Ed25519: what cosign verify --key checks (see the module)


def verify(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """Does `signature` over `data` verify with `key` in a scheme cosign signs with?"""
    from Cryptodome.Hash import SHA512
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            curve_hash = {384: hashes.SHA384(), 521: hashes.SHA512()}.get(key.curve.key_size)
            for h in (hashes.SHA256(), *([curve_hash] if curve_hash else [])):
                try:
                    key.verify(signature, data, ec.ECDSA(h))
                    return True
                except InvalidSignature:
                    continue
            return False
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
        try:
            _ed25519ph(key).verify(SHA512.new(data), signature)  # type: ignore[attr-defined]
            return True
        except ValueError:
            key.verify(signature, data)
            return True
    except InvalidSignature:
        return False


def verify_sha256_digest(key: PublicKey, signature: bytes, digest: bytes) -> bool:
    """A signature over a message known only by its SHA-256 `digest` (a bundle's message
    signature). Ed25519 signs the message itself (or its SHA-512), so it never verifies here."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    prehashed = utils.Prehashed(hashes.SHA256())
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), prehashed)
        else:
            return False
    except InvalidSignature:
        return False
    return True
