"""Keyless Sigstore: verifying certificate bundles against an identity policy, and signing with
an OIDC identity (ambient credentials in CI) through Fulcio and Rekor, via sigstore-python.

Verification is offline by default: the production and staging trust roots embedded in
sigstore-python are used without a TUF refresh. A bundle carries its own inclusion proof and
signed checkpoint, so nothing else is needed; ``offline=False`` refreshes the trust root first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgegate.errors import EngineError, InputError
from edgegate.sign.bundles import (
    BAD_SIGNATURE,
    DIGEST_MISMATCH,
    MALFORMED_BUNDLE,
    POLICY_MISMATCH,
    UNTRUSTED,
    RawBundle,
    VerificationFailure,
    one_line,
)

if TYPE_CHECKING:
    from sigstore.verify.verifier import Verifier

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
INSTANCES = ("production", "staging")


@dataclass(frozen=True)
class IdentityPolicy:
    """Who must have signed: an identity and issuer, and/or GitHub Actions workflow claims."""

    identity: str | None = None
    issuer: str | None = None
    github_repository: str | None = None
    github_ref: str | None = None
    github_workflow: str | None = None
    github_trigger: str | None = None
    github_sha: str | None = None

    @classmethod
    def from_config(cls, table: Mapping[str, Any]) -> IdentityPolicy:
        """The policy from a config table's kebab-case keys (``identity``, ``github-repository`` …)."""
        return cls(
            identity=table.get("identity"),
            issuer=table.get("issuer"),
            github_repository=table.get("github-repository"),
            github_ref=table.get("github-ref"),
            github_workflow=table.get("github-workflow"),
            github_trigger=table.get("github-trigger"),
            github_sha=table.get("github-sha"),
        )

    @property
    def is_set(self) -> bool:
        return bool(self.identity or self.github_repository)

    def describe(self) -> str:
        parts = []
        if self.identity:
            parts.append(f"identity {self.identity} from {self.issuer}")
        if self.github_repository:
            gh = f"GitHub repository {self.github_repository}"
            if self.github_ref:
                gh += f" at {self.github_ref}"
            parts.append(gh)
        return "; ".join(parts)

    def build(self) -> Any:
        """The sigstore-python policy. Never `UnsafeNoOp`: an empty policy is an `InputError`."""
        from sigstore.verify import policy as p

        if not self.is_set:
            raise InputError(
                "an identity is required: --identity with --issuer, or --github-repository (or --key)"
            )
        children: list[Any] = []
        if self.identity:
            if not self.issuer:
                raise InputError("--identity needs --issuer (the OIDC issuer URL)")
            children.append(p.Identity(identity=self.identity, issuer=self.issuer))
        elif self.issuer:
            children.append(p.OIDCIssuer(self.issuer))
        if self.github_repository:
            if not self.identity and not self.issuer:
                children.append(p.OIDCIssuer(GITHUB_ISSUER))
            children.append(p.GitHubWorkflowRepository(self.github_repository))
            if self.github_ref:
                children.append(p.GitHubWorkflowRef(self.github_ref))
            if self.github_workflow:
                children.append(p.GitHubWorkflowName(self.github_workflow))
            if self.github_trigger:
                children.append(p.GitHubWorkflowTrigger(self.github_trigger))
            if self.github_sha:
                children.append(p.GitHubWorkflowSHA(self.github_sha))
        elif self.github_ref or self.github_workflow or self.github_trigger or self.github_sha:
            raise InputError("--github-ref/--github-workflow/... need --github-repository")
        return p.AllOf(children)


def _quiet() -> None:
    # sigstore logs "TUF repository is loaded in offline mode" at WARNING on every verifier.
    logging.getLogger("sigstore").setLevel(logging.ERROR)


def verifier(instance: str = "production", *, offline: bool = True) -> Verifier:
    """A sigstore-python verifier for `instance` (production or staging)."""
    _quiet()
    from sigstore.verify import Verifier

    if instance not in INSTANCES:
        raise InputError(f"unknown Sigstore instance {instance!r} (expected production or staging)")
    try:
        if instance == "staging":
            return Verifier.staging(offline=offline)
        return Verifier.production(offline=offline)
    except Exception as exc:
        raise EngineError(f"cannot load the Sigstore {instance} trust root: {one_line(str(exc))}") from None


def _load(raw: RawBundle) -> Any:
    from sigstore.models import Bundle, InvalidBundle

    media = raw.document.get("mediaType")
    known = [t.value for t in Bundle.BundleType]
    if media not in known:
        raise VerificationFailure(MALFORMED_BUNDLE, f"unknown bundle media type {str(media)[:80]!r}")
    try:
        return Bundle.from_json(raw.data)
    except InvalidBundle as exc:
        raise VerificationFailure(MALFORMED_BUNDLE, f"invalid bundle: {_first_line(str(exc))}") from None
    except Exception as exc:
        raise VerificationFailure(
            MALFORMED_BUNDLE, f"invalid bundle: {type(exc).__name__}: {_first_line(str(exc))}"
        ) from None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "unknown error"
    # pydantic: "1 validation error for Bundle / mediaType / Input should be ..."
    if len(lines) >= 3 and "validation error" in lines[0]:
        return one_line(f"{lines[0]}: {lines[1]}: {lines[2]}")
    return one_line(lines[0])


