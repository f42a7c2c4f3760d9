"""Known vulnerabilities of the admitted images: each admitted digest is read from the registry
by the SBOM gate's image reader (`edgegate.sbom.api.image_sbom`, pinned by digest so the bytes
scanned are the bytes verified), and the SBOMs go through the vulnerability gate (`vuln scan`:
the offline OSV database, ``fail-on``, ignores and VEX) as one more result.

Not done: taking an attested SBOM (CycloneDX/SPDX attestation) instead of building one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from edgegate.errors import EdgegateError
from edgegate.findings import GateResult, Status
from edgegate.sbom.registry import Reference

_LOCAL = {"localhost", "127.0.0.1", "::1", "[::1]"}


def scan_admitted(
    images: Sequence[tuple[str, Reference, str]],
    settings: object,
    *,
    platform: str,
    insecure: bool,
    sbom_dir: Path | None = None,
    layout: Path | None = None,
) -> GateResult:
    """Vulnerability result for `images` ((shown reference, reference as served, digest)), read
    from their registry or, with `layout`, from that OCI layout directory (by digest)."""
    from edgegate.sbom.api import image_sbom
    from edgegate.vuln.scan import ScanInput, ScanSettings, scan

    assert isinstance(settings, ScanSettings)
    if not images:
        return GateResult(gate="vuln", status=Status.PASSED, stats={"images": 0})
    with tempfile.TemporaryDirectory(prefix="edgegate-admit-sbom-") as tmp:
        folder = sbom_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        inputs = []
        errors = []
        for shown, served, digest in images:
            out = folder / f"{digest.replace(':', '-')}.cdx.json"
            source = f"oci:{layout}@{digest}" if layout else f"registry:{served.registry}/{served.repository}@{digest}"
            try:
                image_sbom(source, out, platform=platform, insecure=insecure and served.host in _LOCAL, label=shown)
            except EdgegateError as exc:
                errors.append(f"{shown}: SBOM of {digest} could not be built: {exc.message}")
                continue
            inputs.append(ScanInput("sbom", out, shown))
        if errors:
            return GateResult(gate="vuln", status=Status.ERROR, errors=errors)
        return scan(inputs, settings)
