"""Keyless cosign signatures in the tag scheme, checked as far as edgegate can, then refused.

cosign's keyless signature in a ``sha256-<hex>.sig`` layer carries the signing certificate
(``dev.sigstore.cosign/certificate``), its chain (``dev.sigstore.cosign/chain``) and Rekor's
signed promise (``dev.sigstore.cosign/bundle``: ``SignedEntryTimestamp`` and the entry's body,
integrated time, log index and log ID). Checked here, in this order:

1. the certificate parses and the payload's signature verifies with its key;
2. there is a Rekor promise, its body a ``hashedrekord`` naming this signature, this certificate
   and the payload's SHA-256, integrated while the certificate was valid;
3. the certificate matches an identity policy (sigstore-python's policy objects);
4. the payload is a simple-signing payload for the image's digest.

Not checked: the certificate's chain to Fulcio and its SCT, and Rekor's signature on the
promise. sigstore-python 4 verifies only log entries with an inclusion proof and checkpoint (its
``TransparencyLogEntry`` refuses a promise alone) and the tag scheme stores only the promise, so
such a signature is never admitted: `check` always returns a failure, the most precise one found.
cosign ``--new-bundle-format`` stores a whole bundle, which edgegate verifies with sigstore-python.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from edgegate.admit.cosign import BAD_SIGNATURE, MALFORMED, OTHER_DIGEST, UNTRUSTED_SIGNER, _payload_digest

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

    from edgegate.sign.keyless import IdentityPolicy

CERT = "dev.sigstore.cosign/certificate"
CHAIN = "dev.sigstore.cosign/chain"
BUNDLE = "dev.sigstore.cosign/bundle"


class _Refused(Exception):
    def __init__(self, rule_id: str, reason: str) -> None:
        super().__init__(reason)
        self.rule_id, self.reason = rule_id, reason


def _b64(value: Any, what: str) -> bytes:
    try:
        if isinstance(value, str):
            return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        pass
    raise _Refused(MALFORMED, f"keyless signature: {what} is missing or not base64")


def _obj(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _certificate(pem: Any) -> Certificate:
    from cryptography import x509

    if not isinstance(pem, str):
        raise _Refused(MALFORMED, "keyless signature: the certificate annotation is not text")
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise _Refused(MALFORMED, "keyless signature: the certificate annotation is not a PEM certificate") from None


def _promise(raw: Any, signature: bytes, cert: Certificate, payload: bytes) -> int:
    """Check the Rekor promise's body against the signature; return its integrated time."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if raw is None:
        raise _Refused(UNTRUSTED_SIGNER, "keyless signature has no Rekor entry (dev.sigstore.cosign/bundle): "
                       "its time and log inclusion cannot be established")
    try:
        doc = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        doc = None
    entry = doc.get("Payload") if isinstance(doc, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("integratedTime"), int):
        raise _Refused(MALFORMED, "keyless signature: the Rekor bundle annotation is malformed")
    _b64(doc.get("SignedEntryTimestamp"), "the Rekor signed entry timestamp")  # type: ignore[union-attr]
    try:
        body = json.loads(_b64(entry.get("body"), "the Rekor entry body"))
    except (ValueError, UnicodeDecodeError):
        body = None
    spec = body.get("spec") if isinstance(body, dict) else None
    if not isinstance(body, dict) or body.get("kind") != "hashedrekord" or not isinstance(spec, dict):
        raise _Refused(MALFORMED, "keyless signature: the Rekor entry is not a hashedrekord")
    data_hash = _obj(_obj(spec, "data"), "hash")
    sig = _obj(spec, "signature")
    key = _obj(sig, "publicKey")
    if data_hash.get("algorithm") != "sha256" or data_hash.get("value") != hashlib.sha256(payload).hexdigest():
        raise _Refused(BAD_SIGNATURE, "keyless signature: the Rekor entry is for another payload")
    if _b64(sig.get("content"), "the Rekor entry's signature") != signature:
        raise _Refused(BAD_SIGNATURE, "keyless signature: the Rekor entry holds another signature")
    try:
        logged = x509.load_pem_x509_certificate(_b64(key.get("content"), "the Rekor entry's certificate"))
    except ValueError:
        raise _Refused(MALFORMED, "keyless signature: the Rekor entry's certificate is not PEM") from None
    der = serialization.Encoding.DER
    if logged.public_bytes(der) != cert.public_bytes(der):
        raise _Refused(BAD_SIGNATURE, "keyless signature: the Rekor entry holds another certificate")
    when = dt.datetime.fromtimestamp(entry["integratedTime"], dt.timezone.utc)
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        raise _Refused(BAD_SIGNATURE, "keyless signature: logged outside the certificate's validity")
    return int(entry["integratedTime"])


def _identity(cert: Certificate, identities: Sequence[IdentityPolicy]) -> str:
    from sigstore.errors import VerificationError

    reasons = []
    for policy in identities:
        try:
            policy.build().verify(cert)
        except VerificationError as exc:
            reasons.append(str(exc))
            continue
        return policy.describe()
    raise _Refused(UNTRUSTED_SIGNER, f"keyless signature: certificate does not match the identity policy "
                   f"({reasons[0] if reasons else 'no identity given'})")


def check(
    annotations: Mapping[str, Any], signature: bytes, payload: bytes, digest: str, identities: Sequence[IdentityPolicy]
) -> tuple[str, str]:
    """(rule id, reason) refusing a keyless tag-scheme signature (never a pass; see the module)."""
    from edgegate.admit.algorithms import verify

    try:
        cert = _certificate(annotations.get(CERT))
        if not verify(cert.public_key(), signature, payload):  # type: ignore[arg-type]
            raise _Refused(BAD_SIGNATURE, "keyless signature does not verify with its certificate's key")
        _promise(annotations.get(BUNDLE), signature, cert, payload)
        who = _identity(cert, identities)
        signed = _payload_digest(payload)
        if signed is None:
            raise _Refused(MALFORMED, "keyless signature: signed payload is not a cosign simple-signing payload")
        if signed != digest:
            raise _Refused(OTHER_DIGEST, f"keyless signature is for {signed}, not {digest}")
    except _Refused as exc:
        return exc.rule_id, exc.reason
    return UNTRUSTED_SIGNER, (
        f"keyless signature (certificate for {who}) in the tag scheme (.sig) is not admitted: its chain and "
        "Rekor's promise cannot be verified (sigstore-python needs an inclusion proof, which the tag scheme "
        "does not store); sign with cosign --new-bundle-format"
    )
