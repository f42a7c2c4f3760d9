"""The offline matcher on the real PyPA advisory database (../shared), and the online mode (the
real pip-audit OsvService) against a local OSV emulator serving the same records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgegate.findings import Status
from edgegate.vuln.components import pypi_component
from edgegate.vuln.db import open_db
from edgegate.vuln.match import match_offline, match_online
from edgegate.vuln.osv import LoadStats, iter_source, range_affects
from edgegate.vuln.scan import ScanInput, ScanSettings, scan
from edgegate.vuln.versions import UnparseableVersion

# Facts of the data, checked by hand against vulns/<pkg>/*.yaml (ECOSYSTEM events):
#   jinja2: 2014-8 <2.7.2, 2014-82 <2.7.3, 2019-220 <2.8.1, 2019-217 <2.10.1, 2021-66 <2.11.3
#   pyyaml: 2018-49 <5.1, 2020-176 [5.1, 5.2b1), 2020-96 [5.1, 5.3.1), 2021-142 <5.4
#   urllib3: 2017-98 [1.17,1.18.1), 2018-32 <1.23, 2019-132 <1.24.3, 2019-133/2023-207 <1.24.2,
#     2020-148 <1.25.9, 2020-149 [1.25.2,1.25.8), 2021-59 [1.26.0,1.26.4), 2021-108 <1.26.5,
#     2023-192 [2.0.0,2.0.6) + <1.26.17, 2023-212 [2.0.0,2.0.7) + <1.26.18
EXPECTED = {
    ("jinja2", "2.10"): {"PYSEC-2019-217", "PYSEC-2021-66"},
    ("jinja2", "2.7.2"): {"PYSEC-2014-82", "PYSEC-2019-220", "PYSEC-2019-217", "PYSEC-2021-66"},
    ("jinja2", "3.1.4"): set(),
    ("pyyaml", "5.3"): {"PYSEC-2020-96", "PYSEC-2021-142"},
    ("PyYAML", "5.1"): {"PYSEC-2020-176", "PYSEC-2020-96", "PYSEC-2021-142"},
    ("pyyaml", "5.4"): set(),
    ("urllib3", "1.26.4"): {"PYSEC-2021-108", "PYSEC-2023-192", "PYSEC-2023-212"},
    ("urllib3", "1.25.3"): {"PYSEC-2020-148", "PYSEC-2020-149", "PYSEC-2021-108", "PYSEC-2023-192",
                            "PYSEC-2023-212"},
    ("urllib3", "2.0.3"): {"PYSEC-2023-192", "PYSEC-2023-212"},
    ("urllib3", "2.0.6"): {"PYSEC-2023-212"},
    ("urllib3", "2.0.7"): set(),
}

# Where a record's `versions` list and its own ranges disagree (by the OSV algorithm): pre-releases
# listed below an `introduced` release, a listed `fixed` version, and overlapping ranges in one
# events list. These are facts of the snapshot; the `versions` list still makes them match.
RANGE_VS_LIST_QUIRKS = {
    ("PYSEC-2021-114", "2.11.6"), ("PYSEC-2023-177", "23.9.0"), ("PYSEC-2023-177", "23.9.0.post1"),
    ("PYSEC-2023-61", "3.2a1"), ("PYSEC-2023-61", "3.2b1"), ("PYSEC-2023-61", "3.2rc1"),
    ("PYSEC-2023-61", "4.2a1"), ("PYSEC-2023-61", "4.2b1"), ("PYSEC-2023-61", "4.2rc1"),
}


@pytest.mark.parametrize(("name", "version"), sorted(EXPECTED))
def test_exact_advisories_for_real_pins(pypa_db: Path, name: str, version: str) -> None:
    db = open_db(pypa_db)
    try:
        result = match_offline([pypi_component(name, version, "req.txt")], db)
    finally:
        db.close()
    assert {m.advisory.id for m in result.matches} == EXPECTED[(name, version)]
    assert result.unscannable == []


def test_fixed_versions_and_aliases_from_the_records(pypa_db: Path) -> None:
    db = open_db(pypa_db)
    try:
        result = match_offline([pypi_component("urllib3", "1.26.4", "r.txt")], db)
    finally:
        db.close()
    by_id = {m.advisory.id: m for m in result.matches}
    assert by_id["PYSEC-2023-192"].fixed == ["1.26.17", "2.0.6"]
    assert set(by_id["PYSEC-2023-192"].advisory.aliases) == {"CVE-2023-43804", "GHSA-v845-jxx5-vc9f"}
    assert by_id["PYSEC-2023-192"].advisory.rating is not None  # CVSS_V3 8.1 in the record
    assert by_id["PYSEC-2023-192"].advisory.rating.level.value == "high"


def test_db_counts_match_the_snapshot(pypa_db: Path, pypa_dir: Path) -> None:
    files = sum(1 for _ in pypa_dir.rglob("*.yaml"))
    withdrawn = sum("\nwithdrawn:" in p.read_text(encoding="utf-8") for p in pypa_dir.rglob("*.yaml"))
    db = open_db(pypa_db)
    try:
        info = db.info()
    finally:
        db.close()
    assert info.files == files
    assert info.withdrawn == withdrawn == 10
    assert info.advisories == files - withdrawn
    assert info.skipped == 0


def test_ranges_agree_with_published_version_lists(pypa_dir: Path) -> None:
    """Independent check of the range evaluator: OSV's own tooling enumerated the affected PyPI
    releases of each record into `versions`; the ranges must include every one of them, except the
    known quirks of the data and legacy versions PEP 440 cannot parse."""
    stats = LoadStats()
    disagree: set[tuple[str, str]] = set()
    checked = 0
    for adv in iter_source(pypa_dir, stats):
        for entry in adv.affected:
            for v in entry.versions if entry.ranges else ():
                try:
                    inside = any(range_affects(r, entry.ecosystem, v) for r in entry.ranges)
                except UnparseableVersion:
                    continue
                checked += 1
                if not inside:
                    disagree.add((adv.id, v))
    assert checked > 130_000
    assert disagree == RANGE_VS_LIST_QUIRKS


REQUIREMENTS = """\
jinja2==2.10
PyYAML==5.1  # PEP 503 normalisation: pyyaml
urllib3==1.25.3
django==3.2.18
requests==2.19.1
flask==0.12.2
pillow==9.0.0
jinja2==3.1.4
"""


def _pairs(result) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return {(f.details["component"].lower(), f.details["version"], f.rule_id)
            for f in result.findings if f.blocking}


def test_online_mode_matches_offline_through_pip_audit(pypa_dir: Path, pypa_db: Path, tmp_path: Path) -> None:
    from vuln_osv_server import load_records, osv_server

    req = tmp_path / "requirements.txt"
    req.write_text(REQUIREMENTS, encoding="utf-8")
    records = load_records(pypa_dir)
    offline = scan([ScanInput("python", req, "requirements.txt")], ScanSettings(db=pypa_db))
    with osv_server(records) as (url, received):
        online = scan([ScanInput("python", req, "requirements.txt")], ScanSettings(osv_url=url))
    assert len(received) == 8  # pip-audit's OsvService really queried the emulator
    assert received[0] == {"package": {"name": "jinja2", "ecosystem": "PyPI"}, "version": "2.10"}
    assert offline.status is online.status is Status.FAILED
    assert _pairs(offline) == _pairs(online)
    assert len(_pairs(offline)) > 20
    off = {(f.rule_id, f.details["version"]): (f.severity, f.details["fix"]) for f in offline.findings if f.blocking}
    on = {(f.rule_id, f.details["version"]): (f.severity, f.details["fix"]) for f in online.findings if f.blocking}
    assert off == on
    assert online.stats["mode"] == "online"


def test_pip_audit_reads_the_same_fixes_from_single_range_records(pypa_dir: Path, pypa_db: Path) -> None:
    """pip-audit leaves range evaluation to the OSV server and reads fix versions from a record's
    first ECOSYSTEM range; on the same records those fixes equal edgegate's."""
    from packaging.version import Version
    from pip_audit._service.interface import ResolvedDependency
    from pip_audit._service.osv import OsvService
    from vuln_osv_server import load_records, osv_server

    records = load_records(pypa_dir)
    db = open_db(pypa_db)
    compared = 0
    try:
        with osv_server(records) as (url, _):
            service = OsvService(osv_url=url)
            for name, version in sorted(EXPECTED):
                _, results = service.query(ResolvedDependency(name=name, version=Version(version)))
                ours = match_offline([pypi_component(name, version, "x")], db)
                ours_by_id = {m.advisory.id: m for m in ours.matches}
                assert {r.id for r in results} == set(ours_by_id) == EXPECTED[(name, version)]
                for r in results:
                    m = ours_by_id[r.id]
                    if len(m.fixed) == 1:
                        assert [str(v) for v in r.fix_versions] == m.fixed
                        compared += 1
    finally:
        db.close()
    assert compared >= 10


