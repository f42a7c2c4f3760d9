"""Version order per ecosystem and the OSV range evaluation algorithm, on hand-written records."""

from __future__ import annotations

import pytest

from edgegate.vuln.osv import (
    Affected,
    MalformedRecord,
    Range,
    Verdict,
    advisory_from_record,
    evaluate,
    range_affects,
)
from edgegate.vuln.versions import UnparseableVersion, parse


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.0", "1:0.1"),  # an epoch beats any upstream version
        ("1.0~rc1", "1.0"),  # ~ sorts before the empty string
        ("1.0~rc1", "1.0~rc2"),
        ("1.0~~", "1.0~"),
        ("1.0-1", "1.0-1+deb12u1"),
        ("1.0-1+deb12u1", "1.0-2"),
        ("2.36-9+deb12u3", "2.36-9+deb12u10"),  # numeric parts compare as numbers
        ("1.0", "1.0-0.1"),
        ("1.2.13.dfsg-1", "1:1.2.13.dfsg-1"),
    ],
)
def test_dpkg_order(lower: str, higher: str) -> None:
    assert parse("Debian", lower) < parse("Debian", higher)
    assert parse("Ubuntu", higher) > parse("Ubuntu", lower)


def test_dpkg_equal_forms() -> None:
    assert parse("Debian", "0:1.0-1") == parse("Debian", "1.0-1")


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.2.4-r2", "1.2.4-r10"),  # -rN compares numerically
        ("1.2.4_rc1-r0", "1.2.4-r0"),  # _rc is a pre-release
        ("1.2.4_alpha1", "1.2.4_beta1"),
        ("1.2.4_beta2", "1.2.4_pre1"),
        ("1.2.4_pre1", "1.2.4_rc1"),
        ("1.2.4", "1.2.4_p1"),  # _p is a post-release (patch)
        ("1.2.4-r5", "1.2.5-r0"),
        ("3.0.12-r0", "3.0.12a-r0"),  # a trailing letter sorts after
        ("1.2.9", "1.2.10"),
    ],
)
def test_apk_order(lower: str, higher: str) -> None:
    assert parse("Alpine", lower) < parse("Alpine", higher)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.beta", "1.0.0-beta"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.9.0", "1.10.0"),
    ],
)
def test_semver_order(lower: str, higher: str) -> None:
    assert parse("npm", lower) < parse("npm", higher)
    assert parse("SEMVER", lower) < parse("SEMVER", higher)


@pytest.mark.parametrize(
    ("lower", "higher"),
    [("1.0rc1", "1.0"), ("1.0", "1.0.post1"), ("1.0.dev1", "1.0a1"), ("2.0", "1!0.1")],
)
def test_pep440_order(lower: str, higher: str) -> None:
    assert parse("PyPI", lower) < parse("PyPI", higher)


@pytest.mark.parametrize(
    ("kind", "text"),
    [("PyPI", "not a version"), ("Debian", "1.0 beta"), ("Alpine", "garbage!"), ("npm", "1.0"),
     ("Debian", ""), ("Go", "1.0.0")],
)
def test_unparseable_versions_raise(kind: str, text: str) -> None:
    with pytest.raises(UnparseableVersion):
        parse(kind, text)


def _rng(*events: tuple[str, str], kind: str = "ECOSYSTEM") -> Range:
    return Range(kind, tuple(events))


def test_events_are_sorted_before_walking() -> None:
    # The real shape of PYSEC-2023-192 (urllib3): the 2.x interval is listed before the 1.x one.
    r = _rng(("introduced", "2.0.0"), ("fixed", "2.0.6"), ("introduced", "0"), ("fixed", "1.26.17"))
    affected = {v: range_affects(r, "PyPI", v) for v in ["1.0", "1.26.16", "1.26.17", "1.26.18", "1.99", "2.0.0",
                                                         "2.0.5", "2.0.6", "2.1"]}
    assert affected == {"1.0": True, "1.26.16": True, "1.26.17": False, "1.26.18": False, "1.99": False,
                        "2.0.0": True, "2.0.5": True, "2.0.6": False, "2.1": False}


def test_last_affected_is_inclusive() -> None:
    r = _rng(("introduced", "1.0"), ("last_affected", "1.4"))
    assert [range_affects(r, "PyPI", v) for v in ["0.9", "1.0", "1.4", "1.4.post1", "1.5"]] == [
        False, True, True, False, False]


def test_introduced_only_is_open_ended() -> None:
    r = _rng(("introduced", "2.0"))
    assert not range_affects(r, "PyPI", "1.9")
    assert range_affects(r, "PyPI", "99.0")


def test_limit_bounds_the_range() -> None:
    r = _rng(("introduced", "0"), ("limit", "2.0"))
    assert range_affects(r, "PyPI", "1.9")
    assert not range_affects(r, "PyPI", "2.0")
    assert not range_affects(r, "PyPI", "3.0")
    star = _rng(("introduced", "0"), ("limit", "*"))
    assert range_affects(star, "PyPI", "3.0")
    # Several limits: below any one of them suffices; "*" among them means no limit at all.
    two = _rng(("introduced", "0"), ("limit", "1.5"), ("limit", "2.5"))
    assert range_affects(two, "PyPI", "2.0") and not range_affects(two, "PyPI", "2.5")
    with_star = _rng(("introduced", "0"), ("limit", "1.5"), ("limit", "*"))
    assert range_affects(with_star, "PyPI", "9.0")
    star_first = _rng(("introduced", "0"), ("limit", "*"), ("limit", "1.5"))
    assert range_affects(star_first, "PyPI", "9.0")
    # The limit bounds where the range applies; fixed events still end intervals inside it.
    both = _rng(("introduced", "1.0"), ("fixed", "1.2"), ("limit", "2.0"))
    assert [range_affects(both, "PyPI", v) for v in ["0.9", "1.1", "1.2", "1.9", "2.0"]] == [
        False, True, False, False, False]


