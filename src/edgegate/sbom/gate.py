"""The SBOM gate for `edgegate check`: write the configured SBOMs and check required ones.

``[sbom]`` keys (see schemas/config/sbom.schema.json)::

    [sbom]
    images = [{ source = "build/app.tar", output = "sbom/app.cdx.json", platform = "linux/amd64" }]
    models = [{ source = "models/classifier", output = "sbom/model.cdx.json" }]
    python = [{ path = ".", output = "sbom/python.cdx.json" }]
    require = ["sbom/app.cdx.json"]

Each entry calls the same library function as its ``edgegate sbom`` subcommand. An input that
cannot be read makes the gate an error (exit 2); a required SBOM that is missing or invalid is a
blocking finding (exit 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from edgegate.config import Config
from edgegate.errors import EdgegateError
from edgegate.findings import Finding, GateResult
from edgegate.sbom.api import GATE, image_sbom, model_sbom, python_sbom, require_sbom
from edgegate.sbom.image import looks_like_reference

__all__ = ["run_from_config"]


def run_from_config(section: Mapping[str, Any], config: Config) -> list[GateResult]:
    """Produce every SBOM `section` lists, then check the `require` list; one merged result."""
    jobs: list[tuple[str, Callable[[], GateResult]]] = []
    for item in section.get("images") or []:
        shown = str(item["source"])
        local = config.resolve(shown.split(":", 1)[1] if shown.startswith(_PATH_PREFIXES) else shown)
        if shown.startswith(_PATH_PREFIXES):
            src = f"{shown.split(':', 1)[0]}:{local}"
        elif _is_reference(shown) or (not local.exists() and looks_like_reference(shown)):
            src = shown
        else:
            src = str(local)
        jobs.append(
            (
                shown,
                lambda s=src, i=item, n=shown: image_sbom(  # type: ignore[misc]
                    s,
                    config.resolve(i["output"]),
                    platform=str(i.get("platform", "linux/amd64")),
                    insecure=bool(i.get("insecure", False)),
                    label=n,
                ),
            )
        )
    for item in section.get("models") or []:
        shown = str(item["source"])
        local = config.resolve(shown)
        target = str(local) if local.exists() else shown
        jobs.append(
            (
                shown,
                lambda s=target, i=item, n=shown: model_sbom(  # type: ignore[misc]
                    s, config.resolve(i["output"]), revision=i.get("revision"), progress=False, label=n
                ),
            )
        )
    for item in section.get("python") or []:
        shown = str(item.get("path", "."))
        jobs.append(
            (
                shown,
                lambda i=item, n=shown: python_sbom(  # type: ignore[misc]
                    config.resolve(i.get("path", ".")), config.resolve(i["output"]), label=n
                ),
            )
        )
    for req in section.get("require") or []:
        jobs.append((str(req), lambda r=req: require_sbom(config.resolve(r), str(r))))  # type: ignore[misc]

    findings: list[Finding] = []
    errors: list[str] = []
    stats: dict[str, Any] = {"sboms": 0, "components": 0}
    rows: list[list[Any]] = []
    for item in [
        *(section.get("images") or []),
        *(section.get("models") or []),
        *(section.get("python") or []),
    ]:
        config.resolve(item["output"]).parent.mkdir(parents=True, exist_ok=True)
    for label, job in jobs:
        try:
            result = job()
        except EdgegateError as exc:
            where = f"{label}:{exc.line}" if exc.line else label
            errors.append(f"{where}: {exc.message}")
            continue
        findings.extend(result.findings)
        errors.extend(result.errors)
        if "output" in result.stats:
            stats["sboms"] += 1
            stats["components"] += int(result.stats.get("components", result.stats.get("files", 0)) or 0)
        for table in result.stats.get("tables", []):
            if table["title"] == "SBOM summary":
                rows.extend(table["rows"])
        if "files" in result.stats:
            rows.append([label, "model files", result.stats["files"]])
    if rows:
        stats["tables"] = [{"title": "SBOM summary", "columns": ["source", "type", "packages"], "rows": rows}]
    return [GateResult.decide(GATE, findings, errors=errors, stats=stats)]


_PATH_PREFIXES = ("docker-archive:", "oci:", "oci-archive:", "dir:")


def _is_reference(src: str) -> bool:
    return src.startswith("registry:")
