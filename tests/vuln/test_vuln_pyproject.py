"""pyproject.toml ``dynamic`` dependencies: setuptools' ``{file = [...]}`` read as requirements
(confined to the project), any other source one not-checked entry (EGV001), never nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from vuln_records import write_records

from edgegate.errors import InputError
from edgegate.findings import Status
from edgegate.vuln.requirements import read_python_path
from edgegate.vuln.scan import ScanInput, ScanSettings, scan

SETUPTOOLS = """[project]
name = "app"
version = "1.0"
dynamic = ["dependencies"]
[project.optional-dependencies]
dev = ["six==1.16.0"]
[tool.setuptools.dynamic]
dependencies = {file = ["requirements/base.txt"]}
"""


def _project(tmp_path: Path, pyproject: str, files: dict[str, str] | None = None) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "edgegate.toml").write_text("")
    (root / "pyproject.toml").write_text(pyproject)
    for name, text in (files or {"requirements/base.txt": "jinja2==2.10\n"}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "pyproject.toml"


def _checked(path: Path) -> set[tuple[str, bool]]:
    return {(c.key, c.problem is None) for c in read_python_path(path, "pyproject.toml")}


def test_setuptools_dynamic_dependencies_file_is_read(cli, tmp_path: Path) -> None:
    path = _project(tmp_path, SETUPTOOLS)
    assert _checked(path) == {("jinja2", True), ("six", True)}
    out = cli("vuln", "scan", path, "--db", write_records(tmp_path / "osv"), "--no-config")
    assert out.exit_code == 1  # jinja2 2.10: PYSEC-0000-1


def test_several_files_and_dynamic_extras_are_read(tmp_path: Path) -> None:
    path = _project(tmp_path, """[project]
name = "app"
dynamic = ["dependencies", "optional-dependencies"]
[tool.setuptools.dynamic]
dependencies = {file = ["a.txt", "b.txt"]}
optional-dependencies.dev = {file = "dev.txt"}
""", {"a.txt": "jinja2==2.10\n", "b.txt": "-r c.txt\n", "c.txt": "urllib3==2.0.3\n", "dev.txt": "six==1.16.0\n"})
    assert _checked(path) == {("jinja2", True), ("urllib3", True), ("six", True)}


@pytest.mark.parametrize("pyproject", [
    '[project]\nname = "app"\ndynamic = ["dependencies"]\n',
    '[project]\nname = "app"\ndynamic = ["dependencies"]\n[tool.hatch.metadata.hooks.requirements_txt]\nfiles = ["r.txt"]\n',
    '[project]\nname = "app"\ndynamic = ["dependencies"]\n[tool.poetry.dependencies]\njinja2 = "2.10"\n',
    '[project]\nname = "app"\ndynamic = ["dependencies"]\n[tool.setuptools.dynamic]\ndependencies = {attr = "x.y"}\n',
    '[project]\nname = "app"\ndependencies = ["six==1.16.0"]\ndynamic = ["optional-dependencies"]\n',
    '[tool.poetry]\nname = "app"\n[tool.poetry.dependencies]\njinja2 = "2.10"\n',
])
def test_dynamic_dependencies_edgegate_cannot_read_are_not_checked(pyproject: str, tmp_path: Path) -> None:
    path = _project(tmp_path, pyproject)
    comps = read_python_path(path, "pyproject.toml")
    assert [c for c in comps if c.problem is not None]
    db = write_records(tmp_path / "osv")
    result = scan([ScanInput("python", path, "pyproject.toml")], ScanSettings(db=db))
    assert result.status is Status.ERROR and "EGV001" in {f.rule_id for f in result.findings}
    allowed = scan([ScanInput("python", path, "pyproject.toml")], ScanSettings(db=db, allow_unchecked=True))
    assert allowed.status is Status.PASSED


@pytest.mark.parametrize(("pyproject", "files"), [
    (SETUPTOOLS.replace("requirements/base.txt", "../outside.txt"), None),  # outside the project
    (SETUPTOOLS.replace("requirements/base.txt", "missing.txt"), None),
    (SETUPTOOLS, {"requirements/base.txt": "-r ../../outside.txt\n"}),  # its includes are confined too
    (SETUPTOOLS.replace('{file = ["requirements/base.txt"]}', "{file = 3}"), None),
    (SETUPTOOLS.replace('version = "1.0"', 'dependencies = ["six==1.16.0"]'), None),  # listed and dynamic
    ('[project]\nname = "app"\ndependencies = ["six==1.16.0", {name = "six"}]\n', None),
])
def test_bad_dynamic_sources_are_input_errors(pyproject: str, files: dict[str, str] | None, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("jinja2==2.10\n")
    with pytest.raises(InputError):
        read_python_path(_project(tmp_path, pyproject, files), "pyproject.toml")
