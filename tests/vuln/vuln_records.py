"""Hand-written OSV records (OSV schema 1.6) and CycloneDX SBOMs for the distro/npm tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CVSS_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
CVSS_MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"  # 5.4
CVSS4_HIGH = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"  # 8.7


def record(vid: str, ecosystem: str, name: str, events: list[dict[str, str]], *,
           severity: str | None = None, aliases: list[str] | None = None, db_severity: str | None = None,
           versions: list[str] | None = None, kind: str = "ECOSYSTEM") -> dict[str, Any]:
    rec: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": vid,
        "modified": "2024-01-01T00:00:00Z",
        "summary": f"test advisory {vid}",
        "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                      "ranges": [{"type": kind, "events": events}]}],
    }
    if versions is not None:
        rec["affected"][0]["versions"] = versions
    if aliases:
        rec["aliases"] = aliases
    if severity:
        rec["severity"] = [{"type": "CVSS_V4" if severity.startswith("CVSS:4") else "CVSS_V3", "score": severity}]
    if db_severity:
        rec["database_specific"] = {"severity": db_severity}
    return rec


RECORDS = [
    # Debian: per release, by source package, dpkg order.
    record("DSA-0001-1", "Debian:12", "openssl", [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
           severity=CVSS_CRITICAL, aliases=["CVE-2099-0001"]),
    record("DSA-0001-2", "Debian:11", "openssl", [{"introduced": "0"}, {"fixed": "1.1.1w-0+deb11u1"}],
           aliases=["CVE-2099-0001"]),
    record("DSA-0002-1", "Debian:12", "zlib", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1+deb12u1"}],
           db_severity="MODERATE"),
    record("DLA-0003-1", "Debian:12", "tar", [{"introduced": "0"}, {"last_affected": "1.34+dfsg-1.2"}]),
    # Alpine: apk order, -rN and _rc.
    record("ALPINE-0001", "Alpine:v3.19", "musl", [{"introduced": "0"}, {"fixed": "1.2.4-r10"}],
           severity=CVSS4_HIGH),
    record("ALPINE-0002", "Alpine:v3.19", "busybox", [{"introduced": "0"}, {"fixed": "1.36.1-r15"}]),
    record("ALPINE-0003", "Alpine:v3.18", "busybox", [{"introduced": "0"}, {"fixed": "1.36.1-r99"}]),
    # npm: scoped names, SEMVER ranges.
    record("GHSA-npm1-0001-0001", "npm", "@scope/widget", [{"introduced": "1.0.0"}, {"fixed": "1.4.2"}],
           kind="SEMVER", db_severity="LOW"),
    record("GHSA-npm2-0002-0002", "npm", "lodash", [{"introduced": "0"}, {"fixed": "4.17.21"}],
           kind="SEMVER", severity=CVSS_MEDIUM),
    # PyPI, to mix ecosystems in one SBOM.
    record("PYSEC-0000-1", "PyPI", "Jinja2", [{"introduced": "0"}, {"fixed": "2.11.3"}], aliases=["CVE-2020-28493"]),
]


def write_records(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for rec in RECORDS:
        (folder / f"{rec['id']}.json").write_text(json.dumps(rec), encoding="utf-8")
    return folder


SBOM_COMPONENTS = [
    # vulnerable (Debian 12 openssl binary package built from source "openssl")
    {"type": "library", "name": "libssl3", "version": "3.0.11-1~deb12u1", "bom-ref": "deb-libssl3",
     "purl": "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"},
    # fixed (~deb12u2 is the fix; 3.0.11-1 proper is newer still)
    {"type": "library", "name": "openssl", "version": "3.0.11-1~deb12u2",
     "purl": "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"},
    # epoch as a Trivy-style qualifier: 1:1.2.13.dfsg-1 < 1:1.2.13.dfsg-1+deb12u1 → affected
    {"type": "library", "name": "zlib1g", "version": "1.2.13.dfsg-1",
     "purl": "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&epoch=1&distro=debian-12.5&upstream=zlib"},
    # last_affected is inclusive
    {"type": "library", "name": "tar", "version": "1.34+dfsg-1.2",
     "purl": "pkg:deb/debian/tar@1.34+dfsg-1.2?distro=debian-12"},
    # Alpine: -r9 < -r10 (numeric) → affected; busybox -r15 fixed in 3.19 (3.18 record ignored)
    {"type": "library", "name": "musl", "version": "1.2.4-r9",
     "purl": "pkg:apk/alpine/musl@1.2.4-r9?arch=x86_64&distro=3.19.1"},
    {"type": "library", "name": "busybox", "version": "1.36.1-r15",
     "purl": "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1"},
    # npm
    {"type": "library", "name": "widget", "group": "@scope", "version": "1.4.1",
     "purl": "pkg:npm/%40scope/widget@1.4.1"},
    {"type": "library", "name": "lodash", "version": "4.17.21", "purl": "pkg:npm/lodash@4.17.21"},
    # PyPI
    {"type": "library", "name": "Jinja2", "version": "2.10", "bom-ref": "py-jinja2",
     "purl": "pkg:pypi/jinja2@2.10"},
    # unscannable: no version, unsupported type, no purl
    {"type": "library", "name": "curl", "purl": "pkg:deb/debian/curl?distro=debian-12"},
    {"type": "library", "name": "golang.org/x/net", "version": "0.7.0", "purl": "pkg:golang/golang.org/x/net@v0.7.0"},
    {"type": "library", "name": "mystery", "version": "1.0"},
]

EXPECTED_FINDINGS = {
    ("libssl3", "DSA-0001-1"),
    ("zlib1g", "DSA-0002-1"),
    ("tar", "DLA-0003-1"),
    ("musl", "ALPINE-0001"),
    ("@scope/widget", "GHSA-npm1-0001-0001"),
    ("jinja2", "PYSEC-0000-1"),
}


def write_sbom(path: Path, components: list[dict[str, Any]] | None = None,
               vulnerabilities: list[dict[str, Any]] | None = None) -> Path:
    bom: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "components": components if components is not None else SBOM_COMPONENTS,
    }
    if vulnerabilities is not None:
        bom["vulnerabilities"] = vulnerabilities
    path.write_text(json.dumps(bom), encoding="utf-8")
    return path
