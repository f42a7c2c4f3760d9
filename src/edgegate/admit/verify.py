"""`edgegate admit`: every image the manifests name, resolved to its digest and verified.

Each distinct reference is resolved once and each (digest, policy) verified once per run, in
parallel with a bound (`AdmitOptions.jobs`); the verdict is reported on every manifest line that
names the image. An image that cannot be checked (unreachable registry, 401/403/404, a malformed
manifest) is a gate error naming the image and line, never a pass.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgegate.admit import cosign
from edgegate.admit.cosign import AdmitFailure
from edgegate.admit.oci import ImageSource, Manifest
from edgegate.admit.policy import ImagePolicy, select
from edgegate.admit.refs import ImageUse, collect_images, load_manifest_documents
from edgegate.errors import EdgegateError, InputError
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.sbom.registry import Reference, parse_reference

GATE = "admit"


@dataclass
class AdmitOptions:
    """What `admit` needs beyond the manifest paths."""

    policies: Sequence[ImagePolicy] = ()
    insecure: bool = False
    mirrors: dict[str, str] = field(default_factory=dict)
    oci_dir: Path | None = None
    platform: str = "linux/amd64"
    jobs: int = 8
    instance: str = "production"
    offline: bool = True
    source: ImageSource | None = None
    """Overrides the registry/oci-dir source (tests, benchmarks)."""
    vuln: Any = None
    """`edgegate.vuln.scan.ScanSettings`: also scan the admitted images (SBOM from the registry)."""
    sbom_dir: Path | None = None
    """Keep the admitted images' SBOMs here (default: a temp dir)."""
    sbom: str = "build"
    """Where the scanned SBOM comes from: build, attested or attested-or-build (`edgegate.admit.vuln`)."""


@dataclass
class Resolved:
    """A reference resolved in the registry."""

    ref: Reference
    digest: str
    manifest: Manifest
    seconds: float = 0.0


@dataclass
class Verdict:
    """What verifying one digest under one policy found."""

    signer: str = ""
    detail: str = ""
    failure: AdmitFailure | None = None
    error: str | None = None
    attestations: list[str] = field(default_factory=list)
    policy_findings: list[tuple[str, str, Severity, bool]] = field(default_factory=list)
    """(rule id, message, severity, blocking) from attestation policies."""
    sbom: Any = None
    """`edgegate.admit.vuln.SbomChoice`: the verified SBOM attestations (``sbom`` not build)."""
    seconds: float = 0.0


def image_name(ref: Reference) -> str:
    """``registry/repository`` (what policy globs match)."""
    return f"{ref.registry}/{ref.repository}"


def make_source(opts: AdmitOptions) -> ImageSource:
    if opts.source is not None:
        return opts.source
    if opts.oci_dir is not None:
        from edgegate.admit.layout import LayoutSource

        return LayoutSource(opts.oci_dir)
    from edgegate.admit.oci import RegistrySource

    return RegistrySource(insecure=opts.insecure, mirrors=opts.mirrors)


def resolve(source: ImageSource, ref: Reference, platform: str) -> Resolved:
    """The digest `ref` names now (a tag is looked up; a digest is fetched and checked)."""
    started = time.perf_counter()
    m = source.manifest(ref, ref.digest or ref.tag or "latest")
    assert m is not None
    if m.is_index:
        entries = m.doc.get("manifests")
        if not isinstance(entries, list) or not entries:
            raise InputError("image index lists no manifests", str(ref))
        want_os, _, want_arch = platform.partition("/")
        found = [
            e for e in entries
            if isinstance(e, dict) and isinstance(e.get("platform"), dict)
            and e["platform"].get("os") == want_os
            and e["platform"].get("architecture") == want_arch.split("/")[0]
        ]
        if not found:
            raise InputError(f"image index has no manifest for platform {platform}", str(ref))
    return Resolved(ref, m.digest, m, time.perf_counter() - started)