def _classify(exc: Exception) -> VerificationFailure:
    from sigstore.errors import CertValidationError

    msg = one_line(str(exc))
    low = msg.lower()
    if "digest mismatch" in low:
        return VerificationFailure(
            DIGEST_MISMATCH, f"{msg}: the artifact changed or the bundle is for another artifact"
        )
    if low.startswith("certificate's") or "does not contain" in low:
        return VerificationFailure(POLICY_MISMATCH, msg)
    if isinstance(exc, CertValidationError) or "sct" in low or "verified time" in low:
        return VerificationFailure(UNTRUSTED, f"{msg} (wrong Sigstore instance, or an unknown trust root?)")
    if "signature is invalid" in low or "invalid signature" in low:
        return VerificationFailure(BAD_SIGNATURE, msg)
    return VerificationFailure(MALFORMED_BUNDLE, msg)


def verify_file(
    raw: RawBundle,
    sha256_hex: str,
    policy: IdentityPolicy,
    *,
    instance: str = "production",
    offline: bool = True,
) -> str:
    """Verify a certificate bundle over a file's digest; return the signer's description."""
    from sigstore.errors import VerificationError
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    built = policy.build()
    bundle = _load(raw)
    v = verifier(instance, offline=offline)
    try:
        v.verify_artifact(
            Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(sha256_hex)), bundle, built
        )
    except VerificationError as exc:
        raise _classify(exc) from None
    except ValueError as exc:  # malformed pieces surface as ValueError from cryptography/pydantic
        raise VerificationFailure(MALFORMED_BUNDLE, one_line(str(exc))) from None
    return policy.describe()


def verify_dsse(
    raw: RawBundle,
    policy: IdentityPolicy,
    *,
    instance: str = "production",
    offline: bool = True,
) -> tuple[str, bytes]:
    """Verify a certificate bundle's DSSE envelope; return (payload type, payload)."""
    from sigstore.errors import VerificationError

    built = policy.build()
    bundle = _load(raw)
    v = verifier(instance, offline=offline)
    try:
        ptype, payload = v.verify_dsse(bundle, built)
    except VerificationError as exc:
        raise _classify(exc) from None
    except ValueError as exc:
        raise VerificationFailure(MALFORMED_BUNDLE, one_line(str(exc))) from None
    return str(ptype), bytes(payload)


# --- keyless signing -------------------------------------------------------------------------


def identity_token(token: str | None = None, *, instance: str = "production", interactive: bool = False) -> Any:
    """An OIDC identity token: `token` if given, else the ambient credential (GitHub Actions,
    GitLab, Buildkite, CircleCI, Google Cloud), else — with `interactive` — the browser flow of
    the instance's OIDC issuer. No credential or a malformed one → `InputError`.

    Only the interactive flow talks to the network here; Fulcio and Rekor come later.
    """
    _quiet()
    from sigstore.oidc import IdentityError, IdentityToken, detect_credential

    if token is None:
        try:
            detected = detect_credential()
        except IdentityError as exc:
            raise InputError(f"ambient OIDC credential detection failed: {_first_line(str(exc))}") from None
        if detected is None and interactive:
            return _interactive_token(instance)
        if detected is None:
            raise InputError(
                "--keyless needs an OIDC identity: no ambient credential found (in GitHub Actions "
                "grant 'permissions: id-token: write'; elsewhere pass --identity-token, run in a "
                "terminal for the browser sign-in, or use --key)"
            )
        token = detected
    try:
        return IdentityToken(token)
    except IdentityError as exc:
        raise InputError(f"the OIDC identity token is not usable: {_first_line(str(exc))}") from None
    except Exception as exc:
        raise InputError(f"the OIDC identity token is malformed: {type(exc).__name__}") from None


def _interactive_token(instance: str) -> Any:
    """The browser (or out-of-band code) sign-in at the instance's OIDC issuer."""
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import Issuer

    try:
        config = ClientTrustConfig.staging() if instance == "staging" else ClientTrustConfig.production()
        issuer = Issuer(config.signing_config.get_oidc_url())
        return issuer.identity_token()
    except Exception as exc:
        raise EngineError(f"interactive OIDC sign-in failed: {one_line(str(exc))}") from None


def signing_context(instance: str = "production") -> Any:
    """A sigstore-python signing context for `instance` (fetches its trust config: network)."""
    _quiet()
    from sigstore.models import ClientTrustConfig
    from sigstore.sign import SigningContext

    if instance not in INSTANCES:
        raise InputError(f"unknown Sigstore instance {instance!r} (expected production or staging)")
    try:
        config = ClientTrustConfig.staging() if instance == "staging" else ClientTrustConfig.production()
        return SigningContext.from_trust_config(config)
    except Exception as exc:
        raise EngineError(f"cannot reach the Sigstore {instance} instance: {one_line(str(exc))}") from None


def sign_keyless_digest(sha256_hex: str, token: Any, instance: str = "production") -> str:
    """Sign a file digest keylessly (Fulcio certificate + Rekor entry); return the bundle JSON."""
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    ctx = signing_context(instance)
    try:
        with ctx.signer(token, cache=False) as signer:
            bundle = signer.sign_artifact(
                Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(sha256_hex))
            )
    except Exception as exc:
        raise EngineError(f"keyless signing failed: {one_line(str(exc))}") from None
    text: str = bundle.to_json()
    return text


def sign_keyless_statement(statement_json: bytes, token: Any, instance: str = "production") -> str:
    """Sign an in-toto statement keylessly into a DSSE bundle; return the bundle JSON."""
    from sigstore import dsse

    try:
        stmt = dsse.Statement(statement_json)
    except Exception as exc:
        raise EngineError(f"the model statement is not a valid in-toto statement: {one_line(str(exc))}") from None
    ctx = signing_context(instance)
    try:
        with ctx.signer(token, cache=False) as signer:
            bundle = signer.sign_dsse(stmt)
    except Exception as exc:
        raise EngineError(f"keyless signing failed: {one_line(str(exc))}") from None
    text: str = bundle.to_json()
    return text
