"""`sbom python` on a pyproject.toml whose dependencies are `dynamic`, and requirement lines it
does not inventory: never silently nothing.

Peer: setuptools' own reading of ``[tool.setuptools.dynamic]`` (`read_configuration`, which for
``file =`` only reads the files) gives the same requirement list.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from edgegate.errors import InputError
from edgegate.sbom.api import python_sbom

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "app"
version = "1.0"
dynamic = ["dependencies", "optional-dependencies"]

[tool.setuptools.dynamic]
dependencies = {file = ["requirements.in", "more.txt"]}
optional-dependencies.test = {file = ["test.txt"]}
"""


def _components(out: Path) -> set[tuple[str, str | None]]:
    doc = json.loads(out.read_text())
    return {(c["name"], c.get("version")) for c in doc.get("components", [])}


def _project(tmp_path: Path, pyproject: str = PYPROJECT) -> Path:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "requirements.in").write_text("# runtime\nrequests==2.31.0\nrich>=13\n")
    (tmp_path / "more.txt").write_text("idna==3.7  # pinned\n")
    (tmp_path / "test.txt").write_text("pytest==8.0.0\n")
    return tmp_path


def test_setuptools_dynamic_dependency_files_are_read(tmp_path: Path) -> None:
    root = _project(tmp_path)
    out = tmp_path / "s.json"
    python_sbom(root / "pyproject.toml", out)
    assert _components(out) == {("requests", "2.31.0"), ("rich", None), ("idna", "3.7"), ("pytest", "8.0.0")}
    try:
        from packaging.requirements import Requirement
        from setuptools.config.pyprojecttoml import read_configuration
    except ImportError:
        pytest.skip("no setuptools")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "[tool.setuptools] support is beta"
        conf = read_configuration(root / "pyproject.toml", expand=True)["project"]
    optional = conf.get("optional-dependencies") or conf["optional_dependencies"]  # setuptools < 68
    specs = conf["dependencies"] + [d for deps in optional.values() for d in deps]
    # setuptools 65 keeps an end-of-line comment in the string; pip and packaging drop it
    assert {Requirement(s.split("#", 1)[0]).name for s in specs} == {n for n, _ in _components(out)}


def test_dynamic_dependencies_not_read_are_warned(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "1"\ndynamic = ["dependencies"]\n'
        'optional-dependencies = {x = ["six==1.16.0"]}\n'
    )
    out = tmp_path / "s.json"
    result = python_sbom(tmp_path / "pyproject.toml", out)
    assert _components(out) == {("six", "1.16.0")}
    assert [f.rule_id for f in result.findings] == ["EGS301"]  # the one dynamic key not read


def test_dynamic_dependencies_and_nothing_else_is_no_empty_sbom(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1"\ndynamic = ["dependencies"]\n')
    with pytest.raises(InputError):
        python_sbom(tmp_path / "pyproject.toml", tmp_path / "s.json")
    assert not (tmp_path / "s.json").exists()


def test_a_dynamic_file_outside_the_project_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (tmp_path / "outside.txt").write_text("six==1.16.0\n")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "1"\ndynamic = ["dependencies"]\n'
        'optional-dependencies = {x = ["idna==3.7"]}\n'
        '[tool.setuptools.dynamic]\ndependencies = {file = ["../outside.txt"]}\n'
    )
    with pytest.raises(InputError):
        python_sbom(root / "pyproject.toml", tmp_path / "s.json")


def test_editable_requirement_lines_are_warned(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("six==1.16.0\n-e ./libs/foo\n--editable=git+https://x/y#egg=y\n")
    out = tmp_path / "s.json"
    result = python_sbom(tmp_path, out)
    assert _components(out) == {("six", "1.16.0")}
    assert [f.rule_id for f in result.findings] == ["EGS301", "EGS301"]  # one per editable line
