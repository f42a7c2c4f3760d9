"""Model directories in the OpenSSF model-signing format (model-signing 1.x).

The signature is a Sigstore bundle whose DSSE envelope holds an in-toto statement: one subject
(the model directory's name, digest = SHA-256 over the resources' digests in order), predicate
type ``https://model_signing/signature/v1.0``, ``predicate.serialization`` (``files``, sha256)
and ``predicate.resources`` (one ``{name, algorithm, digest}`` per file). The statement and
the manifest comparison follow model-signing (tests compare edgegate's statements, readers and bundles
with model-signing's own); edgegate adds the parallel hasher, the symlink policy and incremental
re-signing, and imports model-signing only for a statement outside the form it writes.

Incremental re-signing (`since`): the previous signature is verified with the same key, and
files whose size, mtime, ctime, inode and device are unchanged since that signing reuse its
verified digests. Those stat fields live in a side file ``<signature>.state.json`` bound to the
signature's SHA-256 (the signature format is untouched); without it everything is re-hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from edgegate.errors import InputError
from edgegate.io.files import read_bounded
from edgegate.sign import bundles
from edgegate.sign.bundles import (
    CONTENT_MISMATCH,
    IN_TOTO_PAYLOAD_TYPE,
    MALFORMED_BUNDLE,
    RawBundle,
    VerificationFailure,
)
from edgegate.sign.hashing import DEFAULT_IGNORE, FileEntry, hash_entries, walk_model

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from edgegate.sign.keyless import IdentityPolicy

PREDICATE_TYPE = "https://model_signing/signature/v1.0"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
STATE_SUFFIX = ".state.json"
STATE_VERSION = 1
RACY_WINDOW_NS = 50_000_000
"""A file modified this close to when it was stat'ed is re-hashed next time (mtime granularity)."""


@dataclass
class ModelManifest:
    """A verified (or freshly computed) model manifest: resource name → sha256 hex."""

    model_name: str
    digests: dict[str, str]
    serialization: dict[str, Any]

    @property
    def ignore_paths(self) -> list[str]:
        value = self.serialization.get("ignore_paths") or []
        return [str(v) for v in value]


@dataclass
class SignOutcome:
    """What a signing run did (for the report)."""

    signature: Path
    files: int = 0
    bytes_total: int = 0
    hashed_files: int = 0
    hashed_bytes: int = 0
    reused_files: int = 0
    seconds: float = 0.0
    state_file: Path | None = None
    notes: list[str] = field(default_factory=list)


def _model_name(root: Path) -> str:
    name = root.name
    if not name or name == "..":
        name = os.path.basename(root.resolve())
    return name


def ignore_list(root: Path, extra: Sequence[str | Path] = (), *, base: Sequence[str] = DEFAULT_IGNORE) -> list[str]:
    """Root-relative POSIX paths to leave out: `base` (git metadata), plus `extra` paths inside
    `root`."""
    out = list(base)
    real = root.resolve()
    for p in extra:
        full = Path(p).resolve()  # relative to the working directory, like every CLI path
        try:
            rel = full.relative_to(real).as_posix()
        except ValueError:
            continue
        if rel not in out and rel != ".":
            out.append(rel)
    return sorted(out)


def _resources(digests: dict[str, str]) -> list[tuple[str, str]]:
    """(name, digest) in model-signing's manifest order: keyed and sorted as POSIX paths (so
    ``a/b`` sorts before ``a-c``), one entry per normalised name (the last one wins)."""
    keyed = {PurePosixPath(name): digest for name, digest in digests.items()}
    return [(str(path), digest) for path, digest in sorted(keyed.items())]