def test_semver_range_in_any_ecosystem() -> None:
    r = _rng(("introduced", "1.2.0"), ("fixed", "1.2.5"), kind="SEMVER")
    assert range_affects(r, "npm", "1.2.4")
    assert not range_affects(r, "npm", "1.2.5")
    assert range_affects(r, "npm", "1.2.5-rc.1")  # a pre-release of the fix is still affected


def test_multiple_ranges_any_one_affects() -> None:
    entry = Affected("Debian:12", "openssl", (
        _rng(("introduced", "0"), ("fixed", "1.1.1n-0+deb11u1")),
        _rng(("introduced", "3.0.0-1"), ("fixed", "3.0.11-1~deb12u2")),
    ))
    assert evaluate(entry, "1.1.1k-1").verdict is Verdict.AFFECTED
    assert evaluate(entry, "1.1.1n-0+deb11u1").verdict is Verdict.NOT_AFFECTED
    assert evaluate(entry, "3.0.11-1~deb12u1").verdict is Verdict.AFFECTED
    assert evaluate(entry, "3.0.11-1~deb12u2").verdict is Verdict.NOT_AFFECTED
    assert evaluate(entry, "3.0.11-1").verdict is Verdict.NOT_AFFECTED  # ~deb12u2 < plain -1


def test_versions_list_matches_exact_strings_even_when_unparseable() -> None:
    entry = Affected("PyPI", "pkg", (_rng(("introduced", "0"), ("fixed", "2.0")),), frozenset({"weird-build"}))
    assert evaluate(entry, "weird-build").verdict is Verdict.AFFECTED
    unknown = evaluate(entry, "other-weird")
    assert unknown.verdict is Verdict.UNKNOWN
    assert "not a valid PyPI version" in unknown.problems[0]


def test_unparseable_event_is_unknown_not_clean() -> None:
    entry = Affected("Alpine:v3.19", "musl", (_rng(("introduced", "0"), ("fixed", "not!a!version")),))
    assert evaluate(entry, "1.2.4-r2").verdict is Verdict.UNKNOWN


def test_unknown_ecosystem_ranges_are_unknown() -> None:
    entry = Affected("Go", "golang.org/x/net", (_rng(("introduced", "0"), ("fixed", "0.7.0")),))
    assert evaluate(entry, "0.6.0").verdict is Verdict.UNKNOWN


def test_git_ranges_and_withdrawn_records() -> None:
    rec = {
        "id": "OSV-TEST-1",
        "affected": [{
            "package": {"ecosystem": "PyPI", "name": "Some_Pkg"},
            "ranges": [{"type": "GIT", "repo": "https://example.invalid/r", "events": [{"introduced": "abc"}]}],
        }],
    }
    adv = advisory_from_record(rec)
    assert adv is not None
    assert adv.affected[0].name == "some-pkg"  # PEP 503
    assert adv.affected[0].ranges == ()  # GIT ignored
    assert evaluate(adv.affected[0], "1.0").verdict is Verdict.NOT_AFFECTED
    assert advisory_from_record({**rec, "withdrawn": "2023-01-01T00:00:00Z"}) is None


@pytest.mark.parametrize(
    "record",
    [
        [],
        {"affected": []},
        {"id": "X", "affected": {"package": {}}},
        {"id": "X", "affected": [{"package": {"ecosystem": "PyPI"}}]},
        {"id": "X", "affected": [{"package": {"ecosystem": "PyPI", "name": "a"},
                                  "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "1.0"}]}]}]},
        {"id": "X", "affected": [{"package": {"ecosystem": "PyPI", "name": "a"},
                                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}]}]},
        {"id": "X", "affected": [{"package": {"ecosystem": "PyPI", "name": "a"}, "versions": [["1.0"]]}]},
    ],
)
def test_malformed_records_are_refused(record: object) -> None:
    with pytest.raises(MalformedRecord):
        advisory_from_record(record)


@pytest.mark.parametrize(
    ("kind", "lower", "higher"),
    [("Alpine", "1.2.4-r9", "1.2.4-r10"), ("Alpine", "1.9", "1.10"), ("Debian", "1.0-9", "1.0-10"),
     ("PyPI", "1.9", "1.10"), ("npm", "1.9.0", "1.10.0")],
)
def test_every_operator_agrees(kind: str, lower: str, higher: str) -> None:
    # univers' AlpineLinuxVersion gets <= and >= wrong on its own (string order): wrapped here.
    a, b = parse(kind, lower), parse(kind, higher)
    assert (a < b, a <= b, a > b, a >= b, a == b, a != b) == (True, True, False, False, False, True)
    assert (b >= a, b > a, b <= a) == (True, True, False)
    assert parse(kind, lower) == parse(kind, lower) and parse(kind, lower) >= parse(kind, lower)
