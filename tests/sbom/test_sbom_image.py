"""Image SBOMs from synthetic layered images built in the test (whiteouts, traversal, symlinks,
bad input) through the real readers, catalogers and CycloneDX output."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import pytest
from sbom_helpers import DPKG_STATUS, OS_RELEASE, E, docker_archive, layer_tar, oci_layout, sha

from edgegate.errors import InputError
from edgegate.io.archive import ArchiveBombError, ArchiveLimits
from edgegate.sbom.api import image_sbom
from edgegate.sbom.bom import validate_file

SITE = "usr/lib/python3/dist-packages"


def _meta(name: str, version: str, extra: str = "") -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{extra}\n"


def _base_layer() -> bytes:
    return layer_tar(
        [
            E("etc/", "dir"),
            E("usr/lib/os-release", data=OS_RELEASE),
            E("etc/os-release", "symlink", "../usr/lib/os-release"),
            E("var/lib/dpkg/status", data=DPKG_STATUS),
            E(
                f"{SITE}/requests-2.31.0.dist-info/METADATA",
                data=_meta("requests", "2.31.0", "License: Apache 2.0"),
            ),
            E(
                f"{SITE}/Flask_Login-0.6.3.dist-info/METADATA",
                data=_meta("Flask_Login", "0.6.3", "Classifier: License :: OSI Approved :: MIT License"),
            ),
            E(f"{SITE}/six-1.16.0.egg-info", data=_meta("six", "1.16.0", "License: MIT")),
            E(
                "usr/lib/node_modules/left-pad/package.json",
                data='{"name":"left-pad","version":"1.3.0","license":"WTFPL"}',
            ),
            E(
                "app/node_modules/@scope/pkg/package.json",
                data='{"name":"@scope/pkg","version":"2.0.0","license":"MIT"}',
            ),
            E(
                "app/node_modules/@scope/pkg/node_modules/dep/package.json",
                data='{"name":"dep","version":"0.1.0"}',
            ),
            E(
                "app/node_modules/@scope/pkg/test/fixtures/package.json",
                data='{"name":"not-a-pkg","version":"9"}',
            ),
        ]
    )


def _components(path: Path) -> dict[str, dict]:
    doc = json.loads(path.read_text())
    return {c["name"]: c for c in doc.get("components", []) if c["type"] == "library"}


def _props(comp: dict) -> dict[str, str]:
    return {p["name"]: p["value"] for p in comp.get("properties", [])}


def test_docker_archive_catalogs_every_ecosystem(tmp_path: Path) -> None:
    base = _base_layer()
    img = docker_archive(tmp_path / "img.tar", [base])
    out = tmp_path / "sbom.json"
    result = image_sbom(str(img), out)
    assert result.status.value == "passed"
    assert validate_file(out) is None
    comps = _components(out)
    assert set(comps) == {
        "base-files",
        "zlib1g",
        "requests",
        "Flask_Login",
        "six",
        "left-pad",
        "@scope/pkg",
        "dep",
    }
    assert comps["zlib1g"]["version"] == "1:1.2.13.dfsg-1"
    assert comps["zlib1g"]["purl"] == (
        "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib"
    )
    assert comps["Flask_Login"]["purl"] == "pkg:pypi/flask-login@0.6.3"
    assert comps["@scope/pkg"]["purl"] == "pkg:npm/%40scope/pkg@2.0.0"
    assert (
        comps["left-pad"]["licenses"] == [{"license": {"name": "WTFPL"}}]
        or comps["left-pad"]["licenses"][0]["license"].get("id") == "WTFPL"
    )
    assert comps["@scope/pkg"]["licenses"][0]["license"]["id"] == "MIT"
    assert comps["Flask_Login"]["licenses"][0]["license"]["name"] == "MIT License"
    assert _props(comps["requests"])["edgegate:location:layer"] == sha(base)
    doc = json.loads(out.read_text())
    meta = doc["metadata"]["component"]
    mprops = _props(meta)
    assert meta["type"] == "container" and meta["name"] == "example/app:1.0"
    assert mprops["edgegate:image:entrypoint"] == '["/bin/app"]'
    assert mprops["edgegate:image:user"] == "1000"
    assert mprops["edgegate:image:env-names"] == "PATH,SECRET_TOKEN"
    assert "=x" not in json.dumps(doc)  # env values never leak into the SBOM
    os_comp = [c for c in doc["components"] if c["type"] == "operating-system"]
    assert [(c["name"], c["version"]) for c in os_comp] == [("debian", "12")]
    assert doc["specVersion"] == "1.6"


def test_whiteouts_and_opaque_dirs_hide_lower_layers(tmp_path: Path) -> None:
    base = _base_layer()
    top = layer_tar(
        [
            E(f"{SITE}/.wh.requests-2.31.0.dist-info"),  # whiteout of a directory
            E("usr/lib/node_modules/.wh..wh..opq"),  # opaque: hides left-pad
            E("usr/lib/node_modules/right-pad/package.json", data='{"name":"right-pad","version":"1.0.0"}'),
            E("var/lib/dpkg/status", data=DPKG_STATUS.replace("12.4+deb12u5", "12.4+deb12u6")),
        ]
    )
    for img in (
        docker_archive(tmp_path / "img.tar", [base, top]),
        oci_layout(tmp_path / "oci.tar", [base, top], as_tar=True),
    ):
        out = tmp_path / "sbom.json"
        image_sbom(str(img), out)
        comps = _components(out)
        assert "requests" not in comps
        assert "left-pad" not in comps
        assert comps["right-pad"]["version"] == "1.0.0"
        assert comps["Flask_Login"]["version"] == "0.6.3"
        assert comps["base-files"]["version"] == "12.4+deb12u6"
        layer = _props(comps["base-files"])["edgegate:location:layer"]
        assert layer == (
            sha(top) if img.name == "img.tar" else sha(gzip.compress(top, compresslevel=1, mtime=0))
        )


def test_whiteout_of_single_file_and_readd_in_later_layer(tmp_path: Path) -> None:
    l1 = layer_tar([E("var/lib/dpkg/status", data=DPKG_STATUS), E("usr/lib/os-release", data=OS_RELEASE)])
    l2 = layer_tar([E("var/lib/dpkg/.wh.status")])
    out = tmp_path / "a.json"
    image_sbom(str(docker_archive(tmp_path / "a.tar", [l1, l2])), out)
    assert _components(out) == {}
    l3 = layer_tar([E("var/lib/dpkg/status", data=DPKG_STATUS)])
    image_sbom(str(docker_archive(tmp_path / "b.tar", [l1, l2, l3])), out)
    assert set(_components(out)) == {"base-files", "zlib1g"}


def test_traversal_absolute_and_escaping_symlinks_are_skipped_with_warnings(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = layer_tar(
        [
            E("../outside/pwned", data="x"),
            E("/abs/evil", data="x"),
            E("etc/os-release", "symlink", "../../../../etc/passwd"),
            E("var/lib/dpkg/status", data=DPKG_STATUS),
            E("usr/lib/evil-hardlink", "hardlink", "../../etc/shadow"),
        ]
    )
    img = docker_archive(tmp_path / "evil.tar", [evil])
    out = tmp_path / "sbom.json"
    result = image_sbom(str(img), out)
    assert result.status.value == "passed"
    msgs = sorted(f.message for f in result.findings if f.rule_id == "EGS101")
    assert len(msgs) == 4, msgs
    layer = sha(evil)
    assert all(m.startswith(f"layer {layer}: skipped ") for m in msgs)
    assert any("'../outside/pwned'" in m and "path traversal" in m for m in msgs)
    assert any("'/abs/evil'" in m and "absolute path" in m for m in msgs)
    assert any("'etc/os-release'" in m and "symlink escapes the root" in m for m in msgs)
    assert all(not f.blocking for f in result.findings)
    assert list(outside.iterdir()) == []
    assert set(_components(out)) == {"base-files", "zlib1g"}


def test_oci_layout_directory_and_multi_arch_platform(tmp_path: Path, cli) -> None:
    base = _base_layer()
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, [base], platforms=("linux/amd64", "linux/arm64"))
    out = tmp_path / "arm.json"
    r = cli("sbom", "image", layout, "--sbom-output", out, "--platform", "linux/arm64", "-f", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(out.read_text())
    assert _props(doc["metadata"]["component"])["edgegate:image:platform"] == "linux/arm64"
    r = cli("sbom", "image", layout, "--sbom-output", tmp_path / "s390.json", "--platform", "linux/s390x")
    assert r.exit_code == 2
    assert "no image for platform linux/s390x (index has: linux/amd64, linux/arm64)" in r.stderr
    assert not (tmp_path / "s390.json").exists()


def test_rootfs_directory_source(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text(DPKG_STATUS)
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text(OS_RELEASE)
    (root / "lib/apk/db").mkdir(parents=True)
    (root / "lib/apk/db/installed").write_text(
        "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nP:busybox-binsh\nV:1.36.1-r15\nA:x86_64\n"
        "L:GPL-2.0-only\no:busybox\n\n"
    )
    out = tmp_path / "s.json"
    image_sbom(str(root), out)
    comps = _components(out)
    assert comps["busybox-binsh"]["purl"] == (
        "pkg:apk/debian/busybox-binsh@1.36.1-r15?arch=x86_64&distro=debian-12&upstream=busybox"
    )
    assert comps["busybox-binsh"]["licenses"][0]["license"]["id"] == "GPL-2.0-only"
    assert "removed-pkg" not in comps


def test_corrupt_and_truncated_archives_exit_2_without_output(tmp_path: Path, cli) -> None:
    img = docker_archive(tmp_path / "img.tar", [_base_layer(), layer_tar([E("x", data="y" * 5000)])])
    data = img.read_bytes()
    cases = {
        "truncated.tar": data[: len(data) // 2],
        "garbage.tar": b"\x00garbage" * 100,
        "empty.tar": b"",
    }
    for name, content in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        out = tmp_path / f"{name}.json"
        r = cli("sbom", "image", p, "--sbom-output", out)
        assert r.exit_code == 2, (name, r.stdout, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
        assert not out.exists()
        assert [x.name for x in tmp_path.iterdir() if x.name.startswith(f".{name}")] == []


def test_layer_content_not_matching_its_digest_is_an_error(tmp_path: Path, cli) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, [_base_layer()])
    blobs = sorted((layout / "blobs/sha256").iterdir(), key=lambda p: p.stat().st_size)
    biggest = blobs[-1]
    biggest.write_bytes(biggest.read_bytes()[:-20])  # truncate the gzip layer
    r = cli("sbom", "image", layout, "--sbom-output", tmp_path / "o.json")
    assert r.exit_code == 2
    assert "truncated" in r.stderr or "does not match digest" in r.stderr
    assert not (tmp_path / "o.json").exists()


def test_manifest_naming_a_missing_layer(tmp_path: Path, cli) -> None:
    img = tmp_path / "img.tar"
    manifest = json.dumps([{"Config": "c.json", "Layers": ["missing/layer.tar"]}]).encode()
    cfg = json.dumps({"rootfs": {"diff_ids": []}}).encode()
    import io

    with tarfile.open(img, "w") as tf:
        for name, data in (("manifest.json", manifest), ("c.json", cfg)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    r = cli("sbom", "image", img, "--sbom-output", tmp_path / "o.json")
    assert r.exit_code == 2
    assert "manifest.json names a missing layer 'missing/layer.tar'" in r.stderr


def test_tar_bomb_is_refused(tmp_path: Path, cli) -> None:
    # a 200 MiB dpkg status of zeros, gzip-compressed to a few hundred KiB
    big = 200 * 1024 * 1024
    buf = gzip.compress(
        _tar_header("var/lib/dpkg/status", big) + b"\0" * big + b"\0" * 1024, compresslevel=1, mtime=0
    )
    layout = tmp_path / "bomb"
    layout.mkdir()
    oci_layout(layout, [layer_tar([E("ok", data="1")])])
    # swap the layer blob for the bomb and fix the manifest
    import hashlib

    man_path = next(p for p in (layout / "blobs/sha256").iterdir() if b'"layers"' in p.read_bytes()[:4096])
    man = json.loads(man_path.read_bytes())
    digest = "sha256:" + hashlib.sha256(buf).hexdigest()
    (layout / "blobs/sha256" / digest[7:]).write_bytes(buf)
    man["layers"][0].update(digest=digest, size=len(buf))
    man_bytes = json.dumps(man).encode()
    new_man = "sha256:" + hashlib.sha256(man_bytes).hexdigest()
    (layout / "blobs/sha256" / new_man[7:]).write_bytes(man_bytes)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0].update(digest=new_man, size=len(man_bytes))
    (layout / "index.json").write_text(json.dumps(index))
    r = cli("sbom", "image", layout, "--sbom-output", tmp_path / "o.json")
    assert r.exit_code == 2, r.stderr
    assert "over the" in r.stderr and "limit" in r.stderr
    # a total-size bound applies to any member, wanted or not
    with pytest.raises(ArchiveBombError):
        image_sbom(
            str(docker_archive(tmp_path / "d.tar", [layer_tar([E("blob", data="z" * 5000)])])),
            tmp_path / "x.json",
            limits=ArchiveLimits(max_total_bytes=4096),
        )


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "plain.tar"
    with tarfile.open(p, "w") as tf:
        tf.add(__file__, arcname="x.py")
    with pytest.raises(InputError, match="not an image archive"):
        image_sbom(str(p), tmp_path / "o.json")


def test_debian_copyright_licences(tmp_path: Path) -> None:
    from edgegate.sbom.catalog import parse_debian_copyright

    dep5 = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\n"
        "Files: *\nCopyright: 2020 A\nLicense: GPL-2+ or Expat\n text\n\n"
        "Files: lib/*\nLicense: LGPL-2.1\n\nLicense: Expat\n Permission is hereby granted...\n"
    )
    assert parse_debian_copyright(dep5) == ["GPL-2.0-or-later", "MIT", "LGPL-2.1-only"]
    old = "This package is free software.\nSee /usr/share/common-licenses/GPL-3 and /usr/share/common-licenses/Apache-2.0.\n"
    assert parse_debian_copyright(old) == ["GPL-3.0-only", "Apache-2.0"]
    # a doc dir that is a symlink to another package's (as Debian does for library packages)
    layer = layer_tar(
        [
            E("var/lib/dpkg/status", data=DPKG_STATUS),
            E("usr/share/doc/zlib1g/copyright", data=dep5),
            E("usr/share/doc/base-files", "symlink", "zlib1g"),
        ]
    )
    out = tmp_path / "s.json"
    image_sbom(str(docker_archive(tmp_path / "i.tar", [layer])), out)
    comps = _components(out)
    assert {x["license"]["id"] for x in comps["base-files"]["licenses"]} == {
        "GPL-2.0-or-later",
        "MIT",
        "LGPL-2.1-only",
    }


def test_distroless_status_d(tmp_path: Path) -> None:
    status = DPKG_STATUS.split("\n\n")
    layer = layer_tar(
        [
            E("var/lib/dpkg/status.d/base-files", data=status[0] + "\n"),
            E("var/lib/dpkg/status.d/zlib1g", data=status[1] + "\n"),
            E(
                "var/lib/dpkg/status.d/zlib1g.md5sums",
                data="d41d8cd98f00b204e9800998ecf8427e  usr/lib/libz.so\n",
            ),
            E("etc/os-release", data=OS_RELEASE),
        ]
    )
    out = tmp_path / "s.json"
    image_sbom(str(docker_archive(tmp_path / "d.tar", [layer])), out)
    comps = _components(out)
    assert {n: c["version"] for n, c in comps.items()} == {
        "base-files": "12.4+deb12u5",
        "zlib1g": "1:1.2.13.dfsg-1",
    }
    assert _props(comps["zlib1g"])["edgegate:location:path"] == "var/lib/dpkg/status.d/zlib1g"


def test_oci_layout_with_zstd_layer(tmp_path: Path) -> None:
    from edgegate.io.archive import _zstd_module

    if _zstd_module() is None:
        pytest.skip("no zstd module (Python 3.14 compression.zstd or backports.zstd)")
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, [_base_layer()], compress="zstd")
    out = tmp_path / "s.json"
    image_sbom(str(layout), out)
    assert {"base-files", "requests", "left-pad"} <= set(_components(out))


def test_oci_layout_reference_name(tmp_path: Path, cli) -> None:
    layout = tmp_path / "layout"
    layout.mkdir()
    oci_layout(layout, [_base_layer()])
    out = tmp_path / "s.json"
    r = cli("sbom", "image", f"oci:{layout}:1.0", "--sbom-output", out)  # annotation is example/app:1.0
    assert r.exit_code == 0, r.stderr
    r = cli("sbom", "image", f"oci:{layout}:2.0", "--sbom-output", tmp_path / "x.json")
    assert r.exit_code == 2 and "no image named '2.0' in the layout (has: example/app:1.0)" in r.stderr


def test_deb_purl_upstream_carries_the_source_version_as_syft_writes_it(tmp_path: Path) -> None:
    # Syft (syft/pkg/cataloger/debian/package.go packageURL): upstream=SOURCE@SOURCEVERSION when
    # the Source field has a version, upstream=SOURCE when it has none, no upstream without it
    status = (
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\n"
        "Source: bash (5.2.15-2)\nVersion: 5.2.15-2+b2\n\n"
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\n"
        "Version: 2.36-9+deb12u4\n\n"
        "Package: dash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.5.12-2\n"
    )
    layer = layer_tar([E("etc/os-release", data=OS_RELEASE), E("var/lib/dpkg/status", data=status)])
    out = tmp_path / "s.json"
    image_sbom(str(docker_archive(tmp_path / "img.tar", [layer])), out)
    comps = _components(out)
    assert comps["bash"]["purl"] == (
        "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2"
    )
    assert comps["libc6"]["purl"] == (
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    )
    assert comps["dash"]["purl"] == "pkg:deb/debian/dash@0.5.12-2?arch=amd64&distro=debian-12"
    from edgegate.vuln.components import component_from_purl

    # the offline matcher then compares the source version, which Debian advisories name
    c = component_from_purl(comps["bash"]["purl"], "s")
    assert (c.key, c.version, c.name) == ("bash", "5.2.15-2", "bash")


def test_validation_agrees_with_cyclonedx_strict_validator_on_unique_items(tmp_path: Path) -> None:
    """edgegate's validator (a linear uniqueItems check) and cyclonedx-python-lib's strict one
    give the same verdicts, valid and with a duplicated component."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from edgegate.sbom.bom import validate_text

    layer = layer_tar([E("etc/os-release", data=OS_RELEASE), E("var/lib/dpkg/status", data=DPKG_STATUS)])
    out = tmp_path / "s.json"
    image_sbom(str(docker_archive(tmp_path / "img.tar", [layer])), out)
    text = out.read_text()
    peer = JsonStrictValidator(SchemaVersion.V1_6)
    assert validate_text(text) is None and peer.validate_str(text) is None
    doc = json.loads(text)
    doc["components"].append(doc["components"][0])  # the same component twice: not unique
    bad = json.dumps(doc)
    assert peer.validate_str(bad) is not None
    assert validate_text(bad) is not None and "uniqueItems" in validate_text(bad)


