"""Trivy's CycloneDX SBOMs: deb and apk purls without ``upstream``, the source package in
``aquasecurity:trivy:Src*`` properties. The findings must be those of the same packages written
Syft's way (``upstream=``) and of edgegate's own SBOM of the same root filesystem."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from vuln_records import record, write_sbom

from edgegate.findings import Status
from edgegate.vuln.components import component_from_purl
from edgegate.vuln.scan import ScanInput, ScanSettings, scan

ROOT = Path(__file__).resolve().parents[2]
T = "aquasecurity:trivy:"

RECORDS = [
    record("DEB-T-7", "Debian:12", "glibc", [{"introduced": "0"}, {"fixed": "2.36-9+deb12u99"}]),
    record("DEB-T-5", "Debian:12", "zlib", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-2"}]),
    # login is 1:4.13+…: affected only if the source epoch were lost.
    record("DEB-T-6", "Debian:12", "shadow", [{"introduced": "0"}, {"fixed": "1:4.0"}]),
    # libfoo1 1.2.3-1+b2 is a binNMU of foo 1.2.3-1: only the source's version is affected.
    record("DEB-T-9", "Debian:12", "foo", [{"introduced": "0"}, {"fixed": "1.2.3-1+b1"}]),
    # The binary names must not match anything.
    record("DEB-T-8", "Debian:12", "libc6", [{"introduced": "0"}]),
    record("ALPINE-T-1", "Alpine:v3.19", "openssl", [{"introduced": "0"}, {"fixed": "3.1.4-r5"}]),
]
EXPECTED = {("libc6", "DEB-T-7"), ("zlib1g", "DEB-T-5"), ("libfoo1", "DEB-T-9"), ("libcrypto3", "ALPINE-T-1")}


def _props(**kw: str) -> list[dict[str, str]]:
    return [{"name": T + k, "value": v} for k, v in kw.items()]


# As Trivy 0.74 writes them (`trivy rootfs -f cyclonedx` of a bookworm rootfs; apk from an
# Alpine 3.19 image): no `upstream`, the binary's epoch as a qualifier, the source in properties.
TRIVY = [
    {"name": "libc6", "version": "2.36-9+deb12u14",
     "purl": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12.15",
     "properties": _props(PkgType="debian", SrcName="glibc", SrcRelease="9+deb12u14", SrcVersion="2.36")},
    {"name": "zlib1g", "version": "1:1.2.13.dfsg-1",
     "purl": "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&distro=debian-12.15&epoch=1",
     "properties": _props(SrcEpoch="1", SrcName="zlib", SrcRelease="1", SrcVersion="1.2.13.dfsg")},
    {"name": "login", "version": "1:4.13+dfsg1-1+deb12u2",
     "purl": "pkg:deb/debian/login@4.13%2Bdfsg1-1%2Bdeb12u2?arch=amd64&distro=debian-12.15&epoch=1",
     "properties": _props(SrcEpoch="1", SrcName="shadow", SrcRelease="1+deb12u2", SrcVersion="4.13+dfsg1")},
    {"name": "libfoo1", "version": "1.2.3-1+b2",
     "purl": "pkg:deb/debian/libfoo1@1.2.3-1%2Bb2?arch=amd64&distro=debian-12.15",
     "properties": _props(SrcName="foo", SrcRelease="1", SrcVersion="1.2.3")},
    {"name": "libcrypto3", "version": "3.1.4-r1",
     "purl": "pkg:apk/alpine/libcrypto3@3.1.4-r1?arch=x86_64&distro=3.19.0",
     "properties": _props(PkgType="alpine", SrcName="openssl", SrcVersion="3.1.4-r1")},
]
SYFT = [
    {"name": "libc6", "version": "2.36-9+deb12u14",
     "purl": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12.15&upstream=glibc"},
    {"name": "zlib1g", "version": "1:1.2.13.dfsg-1",
     "purl": "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12.15&upstream=zlib"},
    {"name": "login", "version": "1:4.13+dfsg1-1+deb12u2",
     "purl": "pkg:deb/debian/login@1%3A4.13%2Bdfsg1-1%2Bdeb12u2?arch=amd64&distro=debian-12.15&upstream=shadow"},
    {"name": "libfoo1", "version": "1.2.3-1+b2",
     "purl": "pkg:deb/debian/libfoo1@1.2.3-1%2Bb2?arch=amd64&distro=debian-12.15&upstream=foo%401.2.3-1"},
    {"name": "libcrypto3", "version": "3.1.4-r1",
     "purl": "pkg:apk/alpine/libcrypto3@3.1.4-r1?arch=x86_64&distro=3.19.0&upstream=openssl"},
]


@pytest.fixture
def osv_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "osv"
    folder.mkdir()
    for rec in RECORDS:
        (folder / f"{rec['id']}.json").write_text(json.dumps(rec), encoding="utf-8")
    return folder


def _findings(result: Any) -> set[tuple[str, str]]:
    return {(f.details["component"], f.rule_id) for f in result.findings if f.blocking}


def _scan_sbom(path: Path, db: Path) -> Any:
    return scan([ScanInput("sbom", path, path.name)], ScanSettings(db=db))


def _lib(comps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "library", **c} for c in comps]


def test_trivy_source_properties_give_the_same_findings_as_upstream(cli, osv_dir: Path, tmp_path: Path) -> None:
    trivy = _scan_sbom(write_sbom(tmp_path / "trivy.json", _lib(TRIVY)), osv_dir)
    assert cli("vuln", "scan", "--sbom", tmp_path / "trivy.json", "--db", osv_dir, "--no-config").exit_code == 1
    syft = _scan_sbom(write_sbom(tmp_path / "syft.json", _lib(SYFT)), osv_dir)
    assert _findings(trivy) == _findings(syft) == EXPECTED
    assert trivy.status is Status.FAILED and trivy.stats["unscannable"] == 0
    versions = {f.details["component"]: f.details["version"] for f in trivy.findings if f.blocking}
    assert versions["zlib1g"] == "1:1.2.13.dfsg-1" and versions["libfoo1"] == "1.2.3-1"


def test_the_purls_upstream_wins_over_trivy_properties() -> None:
    purl = "pkg:deb/debian/libc6@2.36-9?distro=debian-12&upstream=glibc%402.36-8"
    c = component_from_purl(purl, "s", properties={T + "SrcName": "other", T + "SrcVersion": "9"})
    assert (c.key, c.version) == ("glibc", "2.36-8")
    # No SrcVersion: the binary's version, as Trivy's own SBOM decoder fills it in.
    c = component_from_purl("pkg:deb/debian/libc6@2.36-9?epoch=2", "s", properties={T + "SrcName": "glibc"})
    assert (c.key, c.version, c.problem) == ("glibc", "2:2.36-9", None)


def test_an_unreadable_trivy_source_epoch_is_not_checked(osv_dir: Path, tmp_path: Path) -> None:
    comp = dict(TRIVY[1], properties=_props(SrcEpoch="one", SrcName="zlib", SrcRelease="1", SrcVersion="1.2.13.dfsg"))
    result = _scan_sbom(write_sbom(tmp_path / "s.json", _lib([comp])), osv_dir)
    assert result.status is Status.ERROR
    assert [f.rule_id for f in result.findings] == ["EGV001"]


# --- a real Trivy SBOM of the debootstrap bookworm rootfs ------------------------------------------


def _trivy() -> str | None:
    env = os.environ.get("EDGEGATE_TRIVY")
    if env:
        return env if Path(env).is_file() else None
    local = ROOT / ".cache" / "gobin" / "trivy"
    return str(local) if local.is_file() else shutil.which("trivy")


def _rootfs() -> Path | None:
    env = os.environ.get("EDGEGATE_TEST_ROOTFS")
    p = Path(env) if env else ROOT / ".cache" / "rootfs-bookworm"
    return p if (p / "var/lib/dpkg/status").is_file() else None


def _as_syft(bom: dict[str, Any]) -> dict[str, Any]:
    """Trivy's SBOM with each source package moved into an ``upstream=name@version`` qualifier."""
    comps = []
    for c in bom["components"]:
        props = {p["name"]: p["value"] for p in c.get("properties", [])}
        purl = c.get("purl")
        if purl and T + "SrcName" in props:
            ver = props[T + "SrcVersion"]
            if props.get(T + "SrcRelease"):
                ver += "-" + props[T + "SrcRelease"]
            if props.get(T + "SrcEpoch", "0") != "0":
                ver = props[T + "SrcEpoch"] + ":" + ver
            purl += ("&" if "?" in purl else "?") + "upstream=" + quote(f"{props[T + 'SrcName']}@{ver}", safe="")
        comps.append({k: v for k, v in c.items() if k != "properties"} | ({"purl": purl} if purl else {}))
    return dict(bom, components=comps)


