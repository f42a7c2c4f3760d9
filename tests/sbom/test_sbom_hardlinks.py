"""Hard links in layer tars (OCI image spec: to an earlier member of the same layer or to a member
of a lower layer) and package databases that are not regular files."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from sbom_helpers import (
    DPKG_STATUS,
    OS_RELEASE,
    E,
    dir_layer_file,
    docker_archive,
    layer_tar,
    oci_layout,
    sha,
)

from edgegate.errors import InputError
from edgegate.sbom.api import image_sbom


def _components(path: Path) -> dict[str, dict]:
    doc = json.loads(path.read_text())
    return {c["name"]: c for c in doc.get("components", []) if c["type"] == "library"}


def _pnpm_tree(root: Path, n: int) -> None:
    """A pnpm-style install: every package.json is a hard link to a file of the content store,
    which sorts (and so is packed) before the node_modules tree."""
    store = root / "aaa-pnpm-store" / "v3" / "files"
    for i in range(n):
        blob = store / f"{i:02x}" / f"{i:040x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_text(json.dumps({"name": f"pkg-{i}", "version": f"1.{i}.0", "license": "MIT"}))
        dest = root / "app/node_modules/.pnpm" / f"pkg-{i}@1.{i}.0" / "node_modules" / f"pkg-{i}" / "package.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.link(blob, dest)
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text(OS_RELEASE)


@pytest.mark.parametrize("packer", ["tarfile", "gnu-tar"])
def test_pnpm_hard_linked_package_json_in_one_layer(tmp_path: Path, packer: str) -> None:
    root = tmp_path / "root"
    _pnpm_tree(root, 12)
    layer = tmp_path / "layer.tar"
    if packer == "tarfile":
        dir_layer_file(root, layer)
    else:
        if shutil.which("tar") is None:
            pytest.skip("no tar binary")
        subprocess.run(["tar", "-C", str(root), "--sort=name", "-cf", str(layer), "."], check=True)
    with tarfile.open(layer) as tf:
        links = [m for m in tf.getmembers() if m.islnk() and m.name.endswith("package.json")]
    assert len(links) == 12  # the packer did write hard links: the case under test
    rootfs_count = None
    for img in (docker_archive(tmp_path / "img.tar", [layer]), oci_layout(tmp_path / "oci", [layer])):
        out = tmp_path / "sbom.json"
        result = image_sbom(str(img), out)
        comps = _components(out)
        assert sorted(comps) == sorted(f"pkg-{i}" for i in range(12)), img
        assert comps["pkg-3"]["version"] == "1.3.0"
        assert not [f for f in result.findings if f.rule_id == "EGS101"]
    image_sbom(str(root), tmp_path / "rootfs.json")
    rootfs_count = len(_components(tmp_path / "rootfs.json"))
    assert rootfs_count == 12  # the same packages as from the folder


def test_hard_linked_dpkg_status_same_layer_and_lower_layer(tmp_path: Path) -> None:
    same = layer_tar(
        [
            E("usr/lib/os-release", data=OS_RELEASE),
            E("etc/os-release", "symlink", "../usr/lib/os-release"),
            E("var/backups/dpkg.status.0", data=DPKG_STATUS),
            E("var/lib/dpkg/status", "hardlink", "var/backups/dpkg.status.0"),
        ]
    )
    out = tmp_path / "a.json"
    image_sbom(str(docker_archive(tmp_path / "a.tar", [same])), out)
    assert set(_components(out)) == {"base-files", "zlib1g"}

    lower = layer_tar([E("usr/lib/os-release", data=OS_RELEASE), E("opt/keep/status", data=DPKG_STATUS)])
    upper = layer_tar([E("var/lib/dpkg/status", "hardlink", "./opt/keep/status")])
    for img in (
        docker_archive(tmp_path / "b.tar", [lower, upper]),
        oci_layout(tmp_path / "b.oci", [lower, upper], as_tar=True),
    ):
        image_sbom(str(img), out)
        comps = _components(out)
        assert set(comps) == {"base-files", "zlib1g"}
        props = {p["name"]: p["value"] for p in comps["zlib1g"]["properties"]}
        assert props["edgegate:location:layer"] != sha(lower)  # the link's layer is where it lives


def test_hard_link_to_a_wanted_file_and_link_chain(tmp_path: Path) -> None:
    layer = layer_tar(
        [
            E("usr/lib/os-release", data=OS_RELEASE),
            E("store/a", data=DPKG_STATUS),
            E("store/b", "hardlink", "store/a"),
            E("var/lib/dpkg/status", "hardlink", "store/b"),
            E("usr/lib/node_modules/x/package.json", data='{"name":"x","version":"1.0.0"}'),
            E("usr/lib/node_modules/y/package.json", "hardlink", "usr/lib/node_modules/x/package.json"),
        ]
    )
    out = tmp_path / "s.json"
    image_sbom(str(docker_archive(tmp_path / "c.tar", [layer])), out)
    comps = _components(out)
    assert {"base-files", "zlib1g", "x"} <= set(comps)


def test_unresolvable_hard_link_is_a_warning_naming_layer_and_entry(tmp_path: Path) -> None:
    layer = layer_tar(
        [
            E("usr/lib/os-release", data=OS_RELEASE),
            E("var/lib/dpkg/status", "hardlink", "nowhere/status"),
        ]
    )
    out = tmp_path / "s.json"
    result = image_sbom(str(docker_archive(tmp_path / "d.tar", [layer])), out)
    msgs = [f.message for f in result.findings if f.rule_id == "EGS101"]
    assert len(msgs) == 1
    assert msgs[0].startswith(f"layer {sha(layer)}: skipped 'var/lib/dpkg/status'")
    assert "nowhere/status" in msgs[0]


def test_hard_link_whose_lower_target_was_whited_out_still_resolves_in_the_lower_layer(tmp_path: Path) -> None:
    # the link's bytes are the lower layer's file; a later whiteout of the target path does not
    # change them (they are the same inode in the layer that made the link)
    lower = layer_tar([E("usr/lib/os-release", data=OS_RELEASE), E("opt/status", data=DPKG_STATUS)])
    upper = layer_tar([E("var/lib/dpkg/status", "hardlink", "opt/status")])
    top = layer_tar([E("opt/.wh.status")])
    out = tmp_path / "s.json"
    image_sbom(str(docker_archive(tmp_path / "e.tar", [lower, upper, top])), out)
    assert set(_components(out)) == {"base-files", "zlib1g"}


def test_fifo_dpkg_status_is_an_error_not_an_empty_sbom(tmp_path: Path, cli) -> None:
    root = tmp_path / "rootfs"
    (root / "var/lib/dpkg").mkdir(parents=True)
    os.mkfifo(root / "var/lib/dpkg/status")
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text(OS_RELEASE)
    out = tmp_path / "s.json"
    with pytest.raises(InputError, match="not a regular file"):
        image_sbom(str(root), out)
    r = cli("sbom", "image", root, "-o", out)
    assert r.exit_code == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert "internal error" not in r.stdout + r.stderr
    assert not out.exists()

    info = tarfile.TarInfo("var/lib/dpkg/status")
    info.type = tarfile.FIFOTYPE
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.addfile(info)
    with pytest.raises(InputError, match="not a regular file"):
        image_sbom(str(docker_archive(tmp_path / "f.tar", [buf.getvalue()])), out)
