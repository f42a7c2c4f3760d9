"""Keras in a model scan: the `config.json` of a `.keras` zip and the `model_config` attribute of
an HDF5 file (read with h5py when it is installed), checked for Lambda layers and custom objects."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import BinaryIO

from edgegate.findings import Severity
from edgegate.model.scan import engine as _engine
from edgegate.model.scan.formats import FormatError, KerasLayerIssue, keras_config_issues
from edgegate.model.scan.imports import Verdict


def scan_config(state: _engine._State, shown: str, data: bytes) -> None:
    """Its own row: an unreadable or oversized config is an error of that row, and the other
    members of the archive are still scanned."""
    record = _engine.FileRecord(shown, "keras config")
    try:
        try:
            config = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise FormatError(f"Keras config.json is not valid JSON: {type(exc).__name__}") from None
        for issue in keras_config_issues(config):
            _report_issue(state, record, shown, issue)
        record.status = "dangerous" if record.dangerous else ("unknown" if record.unknown else "clean")
    except FormatError as exc:
        record.status = "dangerous+error" if record.dangerous else "error"
        state.errors.append(f"{shown}: {exc}")
    state.records.append(record)


#: Keras' own packages, matched exactly or as `package.` prefixes (`keras_evil` is not Keras).
_KERAS_PACKAGES = ("keras", "tensorflow.keras", "tf_keras")
#: Prefixes under which the same Keras module lives (public aliases, keras/src internals, the
#: tf.keras and tf_keras copies), longest first: `keras.src.utils.file_utils` is `utils.file_utils`.
_KERAS_ROOTS = ("keras._tf_keras.keras.", "keras.api._v2.keras.", "tensorflow.python.keras.", "tensorflow.keras.",
                "tf_keras.src.", "keras.src.", "keras.api.", "tf_keras.", "keras.")
#: Names that download (get_file), load another file or model (load_model, model_from_json, the
#: TFSMLayer SavedModel, TorchModuleWrapper's torch.load), run marshalled bytecode (func_load),
#: switch safe mode off (enable_unsafe_deserialization, SafeModeScope) or reload Keras under
#: another backend (set_backend): dangerous in every Keras module, whatever its spelling.
_KERAS_DENY_NAMES = frozenset({
    "get_file", "extract_archive", "enable_unsafe_deserialization", "SafeModeScope", "func_load",
    "load_model", "load_weights", "model_from_json", "model_from_yaml", "model_from_config", "load_model_from_hdf5",
    "load_weights_from_hdf5_group", "TFSMLayer", "TorchModuleWrapper", "LazyModule", "set_backend", "load_img",
    "save_img", "save_model", "save_weights", "KerasFileEditor", "ask_to_proceed_with_overwrite",
})
#: Keras modules (relative to a root above) that are file, download, import or loading helpers:
#: nothing in them rebuilds a layer.
_KERAS_DENY_MODULES = ("utils.file_utils", "utils.data_utils", "utils.io_utils", "utils.python_utils",
                       "utils.module_utils", "utils.torch_utils", "utils.backend_utils", "saving.saving_lib",
                       "saving.saving_api", "saving.file_editor", "saving.legacy", "legacy.saving", "export")


def _keras_relative(module: str) -> str | None:
    """`module` under Keras' own packages, without the root (`keras.src.utils` -> `utils`, `keras`
    -> ""), or None when it is not Keras."""
    if module in _KERAS_PACKAGES:
        return ""
    for root in _KERAS_ROOTS:
        if module.startswith(root):
            return module[len(root):]
    return None


def _keras_denied(relative: str, names: tuple[str, ...]) -> bool:
    if any(n in _KERAS_DENY_NAMES for n in names):
        return True
    return any(relative == m or relative.startswith(m + ".") for m in _KERAS_DENY_MODULES)


def _module_verdict(state: _engine._State, issue: KerasLayerIssue) -> str:
    """"dangerous", "keras" or "custom" for an object Keras resolves by importing `module` and
    looking its names up there (keras/src/saving/serialization_lib.py `_retrieve_class_or_fn`)."""
    module = issue.module or ""
    if module == "builtins":
        # a `class_name: "function"` in builtins is searched in Keras' built-in modules
        # (activations, losses, …) first, then in Python's builtins: a name Python's builtins
        # has (exec, eval, getattr, open, …) is that builtin
        return "dangerous" if any(hasattr(builtins, n) for n in issue.names) else "keras"
    if any(_engine._classify(state, module, n, True) is Verdict.DANGEROUS for n in issue.names):
        return "dangerous"  # the pickle deny-list: os, subprocess, … whatever the name
    relative = _keras_relative(module)
    if relative is None:
        return "custom"
    return "dangerous" if _keras_denied(relative, issue.names) else "keras"


def _report_issue(state: _engine._State, record: _engine.FileRecord, shown: str, issue: KerasLayerIssue) -> None:
    if issue.kind == "lambda":
        record.dangerous += 1
        _engine._finding(state, "EGM005", Severity.HIGH,
                         f"Keras {issue.class_name} layer: its Python bytecode runs when the model is loaded",
                         shown, pointer=issue.pointer, details={"class_name": issue.class_name})
        return
    verdict = _module_verdict(state, issue)
    details = {"class_name": issue.class_name, "module": issue.module, "names": list(issue.names)}
    if verdict == "dangerous":
        record.dangerous += 1
        _engine._finding(state, "EGM006", Severity.CRITICAL,
                         f"Keras object {issue.class_name} resolves {', '.join(issue.names) or '?'} from module "
                         f"{issue.module!r}: a builtin or a denied module the loader hands to the model",
                         shown, pointer=issue.pointer, details=details)
    elif verdict == "custom":
        record.unknown += 1
        _engine._finding(state, "EGM006", Severity.HIGH if state.options.strict else Severity.MEDIUM,
                         f"Keras object {issue.class_name} from module {issue.module!r}: custom code is "
                         "imported on load", shown, pointer=issue.pointer, blocking=state.options.strict,
                         details=details)


def scan_hdf5(state: _engine._State, record: _engine.FileRecord, shown: str, fh: BinaryIO,
              fs_path: Path | None) -> None:
    """The `model_config` attribute of an HDF5 file (a Keras .h5), read by h5py from the file or,
    for an archive member, from its bytes in memory. Without h5py the file is not inspected:
    a blocking EGM009 (a .h5 may hold Lambda layers), never a pass."""
    try:
        import h5py
    except ImportError:
        record.status = "not inspected"
        _engine._finding(state, "EGM009", Severity.HIGH,
                         "HDF5 model not inspected (h5py is not installed); a Keras .h5 may hold Lambda "
                         "layers: install h5py to scan it", shown)
        return
    try:
        with h5py.File(fs_path if fs_path is not None else fh, "r") as f:
            raw = f.attrs.get("model_config")
    except Exception as exc:  # h5py raises OSError and friends on bad files
        raise FormatError(f"not a readable HDF5 file: {exc}") from None
    if raw is None:
        return
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    scan_config(state, shown, str(raw).encode("utf-8"))