def test_a_real_trivy_sbom_of_a_rootfs_matches_edgegates_own(osv_dir: Path, tmp_path: Path) -> None:
    trivy, rootfs = _trivy(), _rootfs()
    if trivy is None or rootfs is None:
        pytest.skip("needs Trivy (EDGEGATE_TRIVY) and the bookworm rootfs (EDGEGATE_TEST_ROOTFS)")
    pytest.importorskip("edgegate.sbom.api")
    out = subprocess.run([trivy, "rootfs", "--cache-backend", "memory", "-q", "-f", "cyclonedx", str(rootfs)],
                         capture_output=True, text=True, timeout=300, check=True)
    bom = json.loads(out.stdout)
    (tmp_path / "trivy.json").write_text(out.stdout, encoding="utf-8")
    (tmp_path / "syft.json").write_text(json.dumps(_as_syft(bom)), encoding="utf-8")

    def key(result: Any) -> set[tuple[str, str, str]]:
        return {(f.details["component"], f.details["version"], f.rule_id) for f in result.findings if f.blocking}

    from_trivy = key(_scan_sbom(tmp_path / "trivy.json", osv_dir))
    own = key(scan([ScanInput("image", ref=str(rootfs), shown="rootfs")], ScanSettings(db=osv_dir)))
    from_syft = key(_scan_sbom(tmp_path / "syft.json", osv_dir))
    assert {(c, r) for c, _, r in from_trivy} >= {("libc6", "DEB-T-7"), ("zlib1g", "DEB-T-5")}
    assert from_trivy == own == from_syft
