"""A pickle import whose name is a module kept in another module's namespace (`tracemalloc.pickle`,
`zipapp.shutil`, `_frozen_importlib._bootstrap_external`) reaches that module through a harmless
one, and BUILD on an imported object itself (not on an instance) rewrites that module or class for
everything loaded after it: both are dangerous, whatever module the name sits in."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from edgegate.findings import Status
from edgegate.model.scan import classify, scan_paths
from edgegate.model.scan.imports import Verdict

#: (module, attribute) pairs where the attribute is a module on the deny list (Python 3.12 stdlib)
_MODULE_ALIASES = [
    ("tracemalloc", "pickle"), ("pickletools", "pickle"), ("zipapp", "shutil"), ("pstats", "marshal"),
    ("modulefinder", "marshal"), ("socketserver", "socket"), ("_frozen_importlib", "_bootstrap_external"),
    ("_frozen_importlib_external", "_bootstrap"), ("_frozen_importlib_external", "_io"),
    ("_frozen_importlib_external", "marshal"), ("dis", "io"), ("getpass", "io"), ("mailbox", "socket"),
    ("io", "_io"), ("configparser", "io"), ("asyncore", "socket"), ("logging", "io"), ("mymodel", "subprocess"),
    ("mymodel", "builtins"), ("mymodel", "_os"), ("mymodel", "sys"),
]


def test_a_lone_name_a_harmless_module_shares_is_not_dangerous_by_its_name() -> None:
    # numpy.copy and numpy.array are functions (pickled by scikit-learn's FunctionTransformer);
    # a lone harmless module got this way cannot be called, and BUILD on it is caught by itself
    assert classify("numpy", "copy") is Verdict.UNKNOWN
    assert classify("numpy", "array") is Verdict.UNKNOWN
    assert classify("typing", "collections") is Verdict.UNKNOWN
    # with a step after it, the name walks into that module: dangerous
    assert classify("typing", "collections.abc") is Verdict.DANGEROUS
    assert classify("numpy", "copy.deepcopy") is Verdict.DANGEROUS


@pytest.mark.parametrize(("module", "name"), _MODULE_ALIASES, ids=[f"{m}.{n}" for m, n in _MODULE_ALIASES])
def test_a_module_kept_in_another_modules_namespace_is_dangerous(module: str, name: str) -> None:
    assert classify(module, name) is Verdict.DANGEROUS
    assert classify(module, name + ".loads") is Verdict.DANGEROUS


def test_the_alias_import_fails_the_scan(tmp_path: Path) -> None:
    f = tmp_path / "m.pkl"
    f.write_bytes(b"\x80\x04\x8c\x0btracemalloc\x8c\x06pickle\x93\x8c\x01x\x85R.")
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert any(x.rule_id == "EGM001" and x.blocking for x in result.findings)


@pytest.mark.parametrize(("module", "name"), [
    ("array", "array"), ("datetime", "datetime"), ("datetime", "time"), ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"), ("numpy.core.multiarray", "_reconstruct"), ("torch", "float32"),
])
def test_classes_named_like_their_module_are_not_module_aliases(module: str, name: str) -> None:
    assert classify(module, name) is not Verdict.DANGEROUS


def test_build_on_an_imported_module_rewrites_it_and_is_dangerous(tmp_path: Path) -> None:
    import pickle as real_pickle

    data = b"ctracemalloc\npickle\n(dS'_edgegate_probe'\nI1\nsb."
    try:
        pickle.loads(data)  # defanged: sets one attribute on the pickle module, removed below
        assert real_pickle._edgegate_probe == 1  # type: ignore[attr-defined]
    finally:
        real_pickle.__dict__.pop("_edgegate_probe", None)
    f = tmp_path / "m.pkl"
    f.write_bytes(data)
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert any(x.rule_id == "EGM001" and x.blocking for x in result.findings)


def test_build_on_an_allowed_class_itself_is_dangerous(tmp_path: Path) -> None:
    import argparse

    data = b"cargparse\nNamespace\n(N(dS'_edgegate_probe'\nI1\nstb."
    try:
        pickle.loads(data)  # defanged: sets one class attribute, removed below
        assert argparse.Namespace._edgegate_probe == 1  # type: ignore[attr-defined]
    finally:
        if hasattr(argparse.Namespace, "_edgegate_probe"):
            delattr(argparse.Namespace, "_edgegate_probe")
    f = tmp_path / "m.pkl"
    f.write_bytes(data)
    result = scan_paths([f])
    assert result.status is Status.FAILED
    assert any(x.rule_id == "EGM001" and x.blocking for x in result.findings)
    # BUILD on an instance (the ordinary shape) stays clean
    ok = tmp_path / "ok.pkl"
    ok.write_bytes(pickle.dumps(argparse.Namespace(a=1), protocol=2))
    assert scan_paths([ok]).status is Status.PASSED
