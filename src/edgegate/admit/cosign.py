"""Image signatures as cosign stores them, read and written without cosign.

- Legacy tag scheme: the tag ``sha256-<hex>.sig`` in the image's repository holds an OCI
  manifest whose layers are simple-signing payloads
  (``application/vnd.dev.cosign.simplesigning.v1+json``), each with its base64 ECDSA signature in
  the ``dev.cosignproject.cosign/signature`` annotation. The payload names the signed manifest
  digest (``critical.image.docker-manifest-digest``): a valid signature over a payload for
  another digest is a failure, never a pass.
- OCI 1.1 referrers scheme: a manifest whose ``subject`` is the image and whose layer is a
  Sigstore bundle v0.3 (`edgegate.admit.bundles`).

Keys are ECDSA, RSA or Ed25519 public keys, checked in the schemes cosign signs with
(`edgegate.admit.algorithms`). A keyless signature in the tag scheme (certificate and Rekor
promise in the layer's annotations) is checked as far as edgegate can (`edgegate.admit.keyless_tag`)
and then refused: sigstore-python verifies only log entries with an inclusion proof.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgegate.admit.oci import MAX_SIGNATURE_BLOB, ImageSource, Manifest
from edgegate.errors import InputError
from edgegate.sbom.registry import Reference

if TYPE_CHECKING:
    from edgegate.sign.keyless import IdentityPolicy
    from edgegate.sign.keys import PublicKey

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERT_ANNOTATION = "dev.sigstore.cosign/certificate"
PAYLOAD_TYPE = "cosign container image signature"
MAX_LAYERS = 256
"""Most signatures read from one signature manifest."""

# Rule ids of image-admission failures (EGA = edgegate admit).
ADMITTED = "EGA000"
NO_SIGNATURE = "EGA001"
BAD_SIGNATURE = "EGA002"
OTHER_DIGEST = "EGA003"
UNTRUSTED_SIGNER = "EGA004"
NO_ATTESTATION = "EGA005"
ATTESTATION_DENIED = "EGA006"
NO_POLICY = "EGA007"
MALFORMED = "EGA008"
VULNERABLE = "EGA009"

RULE_TITLES = {
    ADMITTED: "image admitted",
    NO_SIGNATURE: "image has no signature",
    BAD_SIGNATURE: "image signature does not verify",
    OTHER_DIGEST: "signature is for another image digest",
    UNTRUSTED_SIGNER: "image is not signed by a trusted key or identity",
    NO_ATTESTATION: "required attestation is missing or does not verify",
    ATTESTATION_DENIED: "attestation policy denied the image",
    NO_POLICY: "no image policy covers this image",
    MALFORMED: "malformed signature or attestation",
    VULNERABLE: "admitted image has known vulnerabilities",
}


class AdmitFailure(Exception):
    """The image may not be admitted (exit 1): `rule_id` and a one-line `reason`."""

    def __init__(self, rule_id: str, reason: str) -> None:
        super().__init__(reason)
        self.rule_id = rule_id
        self.reason = reason


@dataclass(frozen=True)
class KeyAuthority:
    """A public key whose signatures are trusted."""

    name: str
    key: PublicKey


def sig_tag(digest: str) -> str:
    """The legacy signature tag of `digest`."""
    return digest.replace(":", "-") + ".sig"


def att_tag(digest: str) -> str:
    """The legacy attestation tag of `digest`."""
    return digest.replace(":", "-") + ".att"


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    """The payload cosign signs for an image (compact JSON, cosign's key order)."""
    doc = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def verify_ecdsa(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """`signature` over `data` by `key` in the scheme cosign signs with for its type (ECDSA-SHA256,
    RSA PKCS#1 v1.5 SHA-256, Ed25519ph; the name is kept from when only ECDSA was read)."""
    from edgegate.admit.algorithms import verify

    return verify(key, signature, data)


def _payload_digest(payload: bytes) -> str | None:
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    crit = doc.get("critical") if isinstance(doc, dict) else None
    if not isinstance(crit, dict) or crit.get("type") != PAYLOAD_TYPE:
        return None
    image = crit.get("image")
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    return digest if isinstance(digest, str) else None


def signature_layers(manifest: Manifest, where: str) -> list[dict[str, Any]]:
    """The simple-signing layers of a legacy signature manifest."""
    layers = manifest.doc.get("layers")
    if not isinstance(layers, list):
        raise AdmitFailure(MALFORMED, f"signature manifest {manifest.digest} has no layers list")
    if len(layers) > MAX_LAYERS:
        raise AdmitFailure(MALFORMED, f"signature manifest holds {len(layers)} layers (at most {MAX_LAYERS})")
    return [x for x in layers if isinstance(x, dict) and x.get("mediaType") == SIMPLE_SIGNING]


def verify_legacy(
    source: ImageSource,
    ref: Reference,
    digest: str,
    keys: list[KeyAuthority],
    identities: Sequence[IdentityPolicy] = (),
) -> tuple[str, str] | None:
    """Verify the ``.sig`` tag of `digest` with `keys`: (signer, detail) when one signature
    holds; ``None`` when there is no signature tag; `AdmitFailure` when none holds. Keyless
    signatures there are checked against `identities` and refused (`edgegate.admit.keyless_tag`)."""
    manifest = source.manifest(ref, sig_tag(digest), missing_ok=True)
    if manifest is None:
        return None
    where = f"{ref.registry}/{ref.repository}:{sig_tag(digest)}"
    layers = signature_layers(manifest, where)
    if not layers:
        raise AdmitFailure(NO_SIGNATURE, f"signature tag {sig_tag(digest)} holds no simple-signing layer")
    reasons: list[tuple[str, str]] = []
    for layer in layers:
        annotations = layer.get("annotations") if isinstance(layer.get("annotations"), dict) else {}
        sig_b64 = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
        if not isinstance(sig_b64, str):
            reasons.append((MALFORMED, "a signature layer has no signature annotation"))
            continue
        try:
            signature = base64.b64decode(sig_b64, validate=True)
        except (binascii.Error, ValueError):
            reasons.append((MALFORMED, "a signature annotation is not base64"))
            continue
        size = layer.get("size")
        if isinstance(size, int) and size > MAX_SIGNATURE_BLOB:
            reasons.append((MALFORMED, f"a signature payload is {size} bytes (too large)"))
            continue
        payload = source.blob(ref, str(layer["digest"]), MAX_SIGNATURE_BLOB)
        signer = next((k.name for k in keys if verify_ecdsa(k.key, signature, payload)), None)
        if signer is None:
            if isinstance(annotations, dict) and CERT_ANNOTATION in annotations and identities:
                from edgegate.admit import keyless_tag

                reasons.append(keyless_tag.check(annotations, signature, payload, digest, identities))
            elif isinstance(annotations, dict) and CERT_ANNOTATION in annotations:
                reasons.append((UNTRUSTED_SIGNER, "signature is keyless (certificate), not by a given key"))
            elif not keys:
                reasons.append((UNTRUSTED_SIGNER, f"{sig_tag(digest)} is signed with a key, but only identities "
                                "are trusted"))
            else:
                reasons.append((BAD_SIGNATURE, "signature does not verify with any trusted key (tampered or another key)"))
            continue
        signed = _payload_digest(payload)
        if signed is None:
            reasons.append((MALFORMED, "signed payload is not a cosign simple-signing payload"))
            continue
        if signed != digest:
            reasons.append((OTHER_DIGEST, f"signature is valid but signs {signed}, not {digest}"))
            continue
        return signer, f"cosign signature (tag {sig_tag(digest)})"
    raise AdmitFailure(*_worst(reasons))


def _worst(reasons: list[tuple[str, str]]) -> tuple[str, str]:
    order = [OTHER_DIGEST, BAD_SIGNATURE, UNTRUSTED_SIGNER, MALFORMED, NO_SIGNATURE]
    reasons.sort(key=lambda r: order.index(r[0]) if r[0] in order else len(order))
    return reasons[0]


def load_keys(paths: list[str]) -> list[KeyAuthority]:
    """Public keys from PEM files (cosign.pub, edgegate's, or an RSA / Ed25519 public key)."""
    from edgegate.sign.keys import load_verification_key

    out = []
    for p in paths:
        out.append(KeyAuthority(str(p), load_verification_key(p)))
    if not out:
        raise InputError("no public key given")
    return out
