"""Python SBOMs side by side with cyclonedx-py (cyclonedx-bom) on the same inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgegate.sbom.api import python_sbom
from edgegate.sbom.bom import validate_file

CYCLONEDX_PY = Path(sys.executable).parent / "cyclonedx-py"
HASH = "a" * 64


def _cdxpy(*args: str, tmp_path: Path) -> set[tuple[str, str | None]]:
    if not CYCLONEDX_PY.exists() and shutil.which("cyclonedx-py") is None:
        pytest.skip("cyclonedx-py (cyclonedx-bom) is not installed")
    exe = str(CYCLONEDX_PY) if CYCLONEDX_PY.exists() else "cyclonedx-py"
    out = tmp_path / "cdxpy.json"
    subprocess.run([exe, *args, "--of", "JSON", "-o", str(out)], check=True, capture_output=True, timeout=120)
    return _set(out)


def _set(path: Path) -> set[tuple[str, str | None]]:
    doc = json.loads(path.read_text())
    # cyclonedx-py gives no purl for a local-directory install (PEP 610 file:// URL), nor do we
    return {(c.get("purl") or f"local:{c['name']}", c.get("version")) for c in doc.get("components", [])}


def test_requirements_same_components_as_cyclonedx_py(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "# app\nrequests==2.31.0\nFlask_Login==0.6.3 ; python_version > '3'\n-r more.txt\n"
        "numpy>=1.0  # not pinned\nurllib3[socks]==2.2.1\n"
    )
    (tmp_path / "more.txt").write_text(f"PyYAML==6.0.1 \\\n    --hash=sha256:{HASH}\n")
    out = tmp_path / "ours.json"
    result = python_sbom(tmp_path / "requirements.txt", out)
    assert validate_file(out) is None
    ours = _set(out)
    theirs = _cdxpy("requirements", str(tmp_path / "requirements.txt"), tmp_path=tmp_path)
    assert ours == theirs
    assert ("pkg:pypi/flask-login@0.6.3", "0.6.3") in ours
    assert ("pkg:pypi/numpy", None) in ours
    assert [f.rule_id for f in result.findings] == ["EGS301"]


@pytest.mark.slow
def test_environment_same_components_as_cyclonedx_py(tmp_path: Path) -> None:
    env = Path(sys.prefix)
    if not (env / "pyvenv.cfg").is_file():
        pytest.skip("tests are not running in a virtual environment")
    out = tmp_path / "ours.json"
    python_sbom(env, out)
    assert validate_file(out) is None
    ours = _set(out)
    theirs = _cdxpy("environment", sys.executable, tmp_path=tmp_path)
    assert len(ours) > 20
    assert ours == theirs


def test_pyproject_dependencies(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.2.3"\ndependencies = ["requests==2.31.0", "rich>=13"]\n'
        '[project.optional-dependencies]\ndev = ["pytest==8.0.0"]\n'
    )
    out = tmp_path / "o.json"
    python_sbom(tmp_path, out)
    doc = json.loads(out.read_text())
    assert doc["metadata"]["component"]["name"] == "demo"
    assert doc["metadata"]["component"]["version"] == "1.2.3"
    assert _set(out) == {
        ("pkg:pypi/requests@2.31.0", "2.31.0"),
        ("pkg:pypi/rich", None),
        ("pkg:pypi/pytest@8.0.0", "8.0.0"),
    }


def test_bad_requirement_is_exit_2(tmp_path: Path, cli) -> None:
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\nthis is not valid ===\n")
    r = cli("sbom", "python", tmp_path, "--sbom-output", tmp_path / "o.json")
    assert r.exit_code == 2
    assert "requirements.txt:2" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "o.json").exists()
    r = cli("sbom", "python", tmp_path / "empty-dir-does-not-exist", "--sbom-output", tmp_path / "o.json")
    assert r.exit_code == 2


DATA = Path(__file__).parent / "data"


def test_poetry_lock_same_components_as_cyclonedx_py(tmp_path: Path) -> None:
    shutil.copy(DATA / "poetry-pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(DATA / "poetry.lock", tmp_path / "poetry.lock")
    out = tmp_path / "ours.json"
    python_sbom(tmp_path, out)
    assert validate_file(out) is None
    doc = json.loads(out.read_text())
    assert (doc["metadata"]["component"]["name"], doc["metadata"]["component"]["version"]) == (
        "demo",
        "0.1.0",
    )
    theirs = _cdxpy("poetry", str(tmp_path), tmp_path=tmp_path)
    assert _set(out) == theirs
    assert len(theirs) == 3


def test_uv_lock_skips_the_project_itself(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "2.0.0"\n')
    (tmp_path / "uv.lock").write_text(
        'version = 1\nrequires-python = ">=3.10"\n\n'
        '[[package]]\nname = "app"\nversion = "2.0.0"\nsource = { editable = "." }\n\n'
        '[[package]]\nname = "idna"\nversion = "3.7"\nsource = { registry = "https://pypi.org/simple" }\n\n'
        '[[package]]\nname = "Flask_Login"\nversion = "0.6.3"\nsource = { registry = "https://pypi.org/simple" }\n'
    )
    out = tmp_path / "o.json"
    python_sbom(tmp_path / "uv.lock", out)
    assert _set(out) == {("pkg:pypi/idna@3.7", "3.7"), ("pkg:pypi/flask-login@0.6.3", "0.6.3")}
    assert json.loads(out.read_text())["metadata"]["component"]["name"] == "app"


def test_output_path_problems_are_exit_2(tmp_path: Path, cli) -> None:
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\n")
    r = cli("sbom", "python", tmp_path, "--sbom-output", tmp_path)
    assert r.exit_code == 2 and "output path is a directory" in r.stderr
    r = cli("sbom", "python", tmp_path, "--sbom-output", tmp_path / "missing" / "o.json")
    assert r.exit_code == 2 and "output folder does not exist" in r.stderr
    r = cli(
        "sbom",
        "python",
        tmp_path,
        "--sbom-output",
        tmp_path / "o.json",
        "-f",
        "json",
        "-o",
        tmp_path / "r.json",
    )
    assert r.exit_code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["gates"][0]["stats"]["components"] == 1
    assert [x.name for x in tmp_path.iterdir() if x.name.endswith(".tmp")] == []


def test_report_output_old_spelling_warns_and_sbom_needs_its_own_option(tmp_path: Path, cli) -> None:
    (tmp_path / "requirements.txt").write_text("requests==2.31.0\n")
    r = cli("sbom", "python", tmp_path, "--sbom-output", tmp_path / "s.json", "-f", "json",
            "--report-output", tmp_path / "r.json")
    assert r.exit_code == 0 and "--report-output is deprecated" in r.stderr
    assert json.loads((tmp_path / "r.json").read_text())["gates"][0]["stats"]["components"] == 1
    both = cli("sbom", "python", tmp_path, "--sbom-output", tmp_path / "s.json", "-o", tmp_path / "a.json",
               "--report-output", tmp_path / "b.json")
    assert both.exit_code == 2 and not (tmp_path / "a.json").exists()
    # the old `-o SBOM` is now the report: without --sbom-output the command is a usage error
    old = cli("sbom", "python", tmp_path, "-o", tmp_path / "old.json")
    assert old.exit_code == 2 and not (tmp_path / "old.json").exists()


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("poetry.lock", '[[package]]\nname = "idna"\nversion = 3.7\n', "version"),
        ("poetry.lock", '[[package]]\nname = 1\nversion = "3.7"\n', "name"),
        ("poetry.lock", 'package = [1, 2]\n', "not a table"),
        ("uv.lock", '[[package]]\nname = "idna"\n', "version"),
        ("pyproject.toml", '[project]\nname = "x"\n[project.optional-dependencies]\nx = [1]\n', "optional"),
        ("pyproject.toml", '[project]\nname = "x"\noptional-dependencies = [1]\n', "optional"),
        ("pyproject.toml", '[project]\nname = "x"\ndependencies = "requests"\n', "dependencies"),
        ("pyproject.toml", '[project]\nname = "x"\ndependencies = [{a = 1}]\n', "dependencies"),
    ],
)
def test_wrong_types_are_input_errors_never_an_empty_sbom(
    tmp_path: Path, cli, name: str, text: str, words: str
) -> None:
    (tmp_path / name).write_text(text)
    out = tmp_path / "o.json"
    r = cli("sbom", "python", tmp_path / name, "--sbom-output", out)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert name in r.stderr and words in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "internal error" not in r.stderr
    assert not out.exists()


def test_lock_next_to_a_pyproject_with_a_bad_tool_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("tool = [1]\n")
    (tmp_path / "poetry.lock").write_text('[[package]]\nname = "idna"\nversion = "3.7"\n')
    out = tmp_path / "o.json"
    python_sbom(tmp_path / "poetry.lock", out)
    assert _set(out) == {("pkg:pypi/idna@3.7", "3.7")}
