"""Locked packages from local wheels, sdists and folders are dependencies, not the project.

Peer: cyclonedx-py poetry lists a `[package.source] type = "file"` package (name and version,
no purl). edgegate keeps the pypi purl for a local *file*: the wheel is that release's code, and
the purl is what lets the vuln gate match the version. A local *folder* gets no purl (it is not
a release), like a PEP 610 local install.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from edgegate.sbom.api import python_sbom

CYCLONEDX_PY = Path(sys.executable).parent / "cyclonedx-py"

POETRY_LOCK = """\
[[package]]
name = "jinja2"
version = "2.10"
description = ""
optional = false
python-versions = "*"
files = [{file = "Jinja2-2.10-py2.py3-none-any.whl", hash = "sha256:00"}]

[package.source]
type = "file"
url = "wheels/Jinja2-2.10-py2.py3-none-any.whl"

[[package]]
name = "sibling"
version = "0.3.0"
description = ""
optional = false
python-versions = "*"
files = []
develop = false

[package.source]
type = "directory"
url = "../sibling"

[[package]]
name = "six"
version = "1.16.0"
description = ""
optional = false
python-versions = "*"
files = []

[metadata]
lock-version = "2.0"
python-versions = "^3.11"
content-hash = "00"
"""
POETRY_PYPROJECT = """\
[tool.poetry]
name = "app"
version = "1.0"
description = ""
authors = []
[tool.poetry.dependencies]
python = "^3.11"
jinja2 = {path = "wheels/Jinja2-2.10-py2.py3-none-any.whl"}
sibling = {path = "../sibling"}
six = "1.16.0"
[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
"""
UV_LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "app"
version = "1.0"
source = { editable = "." }
dependencies = [{ name = "jinja2" }, { name = "six" }, { name = "sibling" }]

[[package]]
name = "jinja2"
version = "2.10"
source = { path = "wheels/Jinja2-2.10-py2.py3-none-any.whl" }
wheels = [{ filename = "Jinja2-2.10-py2.py3-none-any.whl", hash = "sha256:00" }]

[[package]]
name = "sibling"
version = "0.3.0"
source = { directory = "../sibling" }

[[package]]
name = "six"
version = "1.16.0"
source = { registry = "https://pypi.org/simple" }
"""
EXPECTED = {
    ("jinja2", "2.10", "pkg:pypi/jinja2@2.10"),
    ("sibling", "0.3.0", None),
    ("six", "1.16.0", "pkg:pypi/six@1.16.0"),
}


def _components(out: Path) -> set[tuple[str, str | None, str | None]]:
    doc = json.loads(out.read_text())
    return {(c["name"], c.get("version"), c.get("purl")) for c in doc.get("components", [])}


def test_uv_lock_local_wheel_and_folder_are_listed(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(UV_LOCK)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1.0"\n')
    out = tmp_path / "s.json"
    python_sbom(tmp_path, out)
    assert _components(out) == EXPECTED


def test_poetry_lock_local_wheel_and_folder_are_listed(tmp_path: Path) -> None:
    (tmp_path / "poetry.lock").write_text(POETRY_LOCK)
    (tmp_path / "pyproject.toml").write_text(POETRY_PYPROJECT)
    out = tmp_path / "s.json"
    python_sbom(tmp_path, out)
    assert _components(out) == EXPECTED
    exe = str(CYCLONEDX_PY) if CYCLONEDX_PY.exists() else shutil.which("cyclonedx-py")
    if exe is None:
        pytest.skip("cyclonedx-py (cyclonedx-bom) is not installed")
    import subprocess

    theirs = tmp_path / "cdxpy.json"
    # --no-validate: cyclonedx-py 4 writes the relative wheel path as an external reference URL,
    # which its own validator then refuses
    subprocess.run([exe, "poetry", str(tmp_path), "--of", "JSON", "--no-validate", "-o", str(theirs)],
                   check=True, capture_output=True, timeout=120)
    assert {(n, v) for n, v, _ in _components(theirs)} == {(n, v) for n, v, _ in EXPECTED}
