"""Sign an image in its registry the way cosign does, so ``cosign verify --key`` accepts it.

- ``scheme="tag"``: a simple-signing payload signed with ECDSA-SHA256, stored as a layer of the
  ``sha256-<hex>.sig`` manifest (existing signatures there are kept).
- ``scheme="referrers"``: a bundle v0.3 whose DSSE envelope holds the in-toto statement
  ``https://sigstore.dev/cosign/sign/v1`` about the digest, pushed as an OCI 1.1 referrer; the
  ``sha256-<hex>`` referrers tag is updated as well, for registries without the referrers API.

The key is edgegate's encrypted PKCS#8 key (``edgegate sign keygen``) or cosign's encrypted key
(``cosign generate-key-pair`` / ``import-key-pair``): ECDSA, RSA or Ed25519, signed in the scheme
cosign uses for the type (`edgegate.admit.algorithms`). No transparency-log entry is made
(verify with ``cosign verify --insecure-ignore-tlog``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgegate.admit.bundles import BUNDLE_V03, IN_TOTO, SIGN_PREDICATE
from edgegate.admit.cosign import SIGNATURE_ANNOTATION, SIMPLE_SIGNING, sig_tag, simple_signing_payload
from edgegate.admit.oci import INDEX_TYPES, MANIFEST_TYPES, OciClient, fallback_tag
from edgegate.errors import InputError
from edgegate.sbom.registry import Reference, parse_reference
from edgegate.sign.bundles import pae

if TYPE_CHECKING:
    from edgegate.sign.keys import PrivateKey

SCHEMES = ("tag", "referrers")
_EMPTY = "application/vnd.oci.empty.v1+json"


@dataclass(frozen=True)
class SignedImage:
    reference: str
    digest: str
    stored_as: str


def _sign(key: PrivateKey, data: bytes) -> bytes:
    from edgegate.admit.algorithms import sign

    return sign(key, data)


def _hint(key: PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def sign_image(
    reference: str,
    key: PrivateKey,
    *,
    scheme: str = "tag",
    insecure: bool = False,
    mirror: str | None = None,
) -> SignedImage:
    """Resolve `reference` in its registry and attach a signature for its digest."""
    if scheme not in SCHEMES:
        raise InputError(f"unknown signature scheme {scheme!r} (expected tag or referrers)")
    ref = parse_reference(reference)
    served = ref if mirror is None else Reference(mirror, ref.repository, ref.tag, ref.digest)
    client = OciClient(served, insecure=insecure)
    manifest = client.get_manifest(ref.digest or ref.tag or "latest")
    assert manifest is not None
    digest = manifest.digest
    if scheme == "tag":
        payload = simple_signing_payload(f"{ref.registry}/{ref.repository}", digest)
        signature = base64.b64encode(_sign(key, payload)).decode()
        _push_tag_signature(client, digest, payload, signature)
        return SignedImage(str(ref), digest, f"tag {sig_tag(digest)}")
    bundle = _bundle(key, digest)
    stored = _push_referrer(client, digest, manifest.media_type, len(manifest.data), bundle)
    return SignedImage(str(ref), digest, f"referrer {stored}")


def _push_tag_signature(client: OciClient, digest: str, payload: bytes, signature: str) -> None:
    existing = client.get_manifest(sig_tag(digest), missing_ok=True)
    layers = list(existing.doc.get("layers", [])) if existing is not None else []
    payload_digest = client.push_blob(payload)
    layer = {
        "mediaType": SIMPLE_SIGNING,
        "size": len(payload),
        "digest": payload_digest,
        "annotations": {SIGNATURE_ANNOTATION: signature},
    }
    if layer not in layers:
        layers.append(layer)
    config = json.dumps(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers if isinstance(x, dict)]},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    config_digest = client.push_blob(config)
    doc = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPES[0],
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config), "digest": config_digest},
        "layers": layers,
    }
    client.push_manifest(sig_tag(digest), json.dumps(doc, separators=(",", ":")).encode(), MANIFEST_TYPES[0])


def _bundle(key: PrivateKey, digest: str) -> bytes:
    algo, _, hex_ = digest.partition(":")
    statement = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {algo: hex_}}],
            "predicateType": SIGN_PREDICATE,
        },
        separators=(",", ":"),
    ).encode()
    sig = _sign(key, pae(IN_TOTO, statement))
    b64 = base64.b64encode
    doc = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": _hint(key)}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": b64(statement).decode(),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": b64(sig).decode()}],
        },
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _push_referrer(client: OciClient, digest: str, media_type: str, size: int, bundle: bytes) -> str:
    empty = b"{}"
    empty_digest = client.push_blob(empty)
    bundle_digest = client.push_blob(bundle)
    annotations = {"dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": SIGN_PREDICATE}
    doc = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPES[0],
        "artifactType": BUNDLE_V03,
        "config": {"mediaType": _EMPTY, "size": len(empty), "digest": empty_digest},
        "layers": [{"mediaType": BUNDLE_V03, "size": len(bundle), "digest": bundle_digest}],
        "subject": {"mediaType": media_type, "size": size, "digest": digest},
        "annotations": annotations,
    }
    data = json.dumps(doc, separators=(",", ":")).encode()
    ref_digest = "sha256:" + hashlib.sha256(data).hexdigest()
    client.push_manifest(ref_digest, data, MANIFEST_TYPES[0])
    status, _, _ = client.call("GET", f"{client.base}/referrers/{digest}", accept=INDEX_TYPES[0], allow=(404, 405, 400))
    if status != 200:  # no referrers API: maintain the referrers tag (OCI 1.1 fallback)
        index = client.get_manifest(fallback_tag(digest), missing_ok=True)
        entries = list(index.doc.get("manifests", [])) if index is not None else []
        desc = {"mediaType": MANIFEST_TYPES[0], "size": len(data), "digest": ref_digest,
                "artifactType": BUNDLE_V03, "annotations": annotations}
        if all(e.get("digest") != ref_digest for e in entries if isinstance(e, dict)):
            entries.append(desc)
        idx = {"schemaVersion": 2, "mediaType": INDEX_TYPES[0], "manifests": entries}
        client.push_manifest(fallback_tag(digest), json.dumps(idx, separators=(",", ":")).encode(), INDEX_TYPES[0])
    return ref_digest
