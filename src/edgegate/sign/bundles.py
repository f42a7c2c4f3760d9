"""Sigstore bundles (v0.3 JSON) in key-pair mode: a public-key hint, no certificate, no log entry.

A file's bundle carries a ``messageSignature``: an ECDSA signature over the file's SHA-256 digest
(the same construction as a keyless hashedrekord signature, so the file is streamed, never held in
memory). A model directory's bundle carries a DSSE envelope (built by `edgegate.sign.model`).
Key-mode bundles are written and read by `edgegate.sign._key_bundle` in the exact form of
`sigstore_models` (the schema sigstore-python and model-signing use), which it imports only for
a bundle outside that canonical form.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgegate.errors import InputError
from edgegate.io.files import human_size, open_input
from edgegate.io.parse import loads_json
from edgegate.sign import _key_bundle
from edgegate.sign.keys import ecdsa_hash, key_hint

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

MEDIA_TYPE_V03 = _key_bundle.MEDIA_TYPE_V03
_V03_TYPES = _key_bundle.V03_TYPES
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_BUNDLE_BYTES = 16 * 1024 * 1024


class VerificationFailure(Exception):
    """The signature does not hold: the gate fails (exit 1) with `reason`."""

    def __init__(self, rule_id: str, reason: str) -> None:
        super().__init__(reason)
        self.rule_id = rule_id
        self.reason = reason


# Rule ids of verification failures.
BAD_SIGNATURE = "EGS001"
DIGEST_MISMATCH = "EGS002"
POLICY_MISMATCH = "EGS003"
MALFORMED_BUNDLE = "EGS004"
UNTRUSTED = "EGS005"
CONTENT_MISMATCH = "EGS006"
KEY_MISMATCH = "EGS007"

RULE_TITLES = {
    BAD_SIGNATURE: "signature does not verify",
    DIGEST_MISMATCH: "artifact digest does not match the bundle",
    POLICY_MISMATCH: "signer identity does not match the policy",
    MALFORMED_BUNDLE: "malformed or inconsistent bundle",
    UNTRUSTED: "signing certificate or log entry not trusted",
    CONTENT_MISMATCH: "model directory does not match its signature",
    KEY_MISMATCH: "bundle was not made with this key",
}


@dataclass(frozen=True)
class RawBundle:
    """A bundle file read and parsed as JSON (not yet verified)."""

    path: Path
    data: bytes
    document: dict[str, Any]

    @property
    def has_public_key(self) -> bool:
        vm = self.document.get("verificationMaterial")
        return isinstance(vm, dict) and "publicKey" in vm

    @property
    def has_dsse(self) -> bool:
        return "dsseEnvelope" in self.document


MAX_PADDING = 256 * 1024 * 1024
"""Whitespace read (and dropped) beyond a bundle's size limit before it is refused."""

_WS = b" \t\r\n"


def model_bundle_limit(root: Path) -> tuple[int, int]:
    """(byte limit, files) for a model directory's signature: `MAX_BUNDLE_BYTES` plus what edgegate
    writes per file at most (a resource entry of ~150 bytes of JSON plus the path, every path byte
    a 6-byte JSON escape in the worst case, base64 on top: 256 + 8 bytes per path byte).

    Every file under `root` counts (ignored ones too: an upper bound); nothing is stat'ed.
    """
    files = 0
    extra = 0
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            with os.scandir(folder) as it:
                for child in it:
                    try:
                        is_dir = child.is_dir(follow_symlinks=False)
                    except OSError:
                        is_dir = False
                    if is_dir and depth < 64:
                        stack.append((Path(child.path), depth + 1))
                    else:
                        files += 1
                        rel = len(os.fsencode(child.path)) - len(os.fsencode(str(root)))
                        extra += 256 + 8 * max(rel, 1)
        except OSError:
            continue
    return MAX_BUNDLE_BYTES + extra, files


def _read_json_bytes(path: Path, limit: int, why: str) -> bytes:
    """A JSON file's bytes within `limit`; leading and trailing whitespace does not count (it is
    read, up to `MAX_PADDING`, and dropped)."""
    data = bytearray()
    total = 0
    try:
        with open_input(path) as fh:  # the one place a bundle file is opened (regular files only)
            while True:
                chunk = fh.read(1024 * 1024)
                if not chunk:
                    break
                total += len(chunk)
                if not data:
                    chunk = chunk.lstrip(_WS)
                room = limit - len(data)
                if len(chunk) > room:
                    if chunk[room:].strip(_WS) or total > limit + MAX_PADDING:
                        raise InputError(f"bundle is larger than {human_size(limit)}{why}", path)
                    chunk = chunk[:room]
                data += chunk
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    return bytes(data)


def read_bundle(path: str | Path, *, model_root: Path | None = None) -> RawBundle:
    """Read a bundle file: missing/unreadable/not JSON/not an object → `InputError` (exit 2).

    The size limit is `MAX_BUNDLE_BYTES`, or for the signature of model directory `model_root`
    as much as edgegate writes for the files in it (`model_bundle_limit`).
    """
    p = Path(path)
    limit, why = MAX_BUNDLE_BYTES, ""
    if model_root is not None:
        limit, files = model_bundle_limit(model_root)
        why = f" (the most a signature of the {files} files under {model_root} takes)"
    data = _read_json_bytes(p, limit, why)
    try:
        doc = loads_json(data, p)
    except InputError as exc:  # also 10,000-deep nesting and 100,000-digit numbers
        raise InputError(f"bundle is not JSON ({exc.message})", p, exc.line) from None
    if not isinstance(doc, dict):
        raise InputError("bundle is not a JSON object", p)
    return RawBundle(p, data, doc)


