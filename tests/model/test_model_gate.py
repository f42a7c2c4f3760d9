"""`edgegate check` with a [model] section: the same library calls as the subcommands."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

SNIPPET = """
[model.scan]
paths = ["models"]

[model.quant]
min-cosine = 0.99
min-top1-agreement = 0.9
samples = 8
runs = 3

[[model.quant.models]]
path = "models/classifier.int8.onnx"
reference = "models/classifier.fp32.onnx"
require-quantized = true

[model.bias]
predictions = "models/predictions.csv"
label = "label"
score = "score"
threshold = 0.5
group = "region"
max-fpr-gap = 0.10
max-fnr-gap = 0.10
min-disparate-impact = 0.80
"""


@pytest.fixture
def project(tmp_path: Path, root_dir: Path) -> Path:
    shutil.copytree(root_dir / "examples" / "edge-app" / "models", tmp_path / "models")
    (tmp_path / "edgegate.toml").write_text(SNIPPET)
    return tmp_path


def test_check_runs_all_three(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("check", project, "-f", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    gates = {g["gate"]: g for g in json.loads(res.stdout)["gates"]}
    assert set(gates) == {"model-scan", "model-quant", "model-bias"}
    assert gates["model-quant"]["stats"]["quantized"] is True
    assert gates["model-bias"]["stats"]["metrics"]["fpr_gap"] <= 0.10


def test_check_fails_on_a_dangerous_file_and_unquantized_model(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (project / "models" / "extra.pkl").write_bytes(pickle.dumps(os.system, protocol=2))
    cfg = project / "edgegate.toml"
    cfg.write_text(SNIPPET.replace("classifier.int8.onnx", "classifier.fp32.onnx", 1))
    res = cli("check", project, "-f", "json")
    assert res.exit_code == 1
    gates = {g["gate"]: g for g in json.loads(res.stdout)["gates"]}
    assert gates["model-scan"]["status"] == "failed"
    assert gates["model-quant"]["findings"][0]["rule_id"] == "EGQ001"


def test_config_errors_are_exit_2(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cfg = project / "edgegate.toml"
    cfg.write_text(SNIPPET + "\n[model.extra]\nx = 1\n")
    res = cli("check", project)
    assert res.exit_code == 2 and "model.extra" in res.stderr
    cfg.write_text(SNIPPET.replace('score = "score"\nthreshold = 0.5\n', ""))
    res = cli("check", project)
    assert res.exit_code == 2
    cfg.write_text(SNIPPET.replace('group = "region"', 'group = "nope"'))
    res = cli("check", project, "-f", "json")
    assert res.exit_code == 2
    gates = {g["gate"]: g for g in json.loads(res.stdout)["gates"]}
    assert "no column 'nope'" in " ".join(gates["model-bias"]["errors"])
    assert gates["model-scan"]["status"] == "passed" and gates["model-quant"]["status"] == "passed"


def test_bias_as_an_array_and_schema_checks(project: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cfg = project / "edgegate.toml"
    two = SNIPPET.replace("[model.bias]", "[[model.bias]]") + """
[[model.bias]]
predictions = "models/predictions.csv"
label = "label"
prediction = "prediction"
group = "region"
privileged = "north"
"""
    cfg.write_text(two)
    res = cli("check", project, "-f", "json")
    assert res.exit_code == 0, res.stdout + res.stderr
    biases = [g for g in json.loads(res.stdout)["gates"] if g["gate"] == "model-bias"]
    # the reports show one entry per gate: both configurations' tables are in it
    assert len(biases) == 1
    titles = [t["title"] for t in biases[0]["stats"]["tables"]]
    assert len(titles) == 4 and titles.count("fairness limits") == 2
    cfg.write_text(SNIPPET.replace('score = "score"', 'score = "score"\nprediction = "prediction"'))
    res = cli("check", project)
    assert res.exit_code == 2 and "model.bias" in res.stderr
