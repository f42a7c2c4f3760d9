"""Keras objects that download, load other files, run bytecode or switch safe mode off are
dangerous under every spelling of their module: the public alias (`keras.utils`), Keras' internal
layout (`keras.src.utils.file_utils`), tf_keras and `tensorflow.keras`. Keras' `_retrieve_class_or_fn`
imports the module named in the config and looks the name up there, so an internal path reaches
the same function as its public alias (keras is not installed here: judged by that reading)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from edgegate.findings import Severity, Status
from edgegate.model.scan import ScanOptions, scan_paths


def _keras(path: Path, obj: dict[str, object]) -> Path:
    config = {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"units": 1, "activation": obj}}]}}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", b"")
    return path


def _fn(module: str, name: str) -> dict[str, object]:
    return {"module": module, "class_name": "function", "config": name, "registered_name": name}


_DANGEROUS = {
    "public-get-file": _fn("keras.utils", "get_file"),
    "internal-get-file": _fn("keras.src.utils.file_utils", "get_file"),
    "internal-get-file-class": {"module": "keras.src.utils.file_utils", "class_name": "get_file", "config": {}},
    "registered-get-file": {"module": "keras.src.utils", "class_name": "Dense", "config": {},
                            "registered_name": "get_file"},
    "tf-keras-get-file": _fn("tf_keras.src.utils.data_utils", "get_file"),
    "tensorflow-keras-get-file": _fn("tensorflow.keras.utils", "get_file"),
    "tf-keras-alias-get-file": _fn("keras._tf_keras.keras.utils", "get_file"),
    "unsafe-toggle-internal": _fn("keras.src.saving.serialization_lib", "enable_unsafe_deserialization"),
    "unsafe-toggle-config": _fn("keras.config", "enable_unsafe_deserialization"),
    "safe-mode-scope": {"module": "keras.src.saving.serialization_lib", "class_name": "SafeModeScope",
                        "config": {"safe_mode": False}},
    "func-load-bytecode": _fn("keras.src.utils.python_utils", "func_load"),
    "load-model": _fn("keras.models", "load_model"),
    "load-model-internal": _fn("keras.src.saving.saving_api", "load_model"),
    "torch-module-wrapper": {"module": "keras.layers", "class_name": "TorchModuleWrapper", "config": {}},
    "torch-module-wrapper-internal": {"module": "keras.src.utils.torch_utils", "class_name": "TorchModuleWrapper",
                                      "config": {}},
    "tfsm-layer": {"module": "keras.src.export.tfsm_layer", "class_name": "TFSMLayer", "config": {}},
    "file-utils-rmtree": _fn("keras.src.utils.file_utils", "rmtree"),
    "set-backend": _fn("keras.config", "set_backend"),
}


@pytest.mark.parametrize("obj", list(_DANGEROUS.values()), ids=list(_DANGEROUS))
def test_keras_functions_that_download_load_or_unsafe_toggle_are_dangerous_under_every_spelling(
        tmp_path: Path, obj: dict[str, object]) -> None:
    result = scan_paths([_keras(tmp_path / "m.keras", obj)])
    assert result.status is Status.FAILED
    assert any(f.rule_id == "EGM006" and f.blocking and f.severity is Severity.CRITICAL for f in result.findings)


def test_the_review_keras_files_fail_the_cli(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    for name, obj in (("src", _DANGEROUS["internal-get-file"]), ("unsafe", _DANGEROUS["unsafe-toggle-internal"]),
                      ("cfg", _DANGEROUS["unsafe-toggle-config"])):
        assert cli("model", "scan", str(_keras(tmp_path / f"{name}.keras", obj))).exit_code == 1


@pytest.mark.parametrize("obj", [
    {"module": "keras.src.layers", "class_name": "Dense", "config": {}},
    _fn("keras.src.activations.activations", "relu"),
    {"module": "keras.src.models.functional", "class_name": "Functional", "config": {}},
    {"module": "keras.src.utils", "class_name": "function", "config": "normalize"},
], ids=["dense", "relu", "functional", "normalize"])
def test_keras_internal_modules_of_ordinary_objects_stay_clean(tmp_path: Path, obj: dict[str, object]) -> None:
    result = scan_paths([_keras(tmp_path / "m.keras", obj)], ScanOptions(strict=True))
    assert result.status is Status.PASSED, [f.message for f in result.findings]