def statement_payload(manifest: ModelManifest) -> bytes:
    """The in-toto statement JSON as model-signing's `Payload` writes it for this manifest.

    model-signing builds it as protobuf messages and prints them with ``json_format``; the
    predicate is a ``Struct``, whose key order the C protobuf backend randomises per process
    (the pure-Python backend keeps insertion order). This is the same document with the
    pure-Python backend's order, byte for byte (a test compares the two).
    """
    root = hashlib.sha256()
    resources = []
    for name, digest in _resources(manifest.digests):
        root.update(bytes.fromhex(digest))
        resources.append({"name": name, "algorithm": "sha256", "digest": digest})
    ser = manifest.serialization
    serialization: dict[str, Any] = {
        "method": "files",
        "hash_type": "sha256",
        "allow_symlinks": bool(ser.get("allow_symlinks", False)),
    }
    if ser.get("ignore_paths"):
        serialization["ignore_paths"] = [str(Path(p)) for p in ser["ignore_paths"]]
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": manifest.model_name, "digest": {"sha256": root.hexdigest()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"serialization": serialization, "resources": resources},
    }
    return json.dumps(statement, indent=2).encode("utf-8")


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _manifest_fast(doc: dict[str, Any]) -> ModelManifest | None:
    """A v1.0 ``files``/sha256 statement in the form model-signing writes, or None (then
    model-signing's own reader decides)."""
    subjects, predicate = doc.get("subject"), doc.get("predicate")
    if type(subjects) is not list or len(subjects) != 1 or not isinstance(predicate, dict):
        return None
    subject = subjects[0]
    if not isinstance(subject, dict) or not isinstance(subject.get("name"), str):
        return None
    digest = subject.get("digest")
    expected = digest.get("sha256") if isinstance(digest, dict) else None
    ser, resources = predicate.get("serialization"), predicate.get("resources")
    if not isinstance(ser, dict) or type(resources) is not list:
        return None
    ignore = ser.get("ignore_paths", [])
    if (
        ser.get("method") != "files"
        or ser.get("hash_type") != "sha256"
        or type(ser.get("allow_symlinks")) is not bool
        or type(ignore) is not list
        or not all(isinstance(p, str) for p in ignore)
    ):
        return None
    root = hashlib.sha256()
    digests: dict[str, str] = {}
    for r in resources:
        if not isinstance(r, dict) or r.get("algorithm") != "sha256":
            return None
        name, value = r.get("name"), r.get("digest")
        if not isinstance(name, str) or name in digests or str(PurePosixPath(name)) != name:
            return None  # model-signing normalises the path and keeps the last of duplicates
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            return None
        root.update(bytes.fromhex(value))
        digests[name] = value
    if root.hexdigest() != expected:
        return None  # inconsistent: model-signing's reader refuses it with its reason
    out: dict[str, Any] = {"method": "files", "hash_type": "sha256", "allow_symlinks": ser["allow_symlinks"]}
    if ignore:
        out["ignore_paths"] = list(ignore)
    return ModelManifest(subject["name"], dict(_resources(digests)), out)


