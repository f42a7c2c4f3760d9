"""rpm: a real rpmdb.sqlite written by rpm itself (packages built with rpmbuild in the test),
read out of an image layer; a BerkeleyDB database is reported as not read."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sbom_helpers import E, docker_archive, layer_tar

from edgegate.sbom.api import image_sbom

SPEC = """Name: {name}
Version: {version}
Release: {release}
{epoch}Summary: test package
License: {license}
BuildArch: noarch
%description
test package
%files
"""


def _build_rpm(top: Path, name: str, version: str, release: str, license_: str, epoch: str | None) -> Path:
    spec = top / f"{name}.spec"
    spec.write_text(
        SPEC.format(
            name=name,
            version=version,
            release=release,
            license=license_,
            epoch=f"Epoch: {epoch}\n" if epoch else "",
        )
    )
    subprocess.run(
        ["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", str(spec)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return next((top / "RPMS" / "noarch").glob(f"{name}-{version}-*.rpm"))


@pytest.fixture(scope="module")
def rpmdb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if shutil.which("rpmbuild") is None or shutil.which("rpm") is None:
        pytest.skip("rpm/rpmbuild are not installed (apt-get install rpm)")
    top = tmp_path_factory.mktemp("rpmbuild")
    rpms = [
        _build_rpm(top, "edgegate-demo", "1.2.3", "4.fc39", "MIT AND Apache-2.0", "2"),
        _build_rpm(top, "tiny-lib", "0.9", "1.fc39", "BSD-3-Clause", None),
    ]
    dbpath = top / "db"
    dbpath.mkdir()
    subprocess.run(["rpm", "--dbpath", str(dbpath), "--initdb"], check=True, capture_output=True)
    subprocess.run(
        ["rpm", "--dbpath", str(dbpath), "-i", "--justdb", "--nodeps", "--noscripts", *map(str, rpms)],
        check=True,
        capture_output=True,
    )
    db = dbpath / "rpmdb.sqlite"
    assert db.is_file()
    return db.read_bytes()


def test_real_rpmdb_sqlite(rpmdb: bytes, tmp_path: Path) -> None:
    layer = layer_tar(
        [
            E("etc/os-release", data='ID=fedora\nVERSION_ID=39\nPRETTY_NAME="Fedora Linux 39"\n'),
            E("usr/lib/sysimage/rpm/rpmdb.sqlite", data=rpmdb),
        ]
    )
    out = tmp_path / "s.json"
    result = image_sbom(str(docker_archive(tmp_path / "img.tar", [layer])), out)
    assert [f.rule_id for f in result.findings] == []
    comps = {c["name"]: c for c in json.loads(out.read_text())["components"] if c["type"] == "library"}
    assert set(comps) == {"edgegate-demo", "tiny-lib"}
    demo = comps["edgegate-demo"]
    assert demo["version"] == "2:1.2.3-4.fc39"
    assert (
        demo["purl"]
        == "pkg:rpm/fedora/edgegate-demo@1.2.3-4.fc39?arch=noarch&distro=fedora-39&epoch=2&upstream=edgegate-demo-1.2.3-4.fc39.src.rpm"
    )
    assert demo["licenses"] == [{"expression": "MIT AND Apache-2.0"}]
    assert comps["tiny-lib"]["purl"].startswith("pkg:rpm/fedora/tiny-lib@0.9-1.fc39?arch=noarch")


def test_berkeleydb_rpmdb_is_reported_not_read(tmp_path: Path) -> None:
    layer = layer_tar([E("var/lib/rpm/Packages", data=b"\0" * 4096)])
    result = image_sbom(str(docker_archive(tmp_path / "img.tar", [layer])), tmp_path / "s.json")
    notes = [f for f in result.findings if f.rule_id == "EGS102"]
    assert len(notes) == 1 and "BerkeleyDB database found and not read" in notes[0].message
    assert result.status.value == "passed"
