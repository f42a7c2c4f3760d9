"""The FinOps link: modelQuantizationRequired checked on the referenced model file itself."""

from __future__ import annotations

import shutil
from pathlib import Path

from edgegate.findings import Status
from edgegate.model.finops_link import check_required_quantization

POLICY = """\
apiVersion: policy.apexlogic.com/v1alpha1
kind: FinOpsPolicy
metadata: {{name: p}}
spec:
  targetWorkloadSelector: {{matchLabels: {{app: vision}}}}
  optimizationRules: {{modelQuantizationRequired: {required}}}
"""

DEPLOYMENT = """\
apiVersion: apexlogic.ai/v1
kind: EdgeAIDeployment
metadata: {{name: {name}, labels: {{app: {app}}}}}
spec:
  modelRef: {{name: {model}}}
  targetDevices: {{count: 2, labels: {{deviceType: smart-camera}}}}
  resourceLimits: {{cpu: 500m, memory: 1Gi}}
"""


def _setup(tmp_path: Path, onnx_models: dict[str, Path], *, required: str = "true",
           model: str = "vision.onnx", app: str = "vision") -> tuple[Path, Path]:
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(onnx_models["mlp_dynamic"], models / "vision-int8.onnx")
    shutil.copy(onnx_models["mlp"], models / "vision.onnx")
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "all.yaml").write_text(
        POLICY.format(required=required) + "---\n" + DEPLOYMENT.format(name="cam", app=app, model=model)
    )
    return manifests, models


def test_quantized_model_file_passes(tmp_path: Path, onnx_models: dict[str, Path]) -> None:
    manifests, models = _setup(tmp_path, onnx_models, model="vision-int8.onnx")
    result = check_required_quantization([manifests], [models])
    assert result.status is Status.PASSED
    assert result.stats["deployments_checked"] == 1


def test_float_model_file_fails_at_the_model_ref_line(tmp_path: Path, onnx_models: dict[str, Path]) -> None:
    manifests, models = _setup(tmp_path, onnx_models, model="vision.onnx")
    result = check_required_quantization([manifests], [models])
    assert result.status is Status.FAILED
    (finding,) = result.findings
    assert finding.rule_id == "EGM020"
    assert "EdgeAIDeployment/cam" in finding.message and "not quantized" in finding.message
    assert finding.location.line == 12  # 6 policy lines, '---', then `modelRef:` on line 5 of the deployment


def test_model_name_without_suffix_is_found(tmp_path: Path, onnx_models: dict[str, Path]) -> None:
    manifests, models = _setup(tmp_path, onnx_models, model="vision-int8")
    assert check_required_quantization([manifests], [models]).status is Status.PASSED


def test_missing_model_fails_closed(tmp_path: Path, onnx_models: dict[str, Path]) -> None:
    manifests, models = _setup(tmp_path, onnx_models, model="facial-recognition-v3")
    result = check_required_quantization([manifests], [models])
    assert result.status is Status.FAILED
    assert [f.rule_id for f in result.findings] == ["EGM021"]


def test_path_like_model_name_is_not_resolved(tmp_path: Path, onnx_models: dict[str, Path]) -> None:
    manifests, models = _setup(tmp_path, onnx_models, model="../models/vision-int8.onnx")
    result = check_required_quantization([manifests], [models / "sub"])
    assert [f.rule_id for f in result.findings] == ["EGM021"]


def test_unreadable_model_fails_closed(tmp_path: Path, onnx_models: dict[str, Path]) -> None:
    manifests, models = _setup(tmp_path, onnx_models, model="broken.onnx")
    (models / "broken.onnx").write_bytes(b"\x08\x07not really onnx")
    result = check_required_quantization([manifests], [models])
    assert [f.rule_id for f in result.findings] == ["EGM021"]
    assert "cannot read the quantization" in result.findings[0].message


def test_not_required_or_not_selected_is_not_checked(tmp_path: Path, onnx_models: dict[str, Path]) -> None:
    manifests, models = _setup(tmp_path, onnx_models, required="false", model="vision.onnx")
    result = check_required_quantization([manifests], [models])
    assert result.status is Status.PASSED and result.stats["deployments_checked"] == 0
    other = tmp_path / "other"
    other.mkdir()
    m2, mod2 = _setup(other, onnx_models, app="text", model="vision.onnx")
    result = check_required_quantization([m2], [mod2])
    assert result.status is Status.PASSED and result.stats["deployments_checked"] == 0
