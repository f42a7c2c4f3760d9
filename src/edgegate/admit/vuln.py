"""Known vulnerabilities of the admitted images, from an attested SBOM or one built from the
registry, through the vulnerability gate (`vuln scan`: the offline OSV database, ``fail-on``,
ignores and VEX) as one more result.

Where the SBOM comes from is ``sbom`` in ``[admit.vuln]`` (``--sbom`` on the command line):

- ``build`` (default): the SBOM gate's image reader (`edgegate.sbom.api.image_sbom`) reads the
  admitted digest from the registry, so the bytes scanned are the bytes verified.
- ``attested``: an SBOM attestation of the image, as ``cosign attest --type cyclonedx`` or
  ``--type spdxjson`` makes it (predicate types `CYCLONEDX` and `SPDX`, either storage scheme).
  It is used only when its DSSE envelope verifies with the image policy's keys or identities and
  its in-toto subject is the admitted digest; an image with none is a failure naming it.
- ``attested-or-build``: the attested SBOM when one verifies, else a built one (an SBOM
  attestation that does not verify is reported and ignored).

Every verified SBOM attestation of an image is scanned (a CycloneDX and an SPDX one both count).
SPDX 2.x JSON packages are read by their ``purl`` external references, as CycloneDX components
are; a package without a purl is reported as not covered, as the vuln gate reports components.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgegate.errors import ConfigError, EdgegateError
from edgegate.findings import Finding, GateResult, Location, Severity, Status
from edgegate.sbom.registry import Reference

if TYPE_CHECKING:
    from edgegate.admit.bundles import Envelope
    from edgegate.admit.policy import ImagePolicy
    from edgegate.admit.verify import AdmitOptions

_LOCAL = {"localhost", "127.0.0.1", "::1", "[::1]"}
CYCLONEDX = "https://cyclonedx.org/bom"
SPDX = "https://spdx.dev/Document"
SBOM_PREDICATES = (CYCLONEDX, SPDX, f"{SPDX}/v2.3", f"{SPDX}/v2.2")
"""cosign's ``--type cyclonedx``/``spdxjson``, and the versioned SPDX types GitHub's attest-sbom uses."""
SBOM_MODES = ("build", "attested", "attested-or-build")
NO_SBOM = "EGA010"
SBOM_IGNORED = "EGA011"
_TITLES = {
    NO_SBOM: "required SBOM attestation is missing or does not verify",
    SBOM_IGNORED: "SBOM attestation not used",
}


def sbom_mode(value: object) -> str:
    """`value` checked as one of `SBOM_MODES`."""
    if value not in SBOM_MODES:
        raise ConfigError(f"sbom must be one of {', '.join(SBOM_MODES)}, not {value!r}")
    return str(value)


@dataclass(frozen=True)
class AttestedSbom:
    """A verified SBOM attestation's document (CycloneDX JSON, SPDX read into CycloneDX form)."""

    predicate_type: str
    document: dict[str, Any]
    signer: str
    origin: str


@dataclass
class SbomChoice:
    """The verified SBOM attestations of one image, and why others were not used."""

    sboms: list[AttestedSbom] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def attested_sboms(envelopes: list[Envelope], digest: str, policy: ImagePolicy, opts: AdmitOptions) -> SbomChoice:
    """The SBOM attestations among `envelopes` that verify under `policy` and name `digest`."""
    from edgegate.admit.attest import verified_statements

    good, reasons = verified_statements(envelopes, SBOM_PREDICATES, digest, policy, opts)
    choice = SbomChoice(problems=list(reasons))
    for stmt, signer, env in good:
        ptype = str(stmt.get("predicateType"))
        try:
            doc = _document(ptype, stmt.get("predicate"))
        except ValueError as exc:
            choice.problems.append(f"{env.origin}: {exc}")
            continue
        choice.sboms.append(AttestedSbom(ptype, doc, signer, env.origin))
    return choice


def _document(ptype: str, predicate: Any) -> dict[str, Any]:
    if not isinstance(predicate, dict):
        raise ValueError(f"{ptype} predicate is not a JSON object")
    if ptype == CYCLONEDX:
        if predicate.get("bomFormat") != "CycloneDX":
            raise ValueError("CycloneDX predicate has no \"bomFormat\": \"CycloneDX\"")
        return predicate
    return spdx_to_cyclonedx(predicate)


