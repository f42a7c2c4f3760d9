"""Key-pair Sigstore bundles (v0.3 JSON) written and read without importing the bundle models.

A key-mode bundle is a few fields: the public-key hint, no log entries, and a message signature
or one DSSE envelope. `sigstore_models` (the pydantic schema sigstore-python and model-signing
use) costs more to import than the whole signing of a small file, so:

- `dump` writes the JSON exactly as ``sigstore_models.bundle.v1.Bundle(...).to_json()`` does
  (field order, compact separators, standard base64; a test round-trips it through the models);
- `parse` recognises only that canonical shape (every key known, strict types, canonical
  base64); a bundle with anything else in it (log entries, timestamps, certificates, unusual
  encodings) is handed to `sigstore_models`, so what is accepted or refused beyond the
  canonical shape is the library's decision, as before.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

MEDIA_TYPE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
V03_TYPES = (MEDIA_TYPE_V03, "application/vnd.dev.sigstore.bundle+json;version=0.3")


@dataclass(frozen=True)
class MessagePart:
    """A ``messageSignature``: the signed digest (when the bundle names it) and the signature."""

    algorithm: str | None
    digest: bytes | None
    signature: bytes


@dataclass(frozen=True)
class DssePart:
    """A ``dsseEnvelope``: payload type, payload bytes and the signatures."""

    payload_type: str
    payload: bytes
    signatures: tuple[bytes, ...]


@dataclass(frozen=True)
class KeyBundle:
    """The parts of a parsed bundle the key-mode verifier reads."""

    has_public_key: bool
    hint: str | None
    message: MessagePart | None
    dsse: DssePart | None


class MalformedBundle(Exception):
    """`sigstore_models` refused the bundle (the message is the library's)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def dump(hint: str, *, message: MessagePart | None = None, dsse: DssePart | None = None) -> str:
    """A key-mode v0.3 bundle's JSON, byte for byte as `sigstore_models` serialises it."""
    doc: dict[str, Any] = {
        "mediaType": MEDIA_TYPE_V03,
        "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
    }
    if message is not None:
        part: dict[str, Any] = {}
        if message.digest is not None:
            part["messageDigest"] = {"algorithm": message.algorithm, "digest": _b64(message.digest)}
        part["signature"] = _b64(message.signature)
        doc["messageSignature"] = part
    if dsse is not None:
        doc["dsseEnvelope"] = {
            "payload": _b64(dsse.payload),
            "payloadType": dsse.payload_type,
            "signatures": [{"sig": _b64(s), "keyid": ""} for s in dsse.signatures],
        }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _canonical_b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if _b64(raw) == value else None


def _keys(obj: Any, required: set[str], optional: frozenset[str] = frozenset()) -> bool:
    return isinstance(obj, dict) and required <= obj.keys() <= required | optional


def _fast(doc: dict[str, Any]) -> KeyBundle | None:
    """The canonical key-mode shape, or None (anything else goes to the library)."""
    body = {"messageSignature", "dsseEnvelope"} & doc.keys()
    if len(body) != 1 or not _keys(doc, {"mediaType", "verificationMaterial", *body}):
        return None
    if doc["mediaType"] not in V03_TYPES:
        return None
    vm = doc["verificationMaterial"]
    if not _keys(vm, {"publicKey", "tlogEntries"}) or vm["tlogEntries"] != []:
        return None
    pk = vm["publicKey"]
    if not _keys(pk, {"hint"}) or not (pk["hint"] is None or isinstance(pk["hint"], str)):
        return None
    if "messageSignature" in body:
        ms = doc["messageSignature"]
        if not _keys(ms, {"signature"}, frozenset({"messageDigest"})):
            return None
        signature = _canonical_b64(ms["signature"])
        algorithm, digest = None, None
        if "messageDigest" in ms:
            md = ms["messageDigest"]
            if not _keys(md, {"algorithm", "digest"}) or md["algorithm"] != "SHA2_256":
                return None
            algorithm, digest = "SHA2_256", _canonical_b64(md["digest"])
            if digest is None:
                return None
        if signature is None:
            return None
        return KeyBundle(True, pk["hint"], MessagePart(algorithm, digest, signature), None)
    env = doc["dsseEnvelope"]
    if not _keys(env, {"payload", "payloadType", "signatures"}) or not isinstance(env["payloadType"], str):
        return None
    payload = _canonical_b64(env["payload"])
    sigs = env["signatures"]
    if payload is None or type(sigs) is not list:
        return None
    out: list[bytes] = []
    for s in sigs:
        if not _keys(s, {"sig"}, frozenset({"keyid"})) or not isinstance(s.get("keyid", ""), str):
            return None
        sig = _canonical_b64(s["sig"])
        if sig is None:
            return None
        out.append(sig)
    return KeyBundle(True, pk["hint"], None, DssePart(env["payloadType"], payload, tuple(out)))


def _with_library(doc: dict[str, Any]) -> KeyBundle:
    from sigstore_models.bundle import v1 as bundle_v1

    try:
        bundle = bundle_v1.Bundle.from_json(json.dumps(doc))
    except Exception as exc:
        raise MalformedBundle(str(exc)) from None
    pk = bundle.verification_material.public_key
    ms = bundle.message_signature
    message = None
    if ms is not None:
        md = ms.message_digest
        message = MessagePart(
            md.algorithm.value if md is not None else None, md.digest if md is not None else None, ms.signature
        )
    env = bundle.dsse_envelope
    dsse = None
    if env is not None:
        dsse = DssePart(str(env.payload_type), bytes(env.payload), tuple(bytes(s.sig) for s in env.signatures))
    return KeyBundle(pk is not None, pk.hint if pk is not None else None, message, dsse)


def parse(doc: dict[str, Any], *, library: bool = False) -> KeyBundle:
    """Parse a (normalised) bundle document; `MalformedBundle` when the library refuses it.
    `library` forces the `sigstore_models` path (tests compare the two)."""
    fast = None if library else _fast(doc)
    return fast if fast is not None else _with_library(doc)