def verify_image(source: ImageSource, res: Resolved, policy: ImagePolicy, opts: AdmitOptions) -> Verdict:
    """Signatures (both schemes) and attestations of one resolved image under `policy`."""
    started = time.perf_counter()
    v = Verdict()
    try:
        if policy.signed:
            v.signer, v.detail = _signature(source, res, policy, opts)
        want_sbom = opts.vuln is not None and opts.sbom != "build"
        if policy.attestations or want_sbom:
            from edgegate.admit.attest import check_attestations, image_envelopes

            found = image_envelopes(source, res, policy)
            if policy.attestations:
                v.attestations, v.policy_findings = check_attestations(source, res, policy, opts, found)
            if want_sbom:
                from edgegate.admit.vuln import attested_sboms

                v.sbom = attested_sboms(found[0], res.digest, policy, opts)
    except AdmitFailure as exc:
        v.failure = exc
    except EdgegateError as exc:
        v.error = exc.message
    v.seconds = time.perf_counter() - started
    return v


def _signature(source: ImageSource, res: Resolved, policy: ImagePolicy, opts: AdmitOptions) -> tuple[str, str]:
    from edgegate.admit.bundles import verify_referrer_signatures

    keys = cosign.load_keys(list(policy.keys)) if policy.keys else []
    failures: list[AdmitFailure] = []
    if keys or policy.identities:
        try:
            found = cosign.verify_legacy(source, res.ref, res.digest, keys, policy.identities)
        except AdmitFailure as exc:
            failures.append(exc)
            found = None
        if found is not None:
            return found
    try:
        found = verify_referrer_signatures(source, res, keys, policy.identities, opts)
    except AdmitFailure as exc:
        failures.append(exc)
        found = None
    if found is not None:
        return found
    if failures:
        raise failures[0]
    raise AdmitFailure(
        cosign.NO_SIGNATURE,
        "no signature (neither a sha256-….sig tag nor a signature referrer)",
    )


def admit(paths: Sequence[str | Path], options: AdmitOptions | None = None) -> GateResult:
    """Check every image the manifests in `paths` name."""
    return _admit(paths, options or AdmitOptions())[0]


def admit_results(paths: Sequence[str | Path], options: AdmitOptions | None = None) -> list[GateResult]:
    """`admit`, then (with ``options.vuln``) the vulnerability gate over the admitted images (read
    by digest from the registry, or from ``options.oci_dir``)."""
    opts = options or AdmitOptions()
    result, admitted_images, attested = _admit(paths, opts)
    if opts.vuln is None:
        return [result]
    from edgegate.admit.vuln import scan_admitted

    served = getattr(make_source(opts), "served", None)
    images = [(shown, served(ref) if served else ref, digest) for shown, ref, digest in admitted_images]
    return [
        result,
        scan_admitted(images, opts.vuln, platform=opts.platform, insecure=opts.insecure, sbom_dir=opts.sbom_dir,
                      mode=opts.sbom, attested=attested, layout=opts.oci_dir),
    ]