def one_line(text: str, limit: int = 300) -> str:
    """Collapse a (possibly multi-line) library message into one short line."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _parse_key_bundle(raw: RawBundle) -> _key_bundle.KeyBundle:
    media = raw.document.get("mediaType")
    if media not in _V03_TYPES:
        raise VerificationFailure(MALFORMED_BUNDLE, f"unsupported bundle media type {media!r}")
    doc = dict(raw.document)
    vm = doc.get("verificationMaterial")
    if isinstance(vm, dict):
        vm = dict(vm)
        # Older model-signing key bundles omit the (empty) log list and the hint; the model
        # requires both fields (as model-signing's own reader fills them in).
        vm.setdefault("tlogEntries", [])
        pk = vm.get("publicKey")
        if isinstance(pk, dict):
            vm["publicKey"] = {"hint": pk.get("hint")}
        doc["verificationMaterial"] = vm
    try:
        return _key_bundle.parse(doc)
    except _key_bundle.MalformedBundle as exc:
        raise VerificationFailure(MALFORMED_BUNDLE, f"malformed bundle: {one_line(str(exc))}") from None


def _check_hint(bundle: _key_bundle.KeyBundle, key: ec.EllipticCurvePublicKey) -> None:
    if not bundle.has_public_key:
        raise VerificationFailure(
            MALFORMED_BUNDLE, "bundle has a certificate, not a public key: verify with --identity/--issuer"
        )
    if bundle.hint and bundle.hint != key_hint(key):
        raise VerificationFailure(KEY_MISMATCH, "bundle's public-key hint does not match the given key")


def sign_digest_bundle(key: ec.EllipticCurvePrivateKey, sha256_hex: str) -> str:
    """A v0.3 bundle (JSON) with a message signature over a SHA-256 digest, and the key's hint."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    digest = bytes.fromhex(sha256_hex)
    signature = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    message = _key_bundle.MessagePart("SHA2_256", digest, signature)
    return _key_bundle.dump(key_hint(key.public_key()), message=message)


def sign_dsse_bundle(key: ec.EllipticCurvePrivateKey, payload_type: str, payload: bytes) -> str:
    """A v0.3 bundle (JSON) with a DSSE envelope over `payload`, signed as model-signing's
    elliptic-key signer does (ECDSA over the PAE, the curve's hash, an empty key id)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    signature = key.sign(pae(payload_type, payload), ec.ECDSA(_hash_for(key)))
    dsse = _key_bundle.DssePart(payload_type, payload, (signature,))
    return _key_bundle.dump(key_hint(key.public_key()), dsse=dsse)


def _hash_for(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> Any:
    from cryptography.hazmat.primitives import hashes

    return {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[ecdsa_hash(key)]


def verify_digest_bundle(raw: RawBundle, key: ec.EllipticCurvePublicKey, sha256_hex: str) -> None:
    """Verify a key-mode message-signature bundle against a file's SHA-256; raise `VerificationFailure`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    bundle = _parse_key_bundle(raw)
    _check_hint(bundle, key)
    ms = bundle.message
    if ms is None:
        raise VerificationFailure(
            MALFORMED_BUNDLE, "bundle holds a DSSE envelope, not a message signature over a file"
        )
    digest = bytes.fromhex(sha256_hex)
    if ms.digest is not None:
        if ms.algorithm != "SHA2_256":
            raise VerificationFailure(MALFORMED_BUNDLE, f"unsupported message digest algorithm {ms.algorithm}")
        if ms.digest != digest:
            raise VerificationFailure(
                DIGEST_MISMATCH,
                "bundle message digest mismatch: the file changed or the bundle is for another artifact",
            )
    try:
        key.verify(ms.signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except InvalidSignature:
        raise VerificationFailure(BAD_SIGNATURE, "signature is invalid for this file and key") from None


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    head = f"DSSEv1 {len(payload_type)} {payload_type} {len(payload)} ".encode()
    return head + payload


def verify_dsse_bundle(raw: RawBundle, key: ec.EllipticCurvePublicKey) -> tuple[str, bytes]:
    """Verify a key-mode DSSE bundle's signature; return (payload type, payload bytes)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    bundle = _parse_key_bundle(raw)
    _check_hint(bundle, key)
    env = bundle.dsse
    if env is None:
        raise VerificationFailure(MALFORMED_BUNDLE, "bundle holds a message signature, not a DSSE envelope")
    if len(env.signatures) != 1:
        raise VerificationFailure(MALFORMED_BUNDLE, f"expected one DSSE signature, found {len(env.signatures)}")
    try:
        key.verify(env.signatures[0], pae(env.payload_type, env.payload), ec.ECDSA(_hash_for(key)))
    except InvalidSignature:
        raise VerificationFailure(BAD_SIGNATURE, "DSSE signature is invalid for this key") from None
    return env.payload_type, env.payload