def spdx_to_cyclonedx(doc: Mapping[str, Any]) -> dict[str, Any]:
    """An SPDX 2.x JSON document's packages as a CycloneDX JSON component list (name, version,
    purl from the ``PACKAGE-MANAGER`` purl reference), for the vuln gate's SBOM reader."""
    version = doc.get("spdxVersion")
    if not isinstance(version, str) or not version.startswith("SPDX-2."):
        raise ValueError(f"SPDX predicate is not an SPDX 2.x JSON document (spdxVersion {str(version)[:40]!r})")
    packages = doc.get("packages", [])
    if not isinstance(packages, list):
        raise ValueError("SPDX predicate: packages must be a list")
    components = []
    for i, pkg in enumerate(packages):
        if not isinstance(pkg, Mapping):
            raise ValueError(f"SPDX predicate: packages/{i} must be an object")
        comp: dict[str, Any] = {"type": "library", "name": str(pkg.get("name") or "?")}
        if isinstance(pkg.get("versionInfo"), str):
            comp["version"] = pkg["versionInfo"]
        if isinstance(pkg.get("SPDXID"), str):
            comp["bom-ref"] = pkg["SPDXID"]
        refs = pkg.get("externalRefs")
        for ref in refs if isinstance(refs, list) else []:
            if (isinstance(ref, Mapping) and ref.get("referenceType") == "purl"
                    and isinstance(ref.get("referenceLocator"), str)):
                comp["purl"] = ref["referenceLocator"]
                break
        if "purl" not in comp and pkg.get("primaryPackagePurpose") in ("CONTAINER", "OPERATING-SYSTEM", "FILE"):
            continue  # the image or a file itself: nothing to look up by name
        components.append(comp)
    return {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": components}


def _finding(rule_id: str, message: str, shown: str, digest: str, blocking: bool) -> Finding:
    return Finding(
        gate="vuln", rule_id=rule_id, severity=Severity.HIGH if blocking else Severity.LOW, message=message,
        location=Location(shown), title=_TITLES[rule_id], details={"digest": digest}, blocking=blocking,
    )


def scan_admitted(
    images: Sequence[tuple[str, Reference, str]],
    settings: object,
    *,
    platform: str,
    insecure: bool,
    sbom_dir: Path | None = None,
    mode: str = "build",
    attested: Mapping[str, SbomChoice] | None = None,
    layout: Path | None = None,
) -> GateResult:
    """Vulnerability result for `images` ((shown reference, reference as served, digest)), read
    from their registry or, with `layout`, from that OCI layout directory (by digest);
    `attested`: each digest's verified SBOM attestations (for the ``attested…`` modes)."""
    from edgegate.sbom.api import image_sbom
    from edgegate.vuln.scan import ScanInput, ScanSettings, scan

    assert isinstance(settings, ScanSettings)
    if not images:
        return GateResult(gate="vuln", status=Status.PASSED, stats={"images": 0})
    own: list[Finding] = []
    used = {"attested": 0, "built": 0}
    with tempfile.TemporaryDirectory(prefix="edgegate-admit-sbom-") as tmp:
        folder = sbom_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        inputs = []
        errors = []
        for shown, served, digest in images:
            stem = digest.replace(":", "-")
            choice = (attested or {}).get(digest, SbomChoice()) if mode != "build" else SbomChoice()
            if choice.sboms:
                for i, sbom in enumerate(choice.sboms):
                    out = folder / f"{stem}.attested-{i + 1}.cdx.json"
                    out.write_text(json.dumps(sbom.document))
                    inputs.append(ScanInput("sbom", out, shown))
                used["attested"] += 1
                continue
            why = "; ".join(choice.problems) or "none found"
            if mode == "attested":
                own.append(_finding(NO_SBOM, f"{shown} ({digest}): no verified SBOM attestation ({why})", shown,
                                    digest, True))
                continue
            if mode == "attested-or-build" and choice.problems:
                own.append(_finding(SBOM_IGNORED, f"{shown} ({digest}): SBOM attestation not used ({why}); "
                                    "SBOM built from the registry", shown, digest, False))
            out = folder / f"{stem}.cdx.json"
            source = f"oci:{layout}@{digest}" if layout else f"registry:{served.registry}/{served.repository}@{digest}"
            try:
                image_sbom(source, out, platform=platform, insecure=insecure and served.host in _LOCAL, label=shown)
            except EdgegateError as exc:
                errors.append(f"{shown}: SBOM of {digest} could not be built: {exc.message}")
                continue
            inputs.append(ScanInput("sbom", out, shown))
            used["built"] += 1
        if errors:
            return GateResult(gate="vuln", status=Status.ERROR, errors=errors, findings=own)
        if not inputs:
            return GateResult.decide("vuln", own, stats={"images": len(images), "sboms": used})
        result = scan(inputs, settings)
    result.stats["sboms"] = used
    if own:
        result.findings = own + result.findings
        if result.status is Status.PASSED and any(f.blocking for f in own):
            result.status = Status.FAILED
    return result