def _manifest_with_library(doc: dict[str, Any]) -> ModelManifest:
    from model_signing._signing import signing as ms_signing

    try:
        m = ms_signing.dsse_payload_to_manifest(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VerificationFailure(MALFORMED_BUNDLE, f"model statement: {bundles.one_line(str(exc))}") from None
    digests = {rd.identifier: rd.digest.digest_hex for rd in m.resource_descriptors()}
    return ModelManifest(m.model_name, digests, dict(m.serialization_type))


def parse_statement(payload_type: str, payload: bytes, *, library: bool = False) -> ModelManifest:
    """Check a verified DSSE payload is a model-signing v1.0 statement; return its manifest.

    The statement in model-signing's own form is read here; anything else is read by
    model-signing (`library` forces that, for the tests comparing the two).
    """
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise VerificationFailure(MALFORMED_BUNDLE, f"DSSE payload type is {payload_type!r}, not in-toto")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise VerificationFailure(MALFORMED_BUNDLE, "DSSE payload is not JSON") from None
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE:
        raise VerificationFailure(MALFORMED_BUNDLE, "DSSE payload is not an in-toto v1 statement")
    if doc.get("predicateType") != PREDICATE_TYPE:
        raise VerificationFailure(
            MALFORMED_BUNDLE,
            f"predicate type is {doc.get('predicateType')!r}, expected {PREDICATE_TYPE}",
        )
    m = None if library else _manifest_fast(doc)
    if m is None:
        m = _manifest_with_library(doc)
    ser = m.serialization
    if ser.get("method") != "files" or ser.get("hash_type") != "sha256":
        raise InputError(
            f"unsupported model-signing serialization {ser.get('method')}/{ser.get('hash_type')} "
            "(edgegate verifies 'files' with sha256)"
        )
    return m


def compute_manifest(
    root: Path,
    *,
    allow_symlinks: bool,
    ignore: Sequence[str],
    progress: bool | None = None,
    workers: int | None = None,
) -> tuple[ModelManifest, list[FileEntry]]:
    """Hash every file of `root` (in parallel) into a manifest."""
    entries = walk_model(root, allow_symlinks=allow_symlinks, ignore=ignore)
    digests = hash_entries(entries, progress=progress, workers=workers, label=f"hashing {root.name}")
    return _manifest(root, digests, allow_symlinks, ignore), entries


def _manifest(root: Path, digests: dict[str, str], allow_symlinks: bool, ignore: Sequence[str]) -> ModelManifest:
    ser: dict[str, Any] = {"method": "files", "hash_type": "sha256", "allow_symlinks": allow_symlinks}
    if ignore:
        ser["ignore_paths"] = sorted(ignore)
    return ModelManifest(_model_name(root), dict(sorted(digests.items())), ser)


def compare(expected: ModelManifest, actual: dict[str, str]) -> list[str]:
    """Differences between a signed manifest and the directory's digests (empty when equal)."""
    diffs: list[str] = []
    added = sorted(set(actual) - set(expected.digests))
    removed = sorted(set(expected.digests) - set(actual))
    changed = sorted(n for n in set(actual) & set(expected.digests) if actual[n] != expected.digests[n])
    if changed:
        diffs.append("changed: " + ", ".join(changed))
    if added:
        diffs.append("not in the signature: " + ", ".join(added))
    if removed:
        diffs.append("missing: " + ", ".join(removed))
    return diffs


def verify_signature(
    raw: RawBundle,
    *,
    key: ec.EllipticCurvePublicKey | None = None,
    policy: IdentityPolicy | None = None,
    instance: str = "production",
    offline: bool = True,
) -> ModelManifest:
    """Verify a model signature's bundle (key or identity) and return its manifest."""
    if not raw.has_dsse:
        raise VerificationFailure(
            MALFORMED_BUNDLE, "bundle has no DSSE envelope: it is not a model-directory signature"
        )
    if key is not None:
        ptype, payload = bundles.verify_dsse_bundle(raw, key)
    elif policy is not None:
        from edgegate.sign import keyless

        ptype, payload = keyless.verify_dsse(raw, policy, instance=instance, offline=offline)
    else:
        raise InputError("an identity or key is required to verify")
    return parse_statement(ptype, payload)


def verify_model(
    root: Path,
    raw: RawBundle,
    *,
    key: ec.EllipticCurvePublicKey | None = None,
    policy: IdentityPolicy | None = None,
    instance: str = "production",
    offline: bool = True,
    allow_symlinks: bool = False,
    progress: bool | None = None,
) -> ModelManifest:
    """Verify the signature, then the directory against it (every file, nothing added/removed)."""
    expected = verify_signature(raw, key=key, policy=policy, instance=instance, offline=offline)
    # what the signature says was left out (a signature made with model-signing's
    # --no-ignore-git-paths lists .git files), and the bundle itself when it is inside the model
    # (as model-signing's verify does)
    ignore = ignore_list(root, [raw.path], base=expected.ignore_paths)
    entries = walk_model(root, allow_symlinks=allow_symlinks, ignore=ignore)
    actual = hash_entries(entries, progress=progress, label=f"verifying {root.name}")
    diffs = compare(expected, actual)
    if diffs:
        raise VerificationFailure(CONTENT_MISMATCH, "model does not match its signature: " + "; ".join(diffs))
    return expected


# --- signing ---------------------------------------------------------------------------------


def sign_manifest_with_key(manifest: ModelManifest, key: ec.EllipticCurvePrivateKey) -> str:
    """The model-signing bundle JSON for `manifest`, signed with `key` as model-signing's
    elliptic-key signer signs it (DSSE over the statement, the key's hint, no log entry)."""
    return bundles.sign_dsse_bundle(key, IN_TOTO_PAYLOAD_TYPE, statement_payload(manifest))


def _state_path(signature: Path) -> Path:
    return signature.with_name(signature.name + STATE_SUFFIX)


def _write_state(signature: Path, root: Path, entries: list[FileEntry], stat_time_ns: int) -> Path:
    sig_digest = hashlib.sha256(signature.read_bytes()).hexdigest()
    files = {}
    for e in entries:
        racy = max(e.mtime_ns, e.ctime_ns) >= stat_time_ns - RACY_WINDOW_NS
        if not racy:
            files[e.name] = e.state()
    state = {
        "edgegate_state_version": STATE_VERSION,
        "signature_sha256": sig_digest,
        "root": str(root.resolve()),
        "files": files,
    }
    path = _state_path(signature)
    _write_atomic(path, json.dumps(state, sort_keys=True, separators=(",", ":")))
    return path


def _read_state(signature: Path, sig_bytes: bytes, root: Path) -> dict[str, dict[str, int]] | None:
    path = _state_path(signature)
    if not path.is_file():
        return None
    try:
        state = json.loads(read_bounded(path, 256 * 1024 * 1024))
    except (InputError, ValueError):
        return None
    if (
        not isinstance(state, dict)
        or state.get("edgegate_state_version") != STATE_VERSION
        or state.get("signature_sha256") != hashlib.sha256(sig_bytes).hexdigest()
        or state.get("root") != str(root.resolve())
        or not isinstance(state.get("files"), dict)
    ):
        return None
    files: dict[str, dict[str, int]] = state["files"]
    return files


def sign_model(
    root: Path,
    out: Path,
    *,
    key: ec.EllipticCurvePrivateKey | None = None,
    keyless_token: Any = None,
    instance: str = "production",
    allow_symlinks: bool = False,
    since: Path | None = None,
    progress: bool | None = None,
    workers: int | None = None,
) -> SignOutcome:
    """Sign model directory `root` into bundle `out` (key mode, or keyless with a token)."""
    started = time.perf_counter()
    ignore = ignore_list(root, [out, _state_path(out)])
    stat_time_ns = time.time_ns()
    entries = walk_model(root, allow_symlinks=allow_symlinks, ignore=ignore)
    outcome = SignOutcome(signature=out, files=len(entries), bytes_total=sum(e.size for e in entries))

    reuse: dict[str, str] = {}
    if since is not None:
        if key is None:
            raise InputError("--since needs key mode (--key): the old signature is verified with its public part")
        reuse = _reusable_digests(root, since, key, entries, allow_symlinks, outcome)

    todo = [e for e in entries if e.name not in reuse]
    digests = hash_entries(todo, progress=progress, workers=workers, label=f"hashing {root.name}")
    digests.update(reuse)
    outcome.hashed_files = len(todo)
    outcome.hashed_bytes = sum(e.size for e in todo)
    outcome.reused_files = len(reuse)
    manifest = _manifest(root, digests, allow_symlinks, ignore)

    if key is not None:
        text = sign_manifest_with_key(manifest, key)
    else:
        from edgegate.sign import keyless

        text = keyless.sign_keyless_statement(statement_payload(manifest), keyless_token, instance)
    _write_atomic(out, text)
    if key is not None:
        outcome.state_file = _write_state(out, root, entries, stat_time_ns)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _reusable_digests(
    root: Path,
    since: Path,
    key: ec.EllipticCurvePrivateKey,
    entries: list[FileEntry],
    allow_symlinks: bool,
    outcome: SignOutcome,
) -> dict[str, str]:
    raw = bundles.read_bundle(since, model_root=root)
    try:
        old = verify_signature(raw, key=key.public_key())
    except VerificationFailure as exc:
        raise InputError(f"--since: the old signature does not verify with this key: {exc.reason}", since) from None
    state = _read_state(since, raw.data, root)
    if state is None:
        outcome.notes.append(f"no usable {since.name}{STATE_SUFFIX}: every file re-hashed")
        return {}
    if bool(old.serialization.get("allow_symlinks", False)) != allow_symlinks:
        outcome.notes.append("symlink setting changed: every file re-hashed")
        return {}
    reuse: dict[str, str] = {}
    for e in entries:
        recorded = state.get(e.name)
        digest = old.digests.get(e.name)
        if digest is not None and recorded == e.state():
            reuse[e.name] = digest
    return reuse


def _write_atomic(path: Path, text: str) -> None:
    from edgegate.io.output import write_output

    write_output(path, text, "the signature")
