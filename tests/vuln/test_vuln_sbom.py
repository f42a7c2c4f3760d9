"""SBOM matching across ecosystems (Debian, Alpine, npm, PyPI) on hand-written OSV records;
severity, fail-on, ignores with expiry, VEX, and the unscannable warnings."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest
from vuln_records import (
    EXPECTED_FINDINGS,
    RECORDS,
    SBOM_COMPONENTS,
    write_records,
    write_sbom,
)

from edgegate.findings import Severity, Status
from edgegate.vuln.components import component_from_purl
from edgegate.vuln.db import build_db
from edgegate.vuln.scan import IgnoreRule, ScanInput, ScanSettings, scan


@pytest.fixture
def osv_dir(tmp_path: Path) -> Path:
    return write_records(tmp_path / "osv")


@pytest.fixture
def sbom(tmp_path: Path) -> Path:
    return write_sbom(tmp_path / "app.cdx.json")


def _vulns(result) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(f.details["component"], f.rule_id) for f in result.findings if f.blocking}


def _run(sbom: Path, db: Path, **kw) -> object:  # type: ignore[no-untyped-def]
    return scan([ScanInput("sbom", sbom, "app.cdx.json")], ScanSettings(db=db, **kw))


def test_purl_mapping() -> None:
    c = component_from_purl("pkg:deb/debian/libssl3@3.0.11-1?distro=debian-12.5&upstream=openssl%403.0.11-1", "s")
    assert (c.ecosystem, c.release, c.key, c.version) == ("Debian", "12", "openssl", "3.0.11-1")
    # A binNMU: the binary is 1.2.3-1+b2, the source (which advisories name) 1.2.3-1.
    c = component_from_purl("pkg:deb/debian/libfoo1@1.2.3-1%2Bb2?distro=debian-12&upstream=foo%20(1.2.3-1)", "s")
    assert (c.key, c.version, c.name) == ("foo", "1.2.3-1", "libfoo1")
    c = component_from_purl("pkg:deb/debian/libfoo1@1.2.3-1%2Bb2?upstream=foo%401:1.2.3-1", "s")
    assert (c.key, c.version) == ("foo", "1:1.2.3-1")
    c = component_from_purl("pkg:deb/debian/bash@5.2.15-2?distro=bookworm", "s")
    assert c.release == "12"
    c = component_from_purl("pkg:deb/debian/zlib1g@1.2.13.dfsg-1?epoch=1", "s")
    assert (c.version, c.release) == ("1:1.2.13.dfsg-1", None)
    c = component_from_purl("pkg:apk/alpine/musl@1.2.4-r2?distro=3.19.1", "s")
    assert (c.ecosystem, c.release) == ("Alpine", "v3.19")
    c = component_from_purl("pkg:npm/%40angular/core@16.0.0", "s")
    assert (c.ecosystem, c.key) == ("npm", "@angular/core")
    c = component_from_purl("pkg:pypi/Django_Rest@1.0", "s")
    assert (c.ecosystem, c.key) == ("PyPI", "django-rest")
    assert component_from_purl("pkg:cargo/serde@1.0", "s").problem is not None
    assert component_from_purl("not a purl", "s").problem is not None


@pytest.mark.parametrize("kind", ["folder", "db", "zip"])
def test_every_ecosystem_matches_exactly(kind: str, osv_dir: Path, sbom: Path, tmp_path: Path) -> None:
    if kind == "db":
        source = tmp_path / "v.db"
        build_db(osv_dir, source)
    elif kind == "zip":
        source = tmp_path / "all.zip"
        with zipfile.ZipFile(source, "w") as zf:
            for f in sorted(osv_dir.iterdir()):
                zf.write(f, f.name)
    else:
        source = osv_dir
    result = _run(sbom, source)
    assert _vulns(result) == EXPECTED_FINDINGS
    # three components could not be checked: the scan cannot say the rest is all there is
    assert result.status is Status.ERROR and len(result.errors) == 1
    unscannable = {f.details["component"] for f in result.findings if f.rule_id == "EGV001"}
    assert unscannable == {"curl", "golang.org/x/net", "mystery"}
    assert all(not f.blocking for f in result.findings if f.rule_id == "EGV001")
    accepted = _run(sbom, source, allow_unchecked=True)  # what they are, accepted: the verdict of the rest
    assert _vulns(accepted) == EXPECTED_FINDINGS and accepted.status is Status.FAILED and not accepted.errors
    assert result.stats["components"] == len(SBOM_COMPONENTS)


def test_findings_carry_component_source_and_fix(osv_dir: Path, sbom: Path) -> None:
    result = _run(sbom, osv_dir)
    f = next(f for f in result.findings if f.rule_id == "DSA-0001-1")
    assert f.location.path == "app.cdx.json"
    assert f.location.pointer == "/components/0"
    assert f.details["version"] == "3.0.11-1~deb12u1"
    assert f.details["fixed_versions"] == ["3.0.11-1~deb12u2"]
    assert f.details["aliases"] == ["CVE-2099-0001"]
    assert f.severity is Severity.CRITICAL
    assert f.details["severity_source"] == "CVSS_V3"
    assert "fixed in 3.0.11-1~deb12u2" in f.message
    sev = {x.rule_id: (x.severity, x.details["severity_source"]) for x in result.findings if x.blocking}
    assert sev["ALPINE-0001"] == (Severity.HIGH, "CVSS_V4")
    assert sev["DSA-0002-1"] == (Severity.MEDIUM, "database_specific")  # GHSA word MODERATE
    assert sev["GHSA-npm1-0001-0001"] == (Severity.LOW, "database_specific")
    assert sev["DLA-0003-1"] == (Severity.HIGH, "unknown")  # default unknown-severity
    rows = {r[0]: r for r in result.stats["tables"][0]["rows"]}
    assert rows["tar"][4] == "none"  # last_affected: no fix known
    assert rows["zlib1g"][4] == "1:1.2.13.dfsg-1+deb12u1"


def test_fail_on_and_unknown_severity(osv_dir: Path, sbom: Path) -> None:
    assert _run(sbom, osv_dir, fail_on=Severity.CRITICAL, allow_unchecked=True).status is Status.FAILED  # openssl is critical
    only_low = [c for c in SBOM_COMPONENTS if c["name"] in ("widget", "tar")]
    small = write_sbom(sbom.parent / "small.json", only_low)
    assert _run(small, osv_dir, fail_on=Severity.MEDIUM).status is Status.FAILED  # tar: unknown → high
    relaxed = _run(small, osv_dir, fail_on=Severity.MEDIUM, unknown_severity=Severity.LOW)
    assert relaxed.status is Status.PASSED
    assert len([f for f in relaxed.findings if f.blocking]) == 2  # still reported
    assert _run(small, osv_dir, fail_on=Severity.LOW, unknown_severity=Severity.LOW).status is Status.FAILED


def test_ignore_by_alias_and_expiry(osv_dir: Path, sbom: Path) -> None:
    today = date(2026, 6, 1)
    keep = IgnoreRule("CVE-2099-0001", "backported fix", date(2026, 6, 1), "edgegate.toml")
    result = _run(sbom, osv_dir, ignores=[keep], today=today)
    assert ("libssl3", "DSA-0001-1") not in _vulns(result)
    assert result.stats["suppressed"] == 1
    assert result.stats["suppressions"][0]["by"] == "ignore"
    assert not [f for f in result.findings if f.rule_id == "EGV004"]
    expired = _run(sbom, osv_dir, ignores=[keep], today=date(2026, 6, 2))
    assert ("libssl3", "DSA-0001-1") in _vulns(expired)
    warn = [f for f in expired.findings if f.rule_id == "EGV004"]
    assert len(warn) == 1 and not warn[0].blocking
    assert "expired on 2026-06-01 and no longer suppresses" in warn[0].message


def test_vex_not_affected_with_justification_suppresses(osv_dir: Path, tmp_path: Path) -> None:
    vulns = [
        {"id": "PYSEC-0000-1", "analysis": {"state": "not_affected", "justification": "code_not_reachable"},
         "affects": [{"ref": "py-jinja2"}]},
        {"id": "DSA-0001-1", "analysis": {"state": "not_affected"}, "affects": [{"ref": "deb-libssl3"}]},
        {"id": "ALPINE-0001", "analysis": {"state": "exploitable"},
         "affects": [{"ref": "pkg:apk/alpine/musl@1.2.4-r9"}]},
    ]
    sbom = write_sbom(tmp_path / "with-vex.json", vulnerabilities=vulns)
    result = _run(sbom, osv_dir)
    got = _vulns(result)
    assert ("jinja2", "PYSEC-0000-1") not in got
    assert ("libssl3", "DSA-0001-1") in got  # no justification: not applied, and said so
    assert ("musl", "ALPINE-0001") in got
    assert [f.rule_id for f in result.findings if f.rule_id == "EGV005"] == ["EGV005"]
    # A separate VEX file, matched by purl (qualifiers ignored).
    plain = write_sbom(tmp_path / "plain.json")
    vex = write_sbom(tmp_path / "vex.json", components=[], vulnerabilities=[
        {"id": "CVE-2099-0001", "analysis": {"state": "not_affected", "justification": "code_not_present"},
         "affects": [{"ref": "pkg:deb/debian/libssl3@3.0.11-1~deb12u1"}]}])
    # The VEX names the alias; the finding's id is DSA-0001-1 with alias CVE-2099-0001.
    by_vex = _run(plain, osv_dir, vex=[vex])
    assert ("libssl3", "DSA-0001-1") not in _vulns(by_vex)
    assert by_vex.stats["suppressions"][0]["by"] == "vex"


def test_distro_release_without_qualifier_matches_every_release(osv_dir: Path, tmp_path: Path) -> None:
    sbom = write_sbom(tmp_path / "s.json", [
        {"type": "library", "name": "busybox", "version": "1.36.1-r20", "purl": "pkg:apk/alpine/busybox@1.36.1-r20"},
    ])
    # 1.36.1-r20 is fixed for v3.19 (r15) but not for v3.18 (r99): without a release, both apply.
    assert _vulns(_run(sbom, osv_dir)) == {("busybox", "ALPINE-0003")}


def test_unparseable_component_version_is_reported_not_clean(osv_dir: Path, tmp_path: Path) -> None:
    sbom = write_sbom(tmp_path / "s.json", [
        {"type": "library", "name": "musl", "version": "not!valid", "purl": "pkg:apk/alpine/musl@not!valid?distro=3.19"},
    ])
    result = _run(sbom, osv_dir)
    notes = [f for f in result.findings if f.rule_id == "EGV001"]
    assert len(notes) == 1 and notes[0].details["advisories"] == ["ALPINE-0001"]
    assert "not a valid Alpine version" in notes[0].message


def test_records_used_by_the_suite_are_valid() -> None:
    from edgegate.vuln.osv import advisory_from_record

    assert all(advisory_from_record(r) is not None for r in RECORDS)


def test_apk_git_suffixes_are_ordered_as_apk_tools_orders_them(osv_dir: Path, tmp_path: Path) -> None:
    """apk-tools accepts _git/_svn/_cvs/_hg suffixes (univers did not: issue 15): a _git snapshot
    of 1.2.4 sorts after 1.2.4-r10 (fixed), one of 1.2.3 before it (affected)."""
    sbom = write_sbom(tmp_path / "s.json", [
        {"type": "library", "name": "musl", "version": "1.2.4_git20230717-r4",
         "purl": "pkg:apk/alpine/musl@1.2.4_git20230717-r4?distro=3.19.1"},
        {"type": "library", "name": "musl", "version": "1.2.3_git20230717-r4",
         "purl": "pkg:apk/alpine/musl@1.2.3_git20230717-r4?distro=3.19.1"},
    ])
    result = _run(sbom, osv_dir)
    hits = [f for f in result.findings if f.blocking]
    assert [f.details.get("version") or f.message for f in hits] and len(hits) == 1
    assert "1.2.3_git20230717-r4" in hits[0].message
    assert not [f for f in result.findings if f.rule_id == "EGV001"]


def test_image_input_through_the_sbom_module(osv_dir: Path, tmp_path: Path) -> None:
    """``--image`` inventories a root filesystem with edgegate.sbom, then matches its purls."""
    pytest.importorskip("edgegate.sbom.api")
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    (root / "var/lib/dpkg/status").write_text(
        "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\n"
        "Version: 1:1.2.13.dfsg-1\n\n"
        "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\n"
        "Version: 3.0.11-1~deb12u2\n\n"
    )
    result = scan([ScanInput("image", ref=str(root), shown=str(root))], ScanSettings(db=osv_dir))
    assert _vulns(result) == {("zlib1g", "DSA-0002-1")}  # libssl3 carries the fix
    f = next(f for f in result.findings if f.blocking)
    assert f.location.path == str(root) and f.location.pointer is None
    assert result.stats["scanned"] == 2


def test_aliased_records_are_reported_once_under_the_preferred_id(tmp_path: Path) -> None:
    from vuln_records import record

    osv = tmp_path / "osv"
    osv.mkdir()
    import json

    ghsa = record("GHSA-aaaa-bbbb-cccc", "PyPI", "demo", [{"introduced": "0"}, {"fixed": "2.0"}],
                  aliases=["CVE-2099-7"], severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    pysec = record("PYSEC-2099-7", "PyPI", "demo", [{"introduced": "1.0"}, {"fixed": "1.5"}],
                   aliases=["CVE-2099-7", "GHSA-aaaa-bbbb-cccc"])
    (osv / "a.json").write_text(json.dumps(ghsa))
    (osv / "b.json").write_text(json.dumps(pysec))
    sbom = write_sbom(tmp_path / "s.json", [{"type": "library", "name": "demo", "version": "1.2",
                                              "purl": "pkg:pypi/demo@1.2"}])
    result = _run(sbom, osv)
    [f] = [f for f in result.findings if f.blocking]
    assert f.rule_id == "PYSEC-2099-7"
    assert set(f.details["aliases"]) == {"CVE-2099-7", "GHSA-aaaa-bbbb-cccc"}
    assert f.details["fixed_versions"] == ["1.5", "2.0"]
    assert f.details["fix"] == "2.0"  # the GHSA record says 1.2 is affected until 2.0
    assert f.severity is Severity.CRITICAL  # the GHSA record's rating fills in


def test_ecosystems_the_database_does_not_cover_are_reported(tmp_path: Path) -> None:
    """A Debian 12 image scanned with a database holding only PyPI and Debian 11 advisories is
    not "clean": its packages were never checked, and the report says so."""
    import json

    from vuln_records import record

    osv = tmp_path / "osv"
    osv.mkdir()
    for rec in (record("PYSEC-1", "PyPI", "demo", [{"introduced": "0"}, {"fixed": "2.0"}]),
                record("DSA-1", "Debian:11", "openssl", [{"introduced": "0"}, {"fixed": "9"}])):
        (osv / f"{rec['id']}.json").write_text(json.dumps(rec))
    comps = [
        {"type": "library", "name": "openssl", "version": "3.0.11-1",
         "purl": "pkg:deb/debian/openssl@3.0.11-1?distro=debian-12"},
        {"type": "library", "name": "zlib1g", "version": "1.2", "purl": "pkg:deb/debian/zlib1g@1.2?distro=debian-12"},
        {"type": "library", "name": "musl", "version": "1.2.4-r2", "purl": "pkg:apk/alpine/musl@1.2.4-r2"},
        {"type": "library", "name": "demo", "version": "1.0", "purl": "pkg:pypi/demo@1.0"},
        {"type": "library", "name": "old", "version": "1.0", "purl": "pkg:deb/debian/old@1.0?distro=debian-11"},
    ]
    result = _run(write_sbom(tmp_path / "s.json", comps), osv)
    assert _vulns(result) == {("demo", "PYSEC-1")}
    notes = {f.details["ecosystem"]: f for f in result.findings if f.rule_id == "EGV007"}
    assert set(notes) == {"Debian:12", "Alpine"}
    assert notes["Debian:12"].details["components"] == ["openssl 3.0.11-1", "zlib1g 1.2"]
    assert "2 component(s) not checked" in notes["Debian:12"].message
    assert all(not f.blocking for f in notes.values())
    assert result.stats["scanned"] == 2 and result.stats["unscannable"] == 3


def test_ubuntu_priority_severity_and_release(tmp_path: Path) -> None:
    import json

    rec = {
        "id": "UBUNTU-CVE-2099-1", "severity": [{"type": "Ubuntu", "score": "medium"}],
        "affected": [{"package": {"ecosystem": "Ubuntu:22.04:LTS", "name": "openssl"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                                  {"fixed": "3.0.2-0ubuntu1.15"}]}]}],
    }
    osv = tmp_path / "osv"
    osv.mkdir()
    (osv / "u.json").write_text(json.dumps(rec))
    sbom = write_sbom(tmp_path / "s.json", [
        {"type": "library", "name": "libssl3", "version": "3.0.2-0ubuntu1.14",
         "purl": "pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.14?distro=ubuntu-22.04&upstream=openssl"},
        {"type": "library", "name": "openssl", "version": "3.0.2-0ubuntu1.14",
         "purl": "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.14?distro=ubuntu-24.04"},
    ])
    result = _run(sbom, osv)
    assert _vulns(result) == {("libssl3", "UBUNTU-CVE-2099-1")}
    [f] = [f for f in result.findings if f.blocking]
    assert (f.severity, f.details["severity_source"]) == (Severity.MEDIUM, "Ubuntu")
    assert {x.details["ecosystem"] for x in result.findings if x.rule_id == "EGV007"} == {"Ubuntu:24.04"}
