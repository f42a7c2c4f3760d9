"""Package databases reached through symlinks inside the image: ``var/lib/dpkg`` -> ``usr/lib/dpkg``,
``status`` -> another file, a later layer turning ``var/lib/dpkg`` into a symlink, an apk
database folder linked elsewhere. Syft follows them (checked when a Syft build is found), except
to a linked ``status.d``; Trivy follows none. An absolute link is the image's path, never the host's.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from sbom_helpers import OS_RELEASE, E, docker_archive, layer_tar, sbom_purls, syft_bin

from edgegate.sbom.api import image_sbom


def _status(*names: str) -> str:
    return "".join(
        f"Package: {n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\nMaintainer: x\n\n"
        for n in names
    )


OSR = E("etc/os-release", data=OS_RELEASE)
CASES: dict[str, tuple[list[list[E]], set[str]]] = {
    "dpkg dir linked, absolute": (
        [[OSR, E("usr/lib/dpkg/status", data=_status("a")), E("var/lib/dpkg", "symlink", "/usr/lib/dpkg")]],
        {"pkg:deb/debian/a@1.0"},
    ),
    "dpkg dir linked, relative": (
        [[OSR, E("usr/lib/dpkg/status", data=_status("b")), E("var/lib/dpkg", "symlink", "../../usr/lib/dpkg")]],
        {"pkg:deb/debian/b@1.0"},
    ),
    "status file linked": (
        [[OSR, E("opt/real-status", data=_status("c")), E("var/lib/dpkg/status", "symlink", "/opt/real-status")]],
        {"pkg:deb/debian/c@1.0"},
    ),
    "later layer links the dpkg dir": (
        [
            [OSR, E("var/lib/dpkg/status", data=_status("orig"))],
            [E("var/lib/dpkg", "symlink", "/opt/dpkg"), E("opt/dpkg/status", data=_status("moved"))],
        ],
        {"pkg:deb/debian/moved@1.0"},
    ),
    "distroless status.d through a linked dir": (
        [[OSR, E("usr/lib/dpkg/status.d/d", data=_status("d")), E("var/lib/dpkg", "symlink", "/usr/lib/dpkg")]],
        {"pkg:deb/debian/d@1.0"},
    ),
    "apk db dir linked": (
        [[OSR, E("srv/apkdb/installed", data="P:musl\nV:1.2.4-r2\nA:x86_64\n\n"),
          E("lib/apk/db", "symlink", "/srv/apkdb")]],
        {"pkg:apk/debian/musl@1.2.4-r2"},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_databases_behind_symlinks_are_read(tmp_path: Path, case: str) -> None:
    layers, expected = CASES[case]
    img = docker_archive(tmp_path / "img.tar", [layer_tar(entries) for entries in layers])
    out = tmp_path / "s.json"
    image_sbom(str(img), out)
    assert sbom_purls(out) - {"pkg:deb/debian/orig@1.0"} == expected
    syft = syft_bin()
    if syft is not None and "status.d" not in case:  # Syft reads status.d only at its own path
        doc = json.loads(subprocess.run(
            [str(syft), "scan", f"docker-archive:{img}", "-q", "-o", "cyclonedx-json"], capture_output=True,
            check=True, timeout=300, env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
        ).stdout)
        theirs = {c["purl"].split("?", 1)[0] for c in doc.get("components", []) if c.get("purl")}
        assert {p.replace("/debian/", "/") for p in expected} == {p.replace("/debian/", "/") for p in theirs}


def test_rootfs_folder_with_a_linked_dpkg_dir(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "usr/lib/dpkg").mkdir(parents=True)
    (root / "usr/lib/dpkg/status").write_text(_status("r"))
    (root / "var/lib").mkdir(parents=True)
    (root / "var/lib/dpkg").symlink_to("/usr/lib/dpkg")  # absolute: the image's /usr, not the host's
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text(OS_RELEASE)
    out = tmp_path / "s.json"
    image_sbom(str(root), out)
    assert sbom_purls(out) == {"pkg:deb/debian/r@1.0"}


def test_merged_usr_reads_the_layers_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``lib`` -> ``usr/lib`` (every Debian image) makes ``lib/apk/db/installed`` resolve elsewhere;
    with no file there, the layers are not read a second time (the SBOM speed)."""
    from edgegate.sbom.filesystem import ImageFilesystem

    calls: list[str] = []
    real = ImageFilesystem.add_layer
    monkeypatch.setattr(ImageFilesystem, "add_layer", lambda self, layer, entries: (calls.append(layer),
                                                                                     real(self, layer, entries)))
    layer = layer_tar([OSR, E("lib", "symlink", "usr/lib"), E("var/lib/dpkg/status", data=_status("m"))])
    out = tmp_path / "s.json"
    image_sbom(str(docker_archive(tmp_path / "img.tar", [layer])), out)
    assert sbom_purls(out) == {"pkg:deb/debian/m@1.0"}
    assert len(calls) == 1
