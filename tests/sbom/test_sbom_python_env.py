"""`sbom python VENV`: every distribution importlib.metadata finds on the environment's path.

The truth is ``importlib.metadata.distributions(path=[...])`` run on the fixture venv built here,
with the path the venv's interpreter would have: site-packages plus the folders and eggs its
``*.pth`` files name (written out by hand, not computed with `site`, which would run ``import``
lines). importlib only reads metadata files; nothing of the fixture is imported or run.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import zipfile
from pathlib import Path

from edgegate.sbom.api import python_sbom


def _meta(name: str, version: str | None) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\n" + (f"Version: {version}\n" if version else "")


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def _zipped_egg(name: str, version: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("EGG-INFO/PKG-INFO", _meta(name, version))
        z.writestr(f"{name}/__init__.py", "raise SystemExit('never imported')\n")
    return buf.getvalue()


def _venv(tmp_path: Path) -> tuple[Path, list[Path]]:
    env = tmp_path / "venv"
    sp = env / "lib/python3.11/site-packages"
    extra = tmp_path / "extra"
    _write(env / "pyvenv.cfg", "home = /usr/bin\ninclude-system-site-packages = false\n")
    _write(sp / "jinja2-2.10.dist-info/METADATA", _meta("Jinja2", "2.10"))
    _write(sp / "urllib3-2.2.2.dist-info/METADATA", _meta("urllib3", "2.2.2"))
    _write(sp / "urllib3-1.26.0.dist-info/METADATA", _meta("urllib3", "1.26.0"))
    _write(sp / "pkg-1.9.dist-info/METADATA", _meta("pkg", "1.9"))
    _write(sp / "pkg-1.10.dist-info/METADATA", _meta("pkg", "1.10"))
    _write(sp / "eggfile_pkg-1.0-py3.11.egg-info", _meta("eggfile-pkg", "1.0"))
    _write(sp / "eggdir_pkg-1.0-py3.11.egg-info/PKG-INFO", _meta("eggdir-pkg", "1.0"))
    _write(sp / "nover-1.0.dist-info/METADATA", _meta("nover", None))
    _write(sp / "unz-1.0-py3.11.egg/EGG-INFO/PKG-INFO", _meta("unz", "1.0"))
    _write(sp / "zipped-2.0-py3.11.egg", _zipped_egg("zipped", "2.0"))
    _write(
        sp / "easy-install.pth",
        "# comment\nimport sys; sys.__egg_insert = 0\n./unz-1.0-py3.11.egg\n./zipped-2.0-py3.11.egg\n\n./gone\n",
    )
    _write(extra / "pillow-9.0.0.dist-info/METADATA", _meta("Pillow", "9.0.0"))
    _write(sp / "extra.pth", f"{extra}\n")
    path = [sp, sp / "unz-1.0-py3.11.egg", sp / "zipped-2.0-py3.11.egg", extra]
    return env, path


def _components(out: Path) -> set[tuple[str, str | None]]:
    doc = json.loads(out.read_text())
    return {(c["name"], c.get("version")) for c in doc.get("components", [])}


def test_environment_lists_what_importlib_metadata_lists(tmp_path: Path) -> None:
    env, path = _venv(tmp_path)
    truth = {
        (d.metadata["Name"], d.metadata["Version"])
        for d in importlib.metadata.distributions(path=[str(p) for p in path])
    }
    assert ("pkg", "1.9") in truth and ("pkg", "1.10") in truth and ("unz", "1.0") in truth  # the fixture
    out = tmp_path / "s.json"
    python_sbom(env, out)
    assert _components(out) == truth


def test_a_versionless_distribution_is_listed_and_warned(tmp_path: Path) -> None:
    env = tmp_path / "venv"
    _write(env / "pyvenv.cfg", "home = /usr/bin\n")
    _write(env / "lib/python3.11/site-packages/nover-1.0.dist-info/METADATA", _meta("nover", None))
    out = tmp_path / "s.json"
    result = python_sbom(env, out)
    assert _components(out) == {("nover", None)}
    assert result.findings