def test_scan_from_folder_source_equals_db(pypa_dir: Path, pypa_db: Path, tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("jinja2==2.10\nurllib3==2.0.3\n", encoding="utf-8")
    a = scan([ScanInput("python", req, "r.txt")], ScanSettings(db=pypa_db))
    b = scan([ScanInput("python", req, "r.txt")], ScanSettings(db=pypa_dir))
    assert _pairs(a) == _pairs(b) == {
        ("jinja2", "2.10", "PYSEC-2019-217"), ("jinja2", "2.10", "PYSEC-2021-66"),
        ("urllib3", "2.0.3", "PYSEC-2023-192"), ("urllib3", "2.0.3", "PYSEC-2023-212"),
    }
    table = a.stats["tables"][0]
    assert table["columns"][0] == "component"
    assert [r[:2] + r[3:5] for r in table["rows"]] == [["jinja2", "2.10", "high", "2.11.3"],
                                                        ["urllib3", "2.0.3", "high", "2.0.7"]]
    json.dumps(a.to_dict())


@pytest.mark.network
def test_online_against_osv_dev(tmp_path: Path) -> None:
    """The real OSV service (skipped offline): a known-vulnerable pin is found."""
    import socket

    try:
        socket.create_connection(("api.osv.dev", 443), timeout=3).close()
    except OSError:
        pytest.skip("api.osv.dev not reachable")
    result = match_online([pypi_component("jinja2", "2.10", "x")])
    ids = {i for m in result.matches for i in m.ids}
    assert {"PYSEC-2019-217", "PYSEC-2021-66"} <= ids


@pytest.mark.slow
def test_online_and_offline_agree_across_the_database(pypa_dir: Path, pypa_db: Path) -> None:
    """Every third (package, version) taken from the records' own version lists (~680 queries),
    online (pip-audit → local emulator answering from `versions` lists) vs offline. Online must be
    a subset; each offline-only finding must be explained by what the emulator cannot do: the
    version is not literally in that record's list (an open range reaching releases published
    after the record, evaluated offline), or pip-audit sends a PEP 440-normalised string
    (``0.6.3-2`` → ``0.6.3.post2``) or cannot parse the version at all."""
    from packaging.version import InvalidVersion, Version
    from vuln_osv_server import load_records, osv_server

    records = load_records(pypa_dir)
    listed: dict[str, set[str]] = {}
    picks: list[tuple[str, str]] = []
    for rec in records:
        for aff in rec.get("affected", []):
            versions = [str(v) for v in aff.get("versions", [])]
            listed[rec["id"]] = listed.get(rec["id"], set()) | set(versions)
            for v in versions[:1] + versions[-1:]:
                if (aff["package"]["name"], v) not in picks:
                    picks.append((aff["package"]["name"], v))
    comps = [pypi_component(n, v, "x") for n, v in picks[::3]]
    db = open_db(pypa_db)
    try:
        offline = match_offline(comps, db)
    finally:
        db.close()
    with osv_server(records) as (url, _):
        online = match_online(comps, osv_url=url)
    off = {(m.component.name, m.component.version, m.advisory.id) for m in offline.matches}
    on = {(m.component.name, m.component.version, m.advisory.id) for m in online.matches}
    assert len(on) > 5000
    assert on <= off

    def explained(version: str, vid: str) -> bool:
        if version not in listed.get(vid, set()):
            return True
        try:
            return str(Version(version)) != version
        except InvalidVersion:
            return True

    assert [x for x in sorted(off - on) if not explained(x[1], x[2])] == []
