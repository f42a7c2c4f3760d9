"""Issue 15, Vuln: event order independence, `versions` by ecosystem equality, numeric versions
in YAML records warned and skipped (never coerced)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgegate.vuln.osv import LoadStats, Verdict, advisory_from_record, evaluate, iter_source


def _record(events: list[dict[str, object]], versions: list[object] | None = None,
            eco: str = "PyPI", name: str = "pkg") -> dict[str, object]:
    affected: dict[str, object] = {"package": {"ecosystem": eco, "name": name},
                                   "ranges": [{"type": "ECOSYSTEM", "events": events}]}
    if versions is not None:
        affected["versions"] = versions
    return {"id": "TEST-1", "modified": "2024-01-01T00:00:00Z", "affected": [affected]}


def _verdict(rec: dict[str, object], version: str) -> Verdict:
    adv = advisory_from_record(rec)
    assert adv is not None
    return evaluate(adv.affected[0], version).verdict


# The shape of PYSEC-2022-42972 (apache-iotdb) and PYSEC-2023-72 (pyspark): a range closed by a
# "fixed" and re-opened by an "introduced" at the same version.
SAME_VERSION = [{"introduced": "0"}, {"fixed": "0.13.0"}, {"introduced": "0.13.0"}, {"fixed": "0.13.1"}]


@pytest.mark.parametrize("events", [SAME_VERSION, [SAME_VERSION[0], SAME_VERSION[2], SAME_VERSION[1],
                                                   SAME_VERSION[3]]])
def test_event_order_does_not_change_the_verdict(events: list[dict[str, object]]) -> None:
    rec = _record(events)
    assert _verdict(rec, "0.13.0") is Verdict.AFFECTED
    assert _verdict(rec, "0.12.0") is Verdict.AFFECTED
    assert _verdict(rec, "0.13.1") is Verdict.NOT_AFFECTED


@pytest.mark.parametrize(("listed", "installed"), [("0.5", "0.5.0"), ("3.2rc1", "3.2RC1"), ("1.0", "1.0.0.0")])
def test_listed_versions_compare_by_ecosystem_equality(listed: str, installed: str) -> None:
    rec = _record([{"introduced": "0"}, {"fixed": "0.0.1"}], versions=[listed])
    assert _verdict(rec, installed) is Verdict.AFFECTED
    assert _verdict(rec, "9.9") is Verdict.NOT_AFFECTED


def test_listed_versions_stay_exact_without_an_ordering() -> None:
    rec = _record([{"introduced": "0"}], versions=["1.0"], eco="Hackage")
    adv = advisory_from_record(rec)
    assert adv is not None
    assert evaluate(adv.affected[0], "1.0").verdict is Verdict.AFFECTED


def test_numeric_yaml_version_is_warned_and_its_range_skipped(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "id: TEST-2\nmodified: 2024-01-01T00:00:00Z\naffected:\n"
        "  - package: {ecosystem: PyPI, name: pkg}\n"
        "    ranges:\n"
        "      - type: ECOSYSTEM\n        events: [{introduced: '0'}, {fixed: 1.10}]\n"
        "      - type: ECOSYSTEM\n        events: [{introduced: '2.0'}, {fixed: '2.5'}]\n"
    )
    stats = LoadStats()
    advs = list(iter_source(tmp_path, stats))
    assert len(advs) == 1
    entry = advs[0].affected[0]
    assert len(entry.ranges) == 1  # the numeric one is gone, never read as "1.1"
    assert evaluate(entry, "2.1").verdict is Verdict.AFFECTED
    assert evaluate(entry, "1.5").verdict is Verdict.NOT_AFFECTED
    assert any("1.1" in str(w) and "not a version string" in str(w) for w in stats.warnings)


def test_an_sbom_without_any_package_is_nothing_to_check(cli, tmp_path: Path) -> None:
    """Only the operating system (and files) listed: no package was checked, so no pass."""
    from vuln_records import write_records, write_sbom

    sbom = write_sbom(tmp_path / "s.json", [{"type": "operating-system", "name": "debian", "version": "12"},
                                            {"type": "file", "name": "etc/passwd"}])
    osv = write_records(tmp_path / "osv")
    assert cli("vuln", "scan", "--sbom", sbom, "--db", osv, "--no-config").exit_code == 2
