"""Sigstore bundle v0.3 signatures and attestations stored as OCI 1.1 referrers (cosign
``--new-bundle-format``), and in-toto statements in DSSE envelopes.

A referrer is a manifest whose ``subject`` is the image and whose one layer is a bundle
(``application/vnd.dev.sigstore.bundle.v0.3+json``). cosign's signature is a DSSE envelope over
an in-toto statement whose predicate type is ``https://sigstore.dev/cosign/sign/v1`` and whose
subject is the image digest; an attestation is the same with its own predicate type. Key mode is
checked here (the key's cosign scheme over the DSSE pre-authentication encoding); certificate bundles go through
sigstore-python with an identity policy.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgegate.admit.cosign import (
    BAD_SIGNATURE,
    MALFORMED,
    NO_SIGNATURE,
    OTHER_DIGEST,
    UNTRUSTED_SIGNER,
    AdmitFailure,
    KeyAuthority,
    _worst,
)
from edgegate.admit.oci import MAX_SIGNATURE_BLOB, ImageSource
from edgegate.sign.bundles import pae

if TYPE_CHECKING:
    from edgegate.admit.verify import AdmitOptions, Resolved
    from edgegate.sign.keyless import IdentityPolicy

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
MAX_REFERRERS = 256


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope (payload type, payload, signatures) and the bundle it came from, if any."""

    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]
    bundle: bytes | None = None
    origin: str = ""