def test_schema_invalid_sbom_is_an_error_not_written(tmp_path: Path) -> None:
    """cyclonedx-python-lib only warns on a value the 1.6 schema refuses (a package version over
    1,024 characters): edgegate's own validation of what it generated makes that an engine error,
    with no SBOM left behind (a review found the run passing when that validation was skipped)."""
    from edgegate.errors import EngineError

    pkg = json.dumps({"name": "x", "version": "1." + "0" * 1100}).encode()
    layer = layer_tar([E("etc/os-release", data=OS_RELEASE), E("usr/lib/node_modules/x/package.json", data=pkg)])
    out = tmp_path / "s.json"
    with pytest.raises(EngineError):
        image_sbom(str(docker_archive(tmp_path / "img.tar", [layer])), out)
    assert not out.exists()


def test_an_opaque_marker_hides_what_a_lower_opaque_layer_put_back(tmp_path: Path) -> None:
    """Found by the walker fuzz test at a larger budget: layer 2 puts var/lib/dpkg/status back
    and makes var/lib opaque, layer 3 makes var/lib opaque again; layer 3 must hide the status
    file (OCI: an opaque directory hides every lower entry below it). A stale directory entry
    made the second marker miss it and the packages were reported."""
    status = E("var/lib/dpkg/status", data=DPKG_STATUS)
    layers = [layer_tar([E("etc/os-release", data=OS_RELEASE), status]),
              layer_tar([status, E("var/lib/.wh..wh..opq")]),
              layer_tar([E("var/lib/.wh..wh..opq")])]
    out = tmp_path / "s.json"
    image_sbom(str(docker_archive(tmp_path / "img.tar", layers)), out)
    assert "base-files" not in _components(out)
    # without the last marker the status file of layer 2 stays visible
    image_sbom(str(docker_archive(tmp_path / "img2.tar", layers[:2])), out)
    assert "base-files" in _components(out)


def test_an_image_with_nothing_to_inventory_says_what_it_has(tmp_path: Path) -> None:
    """An image of files no cataloger reads (a static binary FROM scratch) is nothing to
    inventory (exit 2), and the error says so instead of "no files" (found by review)."""
    from edgegate.errors import NothingToCheckError

    binary_only = docker_archive(tmp_path / "bin.tar", [layer_tar([E("app/server", data=b"\x7fELF")])])
    with pytest.raises(NothingToCheckError) as got:
        image_sbom(str(binary_only), tmp_path / "s.json")
    assert "no package database" in got.value.message
    empty = docker_archive(tmp_path / "empty.tar", [layer_tar([])])
    with pytest.raises(NothingToCheckError) as got:
        image_sbom(str(empty), tmp_path / "s.json")
    assert "no files" in got.value.message


def test_a_fifo_named_as_the_image_is_called_what_it_is(tmp_path: Path) -> None:
    """An existing FIFO was 'no such file or directory' (issue 15: one message everywhere)."""
    import os

    fifo = tmp_path / "img.tar"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as got:
        image_sbom(str(fifo), tmp_path / "s.json")
    assert "not a regular file" in got.value.message and "FIFO" in got.value.message
