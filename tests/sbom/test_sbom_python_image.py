"""Python distributions in images beyond ``*.dist-info``: eggs (directories and zipped, from
``setup.py install`` / ``easy_install``), and metadata without a version.

Peers, on the same files as a rootfs folder: Trivy lists both egg forms; Syft lists the egg
directory and a METADATA without a version (as ``UNKNOWN``), not the zipped egg.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from sbom_helpers import OS_RELEASE, E, docker_archive, layer_tar, peer_purls, sbom_purls, syft_bin, trivy_bin

from edgegate.sbom.api import image_sbom

SP = "usr/local/lib/python3.11/site-packages"


def _meta(name: str, version: str | None) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\n" + (f"Version: {version}\n" if version else "")


def _egg_zip(pkg_info: str | None, *, deflate: bool = True) -> bytes:
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", method) as z:
        z.writestr("zipped_egg/__init__.py", "raise SystemExit('never imported')\n" + "#" * 5000)
        if pkg_info is not None:
            z.writestr("EGG-INFO/PKG-INFO", pkg_info)
        z.writestr("EGG-INFO/top_level.txt", "zipped_egg\n")
    return buf.getvalue()


FILES: dict[str, str | bytes] = {
    "etc/os-release": OS_RELEASE,
    f"{SP}/unzipped_egg-1.0-py3.11.egg/EGG-INFO/PKG-INFO": _meta("unzipped-egg", "1.0"),
    f"{SP}/zipped_egg-1.0-py3.11.egg": _egg_zip(_meta("zipped-egg", "1.0")),
    f"{SP}/stored_egg-2.0-py3.11.egg": _egg_zip(_meta("stored-egg", "2.0"), deflate=False),
    f"{SP}/six-1.16.0.dist-info/METADATA": _meta("six", "1.16.0"),
}


def _rootfs(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    root = tmp_path / "rootfs"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data.encode() if isinstance(data, str) else data)
    return root


@pytest.mark.parametrize("kind", ["docker-archive", "rootfs"])
def test_eggs_directories_and_zipped_are_listed(tmp_path: Path, kind: str) -> None:
    if kind == "rootfs":
        src = str(_rootfs(tmp_path, FILES))
    else:
        src = str(docker_archive(tmp_path / "img.tar", [layer_tar([E(k, data=v) for k, v in FILES.items()])]))
    out = tmp_path / "s.json"
    image_sbom(src, out)
    assert sbom_purls(out) == {
        "pkg:pypi/unzipped-egg@1.0",
        "pkg:pypi/zipped-egg@1.0",
        "pkg:pypi/stored-egg@2.0",
        "pkg:pypi/six@1.16.0",
    }


@pytest.mark.skipif(trivy_bin() is None, reason="no Trivy")
def test_trivy_lists_the_same_eggs(tmp_path: Path) -> None:
    root = _rootfs(tmp_path, FILES)
    out = tmp_path / "s.json"
    image_sbom(str(root), out)
    trivy = trivy_bin()
    assert trivy is not None
    assert sbom_purls(out) == peer_purls(trivy, root)


def test_a_hard_linked_egg_and_an_unreadable_one(tmp_path: Path) -> None:
    """A hard link at an egg path takes the egg's bytes; a `.egg` that is no zip, or a zip
    without EGG-INFO/PKG-INFO, is a warning, never a silent nothing."""
    layer = layer_tar(
        [
            E("etc/os-release", data=OS_RELEASE),
            E("blobs/abc", data=_egg_zip(_meta("linked-egg", "3.0"))),
            E(f"{SP}/linked_egg-3.0.egg", "hardlink", "blobs/abc"),
            E(f"{SP}/broken-1.0.egg", data="not a zip"),
            E(f"{SP}/empty-1.0.egg", data=_egg_zip(None)),
        ]
    )
    out = tmp_path / "s.json"
    result = image_sbom(str(docker_archive(tmp_path / "img.tar", [layer])), out)
    assert sbom_purls(out) == {"pkg:pypi/linked-egg@3.0"}
    warned = {f.details.get("path") for f in result.findings if f.rule_id == "EGS106"}
    assert warned == {f"{SP}/broken-1.0.egg", f"{SP}/empty-1.0.egg"}


def test_metadata_without_a_version_is_listed_without_one(tmp_path: Path) -> None:
    """Syft lists it (version UNKNOWN): the vuln gate then reports it as not checkable."""
    files = {"etc/os-release": OS_RELEASE, f"{SP}/nover-1.0.dist-info/METADATA": _meta("nover", None)}
    root = _rootfs(tmp_path, files)
    out = tmp_path / "s.json"
    image_sbom(str(root), out)
    assert sbom_purls(out) == {"pkg:pypi/nover"}
    syft = syft_bin()
    if syft is not None:
        assert {p.split("@", 1)[0] for p in peer_purls(syft, root)} == {"pkg:pypi/nover"}


def test_metadata_starting_with_a_byte_order_mark(tmp_path: Path) -> None:
    """Syft lists it (its files are on disk); the BOM hid every header from the parser."""
    files = {"etc/os-release": OS_RELEASE, f"{SP}/bompkg-1.0.dist-info/METADATA": "\ufeff" + _meta("bompkg", "1.0")}
    root = _rootfs(tmp_path, files)
    out = tmp_path / "s.json"
    image_sbom(str(root), out)
    assert sbom_purls(out) == {"pkg:pypi/bompkg@1.0"}
    syft = syft_bin()
    if syft is not None:
        assert peer_purls(syft, root) == {"pkg:pypi/bompkg@1.0"}