@dataclass(frozen=True)
class Statement:
    """A verified in-toto statement about the image."""

    predicate_type: str
    statement: dict[str, Any]
    signer: str
    origin: str


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise AdmitFailure(MALFORMED, f"{what} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise AdmitFailure(MALFORMED, f"{what} is not base64") from None


def envelope_from_json(doc: Any, origin: str) -> Envelope:
    """A DSSE envelope from its JSON form (``payloadType``, ``payload``, ``signatures``)."""
    if not isinstance(doc, dict):
        raise AdmitFailure(MALFORMED, f"{origin}: DSSE envelope is not an object")
    sigs = doc.get("signatures")
    if not isinstance(sigs, list) or not sigs or len(sigs) > 16:
        raise AdmitFailure(MALFORMED, f"{origin}: DSSE envelope has no (or too many) signatures")
    return Envelope(
        payload_type=str(doc.get("payloadType")),
        payload=_b64(doc.get("payload"), f"{origin}: DSSE payload"),
        signatures=tuple(_b64(s.get("sig") if isinstance(s, dict) else None, f"{origin}: DSSE signature") for s in sigs),
        origin=origin,
    )


def envelope_from_bundle(data: bytes, origin: str) -> Envelope:
    """The DSSE envelope inside a bundle v0.3 (``dsseEnvelope``)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise AdmitFailure(MALFORMED, f"{origin}: bundle is not JSON") from None
    if not isinstance(doc, dict) or not str(doc.get("mediaType", "")).startswith("application/vnd.dev.sigstore.bundle"):
        raise AdmitFailure(MALFORMED, f"{origin}: not a Sigstore bundle")
    if "dsseEnvelope" not in doc:
        raise AdmitFailure(MALFORMED, f"{origin}: bundle holds no DSSE envelope")
    env = envelope_from_json(doc["dsseEnvelope"], origin)
    return Envelope(env.payload_type, env.payload, env.signatures, data, origin)


def verify_envelope(
    env: Envelope,
    keys: Sequence[KeyAuthority],
    identities: Sequence[IdentityPolicy],
    opts: AdmitOptions,
) -> str:
    """The signer of `env` (a key name or an identity), or `AdmitFailure`."""
    from edgegate.admit.cosign import verify_ecdsa

    signed = pae(env.payload_type, env.payload)
    for key in keys:
        if any(verify_ecdsa(key.key, sig, signed) for sig in env.signatures):
            return key.name
    if env.bundle is not None and identities:
        bundle_doc = json.loads(env.bundle)
        vm = bundle_doc.get("verificationMaterial") if isinstance(bundle_doc, dict) else None
        if isinstance(vm, dict) and "publicKey" not in vm:
            return _verify_keyless(env, identities, opts)
    if not keys:
        raise AdmitFailure(UNTRUSTED_SIGNER, f"{env.origin}: signed with a key, but only identities are trusted")
    raise AdmitFailure(BAD_SIGNATURE, f"{env.origin}: DSSE signature does not verify with any trusted key")


def _verify_keyless(env: Envelope, identities: Sequence[IdentityPolicy], opts: AdmitOptions) -> str:
    from edgegate.sign.bundles import RawBundle, VerificationFailure
    from edgegate.sign.keyless import verify_dsse

    assert env.bundle is not None
    from pathlib import Path

    raw = RawBundle(path=Path(env.origin), data=env.bundle, document=json.loads(env.bundle))
    reasons = []
    for policy in identities:
        try:
            ptype, payload = verify_dsse(raw, policy, instance=opts.instance, offline=opts.offline)
        except VerificationFailure as exc:
            reasons.append(exc.reason)
            continue
        if ptype != env.payload_type or payload != env.payload:
            raise AdmitFailure(MALFORMED, f"{env.origin}: verified payload differs from the envelope")
        return policy.describe()
    raise AdmitFailure(UNTRUSTED_SIGNER, f"{env.origin}: {reasons[0] if reasons else 'no identity matches'}")


def statement_about(env: Envelope, digest: str) -> dict[str, Any]:
    """The in-toto statement of `env`, checked to name `digest` among its subjects."""
    if env.payload_type != IN_TOTO:
        raise AdmitFailure(MALFORMED, f"{env.origin}: payload type {env.payload_type!r} is not in-toto")
    try:
        stmt = json.loads(env.payload)
    except (ValueError, UnicodeDecodeError):
        raise AdmitFailure(MALFORMED, f"{env.origin}: in-toto statement is not JSON") from None
    if not isinstance(stmt, dict) or stmt.get("_type") not in STATEMENT_TYPES:
        raise AdmitFailure(MALFORMED, f"{env.origin}: not an in-toto statement")
    subjects = stmt.get("subject")
    algo, _, hex_digest = digest.partition(":")
    names = []
    if isinstance(subjects, list):
        for s in subjects:
            d = s.get("digest") if isinstance(s, dict) else None
            if isinstance(d, dict):
                names.append(f"{algo}:{d.get(algo)}")
                if d.get(algo) == hex_digest:
                    return stmt
    raise AdmitFailure(
        OTHER_DIGEST,
        f"{env.origin}: statement is about {', '.join(names) or 'no subject'}, not {digest}",
    )


def referrer_bundles(source: ImageSource, res: Resolved) -> list[tuple[str, bytes]]:
    """Every bundle v0.3 referrer of the image (its subject checked): (origin, bundle bytes)."""
    where = f"{res.ref.registry}/{res.ref.repository}"
    descriptors = source.referrers(res.ref, res.digest)
    if len(descriptors) > MAX_REFERRERS:
        raise AdmitFailure(MALFORMED, f"image has {len(descriptors)} referrers (at most {MAX_REFERRERS} are read)")
    out = []
    for desc in descriptors:
        # The descriptor's artifactType is not trusted to select: go-containerregistry writes
        # the config media type (application/vnd.oci.empty.v1+json) into the referrers tag.
        m = source.manifest(res.ref, str(desc["digest"]))
        assert m is not None
        layers = m.doc.get("layers")
        if not isinstance(layers, list) or not any(
            isinstance(x, dict) and x.get("mediaType") == BUNDLE_V03 for x in layers
        ):
            continue
        origin = f"referrer {str(desc['digest'])[:19]}"
        subject = m.doc.get("subject")
        if not isinstance(subject, dict) or subject.get("digest") != res.digest:
            raise AdmitFailure(
                OTHER_DIGEST, f"{origin} of {where} has subject {subject and subject.get('digest')}, not {res.digest}"
            )
        layer = next(x for x in layers if isinstance(x, dict) and x.get("mediaType") == BUNDLE_V03)
        size = layer.get("size")
        if isinstance(size, int) and size > MAX_SIGNATURE_BLOB:
            raise AdmitFailure(MALFORMED, f"{origin}: bundle is {size} bytes (too large)")
        out.append((origin, source.blob(res.ref, str(layer.get("digest")), MAX_SIGNATURE_BLOB)))
    return out


def _is_message_bundle(data: bytes) -> bool:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and "messageSignature" in doc and "dsseEnvelope" not in doc


def referrer_envelopes(source: ImageSource, res: Resolved) -> list[Envelope]:
    """The DSSE envelopes among the image's bundle referrers."""
    return [envelope_from_bundle(data, origin) for origin, data in referrer_bundles(source, res)
            if not _is_message_bundle(data)]


def verify_message_bundle(
    data: bytes,
    digest: str,
    keys: Sequence[KeyAuthority],
    identities: Sequence[IdentityPolicy],
    opts: AdmitOptions,
    origin: str,
) -> str:
    """A bundle whose ``messageSignature`` signs `digest` (the image manifest's SHA-256): the
    signer (key name or identity), or `AdmitFailure`. Keyless bundles go through sigstore-python."""
    from pathlib import Path

    from edgegate.sign import bundles as sign_bundles
    from edgegate.sign.bundles import RawBundle, VerificationFailure

    doc = json.loads(data)
    ms = doc.get("messageSignature")
    if not isinstance(ms, dict):
        raise AdmitFailure(MALFORMED, f"{origin}: bundle has no message signature")
    algo, _, hex_digest = digest.partition(":")
    if algo != "sha256":
        raise AdmitFailure(MALFORMED, f"{origin}: only sha256 digests are supported")
    expected = bytes.fromhex(hex_digest)
    md = ms.get("messageDigest")
    if isinstance(md, dict) and _b64(md.get("digest"), f"{origin}: message digest") != expected:
        raise AdmitFailure(OTHER_DIGEST, f"{origin}: bundle signs another digest, not {digest}")
    vm = doc.get("verificationMaterial")
    if isinstance(vm, dict) and "publicKey" in vm:
        from edgegate.admit.algorithms import verify_sha256_digest

        signature = _b64(ms.get("signature"), f"{origin}: signature")
        for key in keys:
            if verify_sha256_digest(key.key, signature, expected):
                return key.name
        if not keys:
            raise AdmitFailure(UNTRUSTED_SIGNER, f"{origin}: signed with a key, but only identities are trusted")
        raise AdmitFailure(BAD_SIGNATURE, f"{origin}: signature does not verify with any trusted key")
    if not identities:
        raise AdmitFailure(UNTRUSTED_SIGNER, f"{origin}: signed keylessly, but only keys are trusted")
    from edgegate.sign.keyless import verify_file

    raw = RawBundle(path=Path(origin), data=data, document=doc)
    reasons: list[tuple[str, str]] = []
    for policy in identities:
        try:
            verify_file(raw, hex_digest, policy, instance=opts.instance, offline=opts.offline)
        except VerificationFailure as exc:
            rule = {
                sign_bundles.DIGEST_MISMATCH: OTHER_DIGEST,
                sign_bundles.POLICY_MISMATCH: UNTRUSTED_SIGNER,
                sign_bundles.UNTRUSTED: UNTRUSTED_SIGNER,
                sign_bundles.BAD_SIGNATURE: BAD_SIGNATURE,
            }.get(exc.rule_id, MALFORMED)
            reasons.append((rule, f"{origin}: {exc.reason}"))
            continue
        return policy.describe()
    raise AdmitFailure(*_worst(reasons))


def verify_referrer_signatures(
    source: ImageSource,
    res: Resolved,
    keys: Sequence[KeyAuthority],
    identities: Sequence[IdentityPolicy],
    opts: AdmitOptions,
) -> tuple[str, str] | None:
    """(signer, detail) for the first signature bundle that holds (cosign's DSSE statement
    ``https://sigstore.dev/cosign/sign/v1``, or a message signature over the manifest digest);
    ``None`` when the image has no signature bundle; `AdmitFailure` when none holds."""
    reasons: list[tuple[str, str]] = []
    seen = False
    for origin, data in referrer_bundles(source, res):
        try:
            if _is_message_bundle(data):
                seen = True
                signer = verify_message_bundle(data, res.digest, keys, identities, opts, origin)
                return signer, f"bundle v0.3 message signature ({origin})"
            env = envelope_from_bundle(data, origin)
            try:
                stmt = json.loads(env.payload) if env.payload_type == IN_TOTO else None
            except (ValueError, UnicodeDecodeError):
                stmt = None
            if not isinstance(stmt, dict) or stmt.get("predicateType") != SIGN_PREDICATE:
                continue
            seen = True
            signer = verify_envelope(env, keys, identities, opts)
            statement_about(env, res.digest)
        except AdmitFailure as exc:
            reasons.append((exc.rule_id, exc.reason))
            continue
        return signer, f"cosign bundle v0.3 ({env.origin})"
    if not seen and not reasons:
        return None
    raise AdmitFailure(*_worst(reasons)) if reasons else AdmitFailure(NO_SIGNATURE, "no signature bundle")
