"""Verifying artifacts against their signatures: the library behind `edgegate verify` and the
``[verify]`` gate of `edgegate check`.

An artifact is a file (any blob: an SBOM, a wheel, a tarball), a model directory (model-signing
format) or a container image (its manifest digest). Trust comes from a public key (`key`) or an
identity policy (`policy`); one of them is required. A signature that does not hold is a failed
gate (exit 1, with the reason); a missing bundle or key file, or a bundle that is not JSON, is
an input error (exit 2).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from edgegate.errors import EdgegateError, InputError
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.sign import bundles
from edgegate.sign.bundles import RULE_TITLES, VerificationFailure
from edgegate.sign.keyless import IdentityPolicy

GATE = "verify"
KINDS = ("auto", "file", "model", "image")


@dataclass
class VerifyRequest:
    """One artifact to verify and what to trust."""

    path: Path
    bundle: Path
    key: Path | None = None
    policy: IdentityPolicy = field(default_factory=IdentityPolicy)
    kind: str = "auto"
    instance: str = "production"
    offline: bool = True
    allow_symlinks: bool = False
    shown: str | None = None
    """The path as the user wrote it (for reports)."""

    @property
    def display(self) -> str:
        return self.shown or str(self.path)


@dataclass(frozen=True)
class Verified:
    """A successful verification."""

    kind: str
    signer: str
    subject: str
    """The digest (or model root digest / file count) that was verified."""


def default_bundle(path: Path) -> Path:
    """The conventional bundle path: ``<path>.sigstore.json`` (``<dir>.sig`` for a directory)."""
    if path.name in ("", ".", ".."):  # `sign .`, `sign ..`: name the bundle after the real folder
        path = path.resolve()
    if not path.name:
        raise InputError("cannot derive a bundle name for the filesystem root: pass --bundle", path)
    if path.is_dir():
        return path.with_name(path.name + ".sig")
    return path.with_name(path.name + ".sigstore.json")


def resolve_kind(path: Path, kind: str) -> str:
    """`auto` → model (a directory) or file."""
    if kind not in KINDS:
        raise InputError(f"unknown artifact kind {kind!r} (expected one of: {', '.join(KINDS)})")
    if kind != "auto":
        return kind
    if not path.exists():
        raise InputError("no such file or directory", path)
    return "model" if path.is_dir() else "file"


def verify_one(req: VerifyRequest, *, progress: bool | None = None) -> Verified:
    """Verify one artifact; raise `VerificationFailure` (exit 1) or `EdgegateError` (exit 2)."""
    from edgegate.sign.hashing import sha256_file_checked
    from edgegate.sign.keys import load_public_key

    if req.key is None and not req.policy.is_set:
        raise InputError("an identity or key is required: --key, --identity/--issuer or --github-repository")
    if req.key is not None and req.policy.is_set:
        raise InputError("give either --key or an identity policy, not both")
    kind = resolve_kind(req.path, req.kind)
    if not req.path.exists():
        raise InputError("no such file or directory", req.path)
    key = load_public_key(req.key) if req.key is not None else None
    raw = bundles.read_bundle(req.bundle, model_root=req.path if kind == "model" and req.path.is_dir() else None)
    if key is not None and not raw.has_public_key:
        raise VerificationFailure(
            bundles.MALFORMED_BUNDLE,
            "bundle has a certificate, not a public key: verify it with --identity/--issuer",
        )
    if key is None and raw.has_public_key:
        raise VerificationFailure(
            bundles.MALFORMED_BUNDLE, "bundle was signed with a key, not an identity: verify it with --key"
        )
    signer = f"key {req.key}" if key is not None else req.policy.describe()

    if kind == "model":
        from edgegate.sign.model import verify_model

        if not req.path.is_dir():
            raise InputError("model artifact is not a directory", req.path)
        m = verify_model(
            req.path,
            raw,
            key=key,
            policy=None if key is not None else req.policy,
            instance=req.instance,
            offline=req.offline,
            allow_symlinks=req.allow_symlinks,
            progress=progress,
        )
        return Verified("model", signer, f"{len(m.digests)} files")

    if kind == "image":
        from edgegate.sign.image import image_digest

        img = image_digest(req.path)
        digest_hex = img.hex
        subject = f"{img.kind} {img.digest}"
    else:
        if req.path.is_dir():
            raise InputError("is a directory: verify it as a model (kind 'model')", req.path)
        digest_hex, _ = sha256_file_checked(req.path)
        subject = f"sha256:{digest_hex}"
    if raw.has_dsse:
        raise VerificationFailure(
            bundles.MALFORMED_BUNDLE,
            "bundle holds a DSSE envelope (a model-directory or attestation signature), "
            "not a signature over this file",
        )
    if key is not None:
        bundles.verify_digest_bundle(raw, key, digest_hex)
    else:
        from edgegate.sign.keyless import verify_file

        verify_file(raw, digest_hex, req.policy, instance=req.instance, offline=req.offline)
    return Verified(kind, signer, subject)


def _kind_for_report(req: VerifyRequest) -> str:
    try:
        return resolve_kind(req.path, req.kind)
    except EdgegateError:
        return req.kind


def verify_gate(
    requests: Iterable[VerifyRequest],
    *,
    raise_errors: bool = False,
    progress: bool | None = None,
) -> GateResult:
    """Verify every request into one `GateResult`: failures are findings, input errors are errors.

    With `raise_errors` the first `EdgegateError` propagates (the CLI turns it into one line).
    """
    findings: list[Finding] = []
    errors: list[str] = []
    rows: list[list[str]] = []
    started = time.perf_counter()
    count = 0
    for req in requests:
        count += 1
        shown_kind = _kind_for_report(req)
        try:
            ok = verify_one(req, progress=progress)
        except VerificationFailure as exc:
            findings.append(
                Finding(
                    gate=GATE,
                    rule_id=exc.rule_id,
                    severity=Severity.HIGH,
                    message=f"{req.display}: {exc.reason}",
                    location=Location(path=req.display),
                    title=RULE_TITLES.get(exc.rule_id),
                    details={"bundle": str(req.bundle), "reason": exc.reason},
                )
            )
            rows.append([req.display, shown_kind, "", "failed", ""])
        except EdgegateError as exc:
            if raise_errors:
                raise
            errors.append(str(exc))
            rows.append([req.display, shown_kind, "", "error", ""])
        else:
            # a verification is a row of the Signatures table, not a finding
            rows.append([req.display, ok.kind, ok.signer, "verified", ok.subject])
    if count == 0:
        errors.append("no artifact to verify")
    stats = {
        "artifacts": count,
        "verified": sum(1 for r in rows if r[3] == "verified"),
        "seconds": round(time.perf_counter() - started, 3),
        "tables": [{"title": "Signatures", "columns": ["artifact", "kind", "signer", "verdict", "subject"], "rows": rows}],
    }
    return GateResult.decide(GATE, findings, errors=errors, stats=stats)