def _admit(
    paths: Sequence[str | Path], opts: AdmitOptions
) -> tuple[GateResult, list[tuple[str, Reference, str]], dict[str, Any]]:
    started = time.perf_counter()
    uses = collect_images(load_manifest_documents(paths))
    findings: list[Finding] = []
    errors: list[str] = []
    if not uses:
        errors.append(f"no container image is named in {', '.join(map(str, paths))}")
        return GateResult.decide(GATE, [], errors=errors, stats={"images": 0}), [], {}
    source = make_source(opts)

    parsed: dict[str, Reference | InputError] = {}
    for use in uses:
        if use.image not in parsed:
            try:
                parsed[use.image] = parse_reference(use.image)
            except InputError as exc:
                parsed[use.image] = exc
    refs = sorted({str(r) for r in parsed.values() if isinstance(r, Reference)})
    by_str = {str(r): r for r in parsed.values() if isinstance(r, Reference)}
    jobs = max(1, opts.jobs)

    def _resolve(key: str) -> Resolved | EdgegateError:
        try:
            return resolve(source, by_str[key], opts.platform)
        except EdgegateError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        resolved = dict(zip(refs, pool.map(_resolve, refs), strict=True))
        work: dict[tuple[str, str], tuple[Resolved, ImagePolicy]] = {}
        for key, res in resolved.items():
            policy = select(opts.policies, image_name(by_str[key]))
            if isinstance(res, Resolved) and policy is not None:
                work.setdefault((res.digest, policy.name), (res, policy))
        verdict_list = list(pool.map(lambda item: verify_image(source, item[0], item[1], opts), work.values()))
    verdicts = dict(zip(work.keys(), verdict_list, strict=True))

    rows: list[list[str]] = []
    admitted = 0
    admitted_images: dict[str, tuple[str, Reference, str]] = {}
    attested: dict[str, Any] = {}
    for use in uses:
        loc = Location(use.path, use.line, None, use.pointer)
        ref = parsed[use.image]
        label = f"{use.image} ({use.kind} {use.name})".replace(" ()", "")
        if isinstance(ref, InputError):
            errors.append(f"{use.where}: {ref.message}")
            rows.append([use.where, use.image, "", "error"])
            continue
        res = resolved[str(ref)]
        if not isinstance(res, Resolved):
            errors.append(f"{use.where}: image {use.image}: {res.message}")
            rows.append([use.where, use.image, "", "error"])
            continue
        policy = select(opts.policies, image_name(ref))
        if policy is None:
            findings.append(_finding(cosign.NO_POLICY, f"{label}: no image policy covers {image_name(ref)}", loc,
                                     res.digest, True))
            rows.append([use.where, use.image, res.digest, "no policy"])
            continue
        v = verdicts[(res.digest, policy.name)]
        if v.error is not None:
            errors.append(f"{use.where}: image {use.image} ({res.digest}): {v.error}")
            rows.append([use.where, use.image, res.digest, "error"])
            continue
        denied = False
        for rule_id, message, severity, blocking in v.policy_findings:
            denied = denied or blocking
            findings.append(
                _finding(rule_id, f"{label}: {message}", loc, res.digest, blocking and policy.enforced, severity)
            )
        if v.failure is not None:
            findings.append(_finding(v.failure.rule_id, f"{label} ({res.digest}): {v.failure.reason}", loc,
                                     res.digest, policy.enforced, policy=policy.name))
            rows.append([use.where, use.image, res.digest, "refused" if policy.enforced else "warned"])
            continue
        verdict = "refused" if denied and policy.enforced else "admitted"
        if verdict == "admitted":
            admitted += 1
            admitted_images.setdefault(res.digest, (use.image, ref, res.digest))
            if v.sbom is not None:
                attested.setdefault(res.digest, v.sbom)
            what = f"signed by {v.signer}, {v.detail}" if v.signer else "no signature required"
            atts = f"; attestations: {', '.join(v.attestations)}" if v.attestations else ""
            findings.append(
                _finding(cosign.ADMITTED, f"{label}: admitted {res.digest} — {what}{atts}", loc, res.digest,
                         False, Severity.INFO, policy=policy.name)
            )
        rows.append([use.where, use.image, res.digest, verdict])
    registry_seconds = sum(r.seconds for r in resolved.values() if isinstance(r, Resolved))
    stats: dict[str, Any] = {
        "uses": len(uses),
        "images": len(refs),
        "digests": len({r.digest for r in resolved.values() if isinstance(r, Resolved)}),
        "admitted": admitted,
        "resolve_seconds": round(registry_seconds, 3),
        "verify_seconds": round(sum(v.seconds for v in verdicts.values()), 3),
        "seconds": round(time.perf_counter() - started, 3),
        "tables": [{"title": "Images", "columns": ["manifest", "image", "digest", "verdict"], "rows": rows}],
    }
    return GateResult.decide(GATE, findings, errors=errors, stats=stats), list(admitted_images.values()), attested


def _finding(
    rule_id: str,
    message: str,
    loc: Location,
    digest: str,
    blocking: bool,
    severity: Severity = Severity.HIGH,
    policy: str | None = None,
) -> Finding:
    details: dict[str, Any] = {"digest": digest}
    if policy:
        details["policy"] = policy
    return Finding(
        gate=GATE,
        rule_id=rule_id,
        severity=severity,
        message=message,
        location=loc,
        title=cosign.RULE_TITLES.get(rule_id),
        details=details,
        blocking=blocking,
    )


def pins(uses: Sequence[ImageUse], resolved: dict[str, str]) -> dict[str, str]:
    """Image as written → ``name@digest`` for every use resolved (for ``--pin``)."""
    out = {}
    for use in uses:
        digest = resolved.get(use.image)
        if digest and "@" not in use.image:
            out[use.image] = f"{use.image}@{digest}"
    return out
