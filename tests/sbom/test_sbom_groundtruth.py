"""Ground truth: a debootstrap minbase bookworm rootfs (scripts/fixtures/build-rootfs.sh), read as a
directory, a docker-archive and an OCI layout tarball, must give exactly dpkg-query's packages."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sbom_helpers import dir_layer_file, docker_archive, oci_layout, rootfs_dir

from edgegate.sbom.api import image_sbom
from edgegate.sbom.bom import validate_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rootfs() -> Path:
    root = rootfs_dir()
    if root is None:
        pytest.skip(
            "no debootstrap rootfs: run scripts/fixtures/build-rootfs.sh (as root, needs debootstrap) "
            "or set EDGEGATE_TEST_ROOTFS"
        )
    if shutil.which("dpkg-query") is None:
        pytest.skip("dpkg-query is not installed")
    return root


@pytest.fixture(scope="module")
def expected(rootfs: Path) -> set[tuple[str, str]]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${Version}\n", f"--admindir={rootfs}/var/lib/dpkg"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pkgs = {tuple(line.split("\t")) for line in out.splitlines() if line}
    assert len(pkgs) > 50
    return pkgs  # type: ignore[return-value]


@pytest.fixture(scope="module")
def layer(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dir_layer_file(rootfs, tmp_path_factory.mktemp("layer") / "rootfs.tar")


def _debs(path: Path) -> set[tuple[str, str]]:
    assert validate_file(path) is None
    doc = json.loads(path.read_text())
    return {(c["name"], c["version"]) for c in doc["components"] if c.get("purl", "").startswith("pkg:deb/")}


def test_rootfs_directory_matches_dpkg_query(rootfs: Path, expected: set, tmp_path: Path) -> None:
    out = tmp_path / "sbom.json"
    result = image_sbom(str(rootfs), out)
    assert _debs(out) == expected
    assert result.stats["os"] == "debian-12"
    doc = json.loads(out.read_text())
    purls = {c["purl"] for c in doc["components"] if c.get("purl", "").startswith("pkg:deb/")}
    assert "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib" in purls
    lic = {
        c["name"]: {
            x.get("expression") or x["license"].get("id") or x["license"].get("name")
            for x in c.get("licenses", [])
        }
        for c in doc["components"]
        if c.get("purl", "").startswith("pkg:deb/")
    }
    assert lic["zlib1g"] == {"Zlib"}
    assert {"GPL-2.0-only", "LGPL-2.1-only"} <= lic["libc6"]
    assert sum(1 for v in lic.values() if v) >= 80  # Trivy finds licences for 85 of the 88


def test_docker_archive_matches_dpkg_query(layer: Path, expected: set, tmp_path: Path) -> None:
    img = docker_archive(tmp_path / "img.tar", [layer])
    out = tmp_path / "sbom.json"
    image_sbom(str(img), out)
    assert _debs(out) == expected


def test_oci_layout_tar_matches_dpkg_query(layer: Path, expected: set, tmp_path: Path) -> None:
    img = oci_layout(tmp_path / "oci.tar", [layer], as_tar=True)
    out = tmp_path / "sbom.json"
    image_sbom(str(img), out)
    assert _debs(out) == expected
