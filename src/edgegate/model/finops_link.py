"""The FinOps link: an `EdgeAIDeployment` governed by a `FinOpsPolicy` with
``optimizationRules.modelQuantizationRequired: true`` must reference a model file that *is*
quantized — checked on the file itself (ONNX facts), not on the manifest's say-so.

The model named by ``spec.modelRef.name`` is looked up in the configured model folders; a model
that cannot be found or whose quantization cannot be read fails the gate (fail closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgegate.errors import EdgegateError
from edgegate.findings import Finding, GateResult, Location, Severity

GATE = "model-quant"


def _model_name(data: Any) -> str | None:
    spec = data.get("spec") if isinstance(data, dict) else None
    ref = spec.get("modelRef") if isinstance(spec, dict) else None
    name = ref.get("name") if isinstance(ref, dict) else None
    return str(name) if name else None


def _find_model(name: str, folders: Sequence[Path]) -> Path | None:
    if "/" in name or "\\" in name or name in (".", ".."):
        return None  # a model name, not a path: never resolve outside the configured folders
    for folder in folders:
        for candidate in (folder / name, folder / f"{name}.onnx"):
            if candidate.is_file():
                return candidate
    return None


def check_required_quantization(
    manifests: Sequence[str | Path], model_dirs: Sequence[str | Path]
) -> GateResult:
    """Findings for every EdgeAIDeployment whose FinOpsPolicy requires quantization and whose
    model file is missing, unreadable or not quantized."""
    from edgegate.finops.policy import load_policies, policies_for
    from edgegate.finops.workloads import extract_workloads, load_manifests
    from edgegate.model.quant import is_quantized

    docs = load_manifests(manifests)
    policies = load_policies(docs)
    edge_docs = [d for d in docs if isinstance(d.data, dict) and d.data.get("kind") == "EdgeAIDeployment"]
    folders = [Path(p) for p in model_dirs]
    findings: list[Finding] = []
    checked = 0
    for workload in extract_workloads(edge_docs):
        requiring = [p.name for p in policies_for(workload, policies)[0] if p.quantization_required]
        if not requiring:
            continue
        checked += 1
        who = f"EdgeAIDeployment/{workload.name}"
        why = f"FinOpsPolicy {', '.join(repr(n) for n in requiring)} requires a quantized model"
        pointer = workload.pointer + "/spec/modelRef/name"
        where = Location(workload.path, workload.line_of("/spec/modelRef/name"), pointer=pointer)
        name = _model_name(workload.document.data)
        path = _find_model(name, folders) if name else None
        if path is None:
            findings.append(Finding(
                gate=GATE, rule_id="EGM021", severity=Severity.HIGH, title="Quantization cannot be verified",
                message=f"{who}: model {name!r} is not in the model folders "
                f"({', '.join(map(str, folders)) or 'none configured'}); {why}, so it must be checked",
                location=where, details={"document": workload.document.index, "model": name, "policies": requiring},
            ))
            continue
        try:
            quantized = is_quantized(path)
        except EdgegateError as exc:
            findings.append(Finding(
                gate=GATE, rule_id="EGM021", severity=Severity.HIGH, title="Quantization cannot be verified",
                message=f"{who}: cannot read the quantization of {path} ({exc.message}); {why}",
                location=where, details={"document": workload.document.index, "model": name, "file": str(path), "policies": requiring},
            ))
            continue
        if not quantized:
            findings.append(Finding(
                gate=GATE, rule_id="EGM020", severity=Severity.HIGH, title="Model not quantized",
                message=f"{who}: model file {path} is not quantized; {why}",
                location=where, details={"document": workload.document.index, "model": name, "file": str(path), "policies": requiring},
            ))
    return GateResult.decide(GATE, findings, stats={"deployments_checked": checked})
