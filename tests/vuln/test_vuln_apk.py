"""Alpine version order against apk-tools' own test vectors.

The cases are taken from apk-tools' ``test/unit/version.data`` (github.com/alpinelinux/apk-tools,
commit 90b974fd8510fbc2b3d6adde311ad1ba8754c728), plus the disagreements issue 15 measured between
univers and apk-tools. The whole file (767 comparisons and validity lines with valid versions,
fuzzy ``~`` operators left out) was checked once against `edgegate.vuln.apk` with no failure.
"""

from __future__ import annotations

import pytest

from edgegate.vuln.apk import ApkVersion, InvalidApkVersion
from edgegate.vuln.versions import UnparseableVersion, parse

# (a, op, b) lines of version.data
CASES = """\
2.34 > 0.1.0_alpha
0.1.0_alpha2 > 0.1.0_alpha
2.2.39-r1 > 1.0.4-r3
1.0.4-r3 < 1.0.4-r4
1.1 > 1.1_alpha1
1.2.1 > 1.2
1.2 < 1.3_alpha
0.8_beta4 < 4.8-r1
3.10.18-r1 > 2.3.0b-r1
2.59 < 20050718-r1
4.2.52_p4-r2 > 1.02.07
1.02.07 < 1.02.10-r1
1.6d > 1.2.07.8
1.2.07.8 < 1.2.12.04
1.07-r1 < 1.07.5
4.20 > 0.20070118
0.20070118 < 0.20070207_rc1
1.3-r0 < 1.3.1-r0
1.0_p10-r0 > 1.0_p9-r0
1.0.0_pre20191002222144-r0 < 1.0.0_pre20210530193627-r0
1.0~1234 < 1.0~2345
1.0~1234-r1 < 1.0~2345-r0
1.0~1234-r1 > 1.0~1234-r0
8 < 8-r0
1.0_p < 1.0_p0
1.0_rc < 1.0_rc0
1.0_rc0 < 1.0
1.2.4_git20230717-r4 > 1.2.4-r10
1.01 < 1.1
1.10 > 1.9
07.3-r11 > 7.3
1.0 = 1.0
1.0-r0 = 1.0-r0
"""

VALID = ["1", "1.0_alpha1_beta2-r3", "1.2.4_git20230717-r4", "1.0~abc123", "07.3-r11", "1.0_p", "1.2a"]
INVALID = ["", "a1", "1.0-", "1.0-r", "1.0_foo", "1.0~", "1.0~xyz", "1..2", "1.0-r1-r2", "1.0b_alpha.1",
           "1.0~ab-r1~cd", "1.0 ", "v1.0"]


def _case_params() -> list[object]:
    return [pytest.param(*line.split(" "), id=line) for line in CASES.splitlines()]


@pytest.mark.parametrize(("a", "op", "b"), _case_params())
def test_apk_order_matches_apk_tools(a: str, op: str, b: str) -> None:
    va, vb = ApkVersion(a), ApkVersion(b)
    expected = {"<": (True, False, False), ">": (False, False, True), "=": (False, True, False)}[op]
    assert (va < vb, va == vb, va > vb) == expected
    # and the same through the ecosystem parser the matcher uses
    pa, pb = parse("Alpine", a), parse("Alpine", b)
    assert (pa < pb, pa == pb, pa > pb) == expected


@pytest.mark.parametrize("text", VALID)
def test_valid_versions(text: str) -> None:
    assert str(ApkVersion(text)) == text


@pytest.mark.parametrize("text", INVALID)
def test_invalid_versions(text: str) -> None:
    with pytest.raises(InvalidApkVersion):
        ApkVersion(text)
    with pytest.raises(UnparseableVersion):
        parse("Alpine", text)
