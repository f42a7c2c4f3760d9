"""Attestations of an image: in-toto statements in DSSE envelopes, from cosign's legacy ``.att``
tag (``application/vnd.dsse.envelope.v1+json`` layers) or from bundle v0.3 referrers.

For each attestation a policy requires, at least one envelope of that predicate type must be
signed by a trusted key or identity and name the image digest as its subject; its statement is
then the ``input`` of the policy's Rego rules (``deny``/``violation`` fail, ``warn`` reports),
evaluated by the policy gate's engine with the same result semantics as ``policy lint``.
The image is admitted when one verified attestation of the type passes the rules.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from edgegate.admit.bundles import (
    Envelope,
    envelope_from_json,
    referrer_envelopes,
    statement_about,
    verify_envelope,
)
from edgegate.admit.cosign import (
    ATTESTATION_DENIED,
    MALFORMED,
    MAX_LAYERS,
    NO_ATTESTATION,
    AdmitFailure,
    att_tag,
    load_keys,
)
from edgegate.admit.oci import MAX_SIGNATURE_BLOB, ImageSource
from edgegate.findings import Severity

if TYPE_CHECKING:
    from edgegate.admit.policy import AttestationRule, ImagePolicy
    from edgegate.admit.verify import AdmitOptions, Resolved

DSSE_LAYER = "application/vnd.dsse.envelope.v1+json"

PolicyFinding = tuple[str, str, Severity, bool]
"""(rule id, message, severity, blocking)."""


def legacy_envelopes(source: ImageSource, res: Resolved) -> list[Envelope]:
    """The DSSE envelopes under the image's ``.att`` tag (none when the tag is absent)."""
    tag = att_tag(res.digest)
    m = source.manifest(res.ref, tag, missing_ok=True)
    if m is None:
        return []
    layers = m.doc.get("layers")
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise AdmitFailure(MALFORMED, f"attestation manifest {tag} has no layers list or too many layers")
    out = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or layer.get("mediaType") != DSSE_LAYER:
            continue
        size = layer.get("size")
        if isinstance(size, int) and size > MAX_SIGNATURE_BLOB:
            raise AdmitFailure(MALFORMED, f"{tag} layer {i}: envelope is {size} bytes (too large)")
        data = source.blob(res.ref, str(layer.get("digest")), MAX_SIGNATURE_BLOB)
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise AdmitFailure(MALFORMED, f"{tag} layer {i}: DSSE envelope is not JSON") from None
        out.append(envelope_from_json(doc, f"{tag} layer {i}"))
    return out


def _predicate_type(env: Envelope) -> str | None:
    try:
        doc = json.loads(env.payload)
    except (ValueError, UnicodeDecodeError):
        return None
    value = doc.get("predicateType") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def image_envelopes(source: ImageSource, res: Resolved, policy: ImagePolicy) -> tuple[list[Envelope], list[str]]:
    """Every DSSE envelope about the image: cosign's ``.att`` tag, bundle referrers and (with
    ``github-attestations``) GitHub's attestation API; and why some could not be used."""
    envelopes = legacy_envelopes(source, res) + referrer_envelopes(source, res)
    notes: list[str] = []
    if policy.github is not None:
        from edgegate.admit.github import github_envelopes

        found, unusable = github_envelopes(policy.github, res.digest)
        envelopes += found
        notes += unusable
    return envelopes, notes


def check_attestations(
    source: ImageSource,
    res: Resolved,
    policy: ImagePolicy,
    opts: AdmitOptions,
    found: tuple[list[Envelope], list[str]] | None = None,
) -> tuple[list[str], list[PolicyFinding]]:
    """Verify the attestations `policy` requires; return (what was verified, policy findings).
    A required attestation that is missing or does not verify raises `AdmitFailure`."""
    envelopes, notes = found if found is not None else image_envelopes(source, res, policy)
    return judge_attestations(envelopes, notes, res.digest, str(res.ref), policy, opts)


