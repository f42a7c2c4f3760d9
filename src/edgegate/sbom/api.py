"""The library entry points the CLI and `edgegate check` share: make an SBOM, write it, return a
`GateResult` with warnings for what was skipped and a summary table."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from edgegate.errors import NothingToCheckError
from edgegate.findings import Finding, GateResult, Location, Severity
from edgegate.io.archive import ArchiveLimits

GATE = "sbom"


def _warning(
    rule: str, title: str, message: str, path: str, details: dict[str, str] | None = None
) -> Finding:
    return Finding(
        gate=GATE,
        rule_id=rule,
        severity=Severity.LOW,
        message=message,
        location=Location(path=path),
        title=title,
        details=details or {},
        blocking=False,
    )


def image_sbom(
    source: str,
    output: Path,
    *,
    platform: str = "linux/amd64",
    insecure: bool = False,
    limits: ArchiveLimits | None = None,
    label: str | None = None,
) -> GateResult:
    """Inventory image `source` into a CycloneDX SBOM at `output` (`label`: how findings and the
    summary name the source; default `source` as given)."""
    from edgegate.sbom.bom import image_bom, render, write_atomic
    from edgegate.sbom.catalog import catalog_all
    from edgegate.sbom.image import build_filesystem, open_image

    start = time.perf_counter()
    opened = open_image(source, platform=platform, insecure=insecure, limits=limits)
    try:
        fs = build_filesystem(opened.info, limits=limits)
    finally:
        opened.close()
    if not fs.nodes and not fs.skipped:
        if fs.has_entries:  # files, but none a cataloger reads (a static binary FROM scratch)
            raise NothingToCheckError("the image has no package database or manifest edgegate reads "
                                      "(dpkg, apk, rpm, Python, Node): nothing to inventory", label or source)
        raise NothingToCheckError("the image has no files", label or source)
    os_info, packages, notes = catalog_all(fs)
    text = render(image_bom(opened.info, os_info, packages))
    write_atomic(output, text)
    source = label or source
    findings = [
        _warning(
            "EGS101",
            "Unsafe layer entry skipped",
            f"layer {s.layer}: skipped {s.entry!r}: {s.reason}",
            source,
            {"layer": s.layer, "entry": s.entry, "reason": s.reason},
        )
        for s in fs.skipped
    ]
    if fs.skipped_more:
        findings.append(
            _warning(
                "EGS101",
                "Unsafe layer entry skipped",
                f"{fs.skipped_more} more layer entries skipped (only the first {len(fs.skipped)} are listed)",
                source,
                {"more": str(fs.skipped_more)},
            )
        )
    findings += [
        _warning(
            n.rule_id,
            "Package database not read",
            n.message,
            source,
            {"path": n.location, "layer": n.layer or ""},
        )
        for n in notes
    ]
    if os_info is None:
        findings.append(_warning("EGS105", "No OS detected", "no /etc/os-release in the image", source))
    counts = Counter(p.ecosystem for p in packages)
    rows: list[list[str | int | None]] = [[source, eco, n] for eco, n in sorted(counts.items())]
    stats = {
        "components": len(packages),
        "layers": len(opened.info.layers) or 1,
        "os": os_info.distro if os_info else None,
        "output": str(output),
        "seconds": round(time.perf_counter() - start, 3),
        "tables": [{"title": "SBOM summary", "columns": ["source", "type", "packages"], "rows": rows}],
    }
    return GateResult.decide(GATE, findings, stats=stats)


def model_sbom(
    source: str, output: Path, *, revision: str | None = None, progress: bool = True, label: str | None = None
) -> GateResult:
    """Inventory model `source` (a directory, a file or a Hugging Face repo id) into an ML-BOM."""
    from edgegate.sbom.bom import render, write_atomic
    from edgegate.sbom.mlbom import model_bom, scan_model

    start = time.perf_counter()
    model = scan_model(source, revision=revision, progress=progress)
    bom, patch = model_bom(model)
    write_atomic(output, render(bom, patch))
    rows: list[list[str | int | None]] = [
        [f.path, f.format, f.size, f.tensors, f.parameters] for f in model.files
    ]
    stats = {
        "files": len(model.files),
        "parameters": model.parameters,
        "bytes": sum(f.size for f in model.files),
        "output": str(output),
        "seconds": round(time.perf_counter() - start, 3),
        "tables": [
            {
                "title": "Model files",
                "columns": ["file", "format", "bytes", "tensors", "parameters"],
                "rows": rows,
            }
        ],
    }
    shown = label or source
    findings = [_warning("EGS201", "Model file note", w, shown) for w in model.warnings]
    return GateResult.decide(GATE, findings, stats=stats)


def python_sbom(source: Path, output: Path, *, label: str | None = None) -> GateResult:
    """Inventory a Python project (requirements, pyproject.toml) or environment into an SBOM."""
    from edgegate.sbom.bom import render, write_atomic
    from edgegate.sbom.python import python_bom, scan_python

    start = time.perf_counter()
    project = scan_python(source)
    if not project.packages:
        raise NothingToCheckError("no packages (the project lists no requirement)", label or source)
    write_atomic(output, render(python_bom(project)))
    shown = label or str(source)
    findings = [_warning("EGS301", "Requirement not pinned", w, shown) for w in project.warnings]
    stats = {
        "components": len(project.packages),
        "output": str(output),
        "seconds": round(time.perf_counter() - start, 3),
        "tables": [
            {
                "title": "SBOM summary",
                "columns": ["source", "kind", "packages"],
                "rows": [[shown, project.kind, len(project.packages)]],
            }
        ],
    }
    return GateResult.decide(GATE, findings, stats=stats)


def require_sbom(path: Path, shown: str) -> GateResult:
    """Fail unless `path` exists and is a valid CycloneDX 1.6 SBOM."""
    from edgegate.sbom.bom import validate_file

    if not path.exists():
        problem: str | None = "required SBOM does not exist"
    else:
        problem = validate_file(path)
    findings = []
    if problem:
        findings.append(
            Finding(
                gate=GATE,
                rule_id="EGD001",
                severity=Severity.HIGH,
                title="Required SBOM missing or invalid",
                message=f"{shown}: {problem}",
                location=Location(path=shown),
            )
        )
    return GateResult.decide(GATE, findings, stats={"required": 1})