def verified_statements(
    envelopes: list[Envelope], predicate_types: tuple[str, ...], digest: str, policy: ImagePolicy, opts: AdmitOptions
) -> tuple[list[tuple[dict[str, Any], str, Envelope]], list[str]]:
    """The envelopes of `predicate_types` whose signature verifies (a trusted key or identity) and
    whose statement names `digest`: (statement, signer, envelope); and why the others failed."""
    keys = load_keys(list(policy.keys)) if policy.keys else []
    good: list[tuple[dict[str, Any], str, Envelope]] = []
    reasons: list[str] = []
    for env in envelopes:
        if _predicate_type(env) not in predicate_types:
            continue
        try:
            signer = verify_envelope(env, keys, policy.identities, opts)
            good.append((statement_about(env, digest), signer, env))
        except AdmitFailure as exc:
            reasons.append(exc.reason)
    return good, reasons


def judge_attestations(
    envelopes: list[Envelope],
    notes: list[str],
    digest: str,
    reference: str,
    policy: ImagePolicy,
    opts: AdmitOptions,
) -> tuple[list[str], list[PolicyFinding]]:
    """`check_attestations` over envelopes already read (`notes`: why some sources gave none)."""
    verified: list[str] = []
    findings: list[PolicyFinding] = []
    for rule in policy.attestations:
        good, reasons = verified_statements(envelopes, (rule.predicate_type,), digest, policy, opts)
        if not good:
            if reasons:
                why = f"does not verify: {reasons[0]}"
                raise AdmitFailure(NO_ATTESTATION, f"{rule.predicate_type} attestation {why}")
            why = f" ({'; '.join(notes)})" if notes else ""
            raise AdmitFailure(NO_ATTESTATION, f"no {rule.predicate_type} attestation{why}")
        if not rule.rules:
            verified.append(f"{rule.predicate_type} (signed by {good[0][1]})")
            continue
        outcomes = _evaluate(rule, [g[0] for g in good], digest, reference)
        passing = next((i for i, o in enumerate(outcomes) if not any(f[3] for f in o)), None)
        if passing is not None:
            verified.append(f"{rule.predicate_type} (signed by {good[passing][1]}, policy passed)")
            findings.extend(f for f in outcomes[passing] if not f[3])
        else:
            for o in outcomes:
                findings.extend(o)
    return verified, findings


def _evaluate(
    rule: AttestationRule, statements: list[dict[str, Any]], digest: str, reference: str
) -> list[list[PolicyFinding]]:
    """Each statement through the rule's Rego (the policy gate's engine)."""
    from edgegate.policy import engine
    from edgegate.policy.lint import package_results
    from edgegate.policy.modules import load_modules, resolve_rule_dir

    # (regopy's static refusals are the engine's to apply, for regopy only: OPA runs them as written)
    modules = load_modules([resolve_rule_dir(r) for r in rule.rules])
    data = {"edgegate": {"image": {"reference": reference, "digest": digest}}}
    evaluation = engine.evaluate(modules, statements, entrypoints=[rule.namespace.replace(".", "/")], data=data)
    out: list[list[PolicyFinding]] = [[] for _ in statements]
    for index, ep in evaluation.errors:
        from edgegate.errors import EngineError

        raise EngineError(f"Rego evaluation error in package {ep.replace('/', '.')} on attestation {index}")
    for index, per_ns in enumerate(evaluation.results):
        for ep, package_doc in per_ns.items():
            res_ = package_results(ep.replace("/", "."), package_doc)
            if res_.problems:
                from edgegate.errors import EngineError

                raise EngineError(res_.problems[0])
            for r in res_.results:
                blocking = r.kind != "warn"
                sev = Severity.HIGH if blocking else Severity.LOW
                if "severity" in r.meta:
                    try:
                        sev = Severity.parse(str(r.meta["severity"]))
                    except ValueError:
                        pass
                rid = str(r.meta.get("rule_id") or ATTESTATION_DENIED)
                out[index].append((rid, f"{rule.predicate_type}: {r.message}", sev, blocking))
    return out
