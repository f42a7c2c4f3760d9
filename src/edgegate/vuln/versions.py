"""Version order per OSV ecosystem, from well-kept libraries where one agrees with the tool.

PyPI: PEP 440 (`packaging`); Debian/Ubuntu: dpkg order (`python-debian`); Alpine: apk-tools'
order (`edgegate.vuln.apk`: univers disagreed with apk-tools); npm and OSV ``SEMVER`` ranges: SemVer 2.0 (`semver`). Anything that does not parse
raises `UnparseableVersion`: the caller reports it, it never reads as "not affected".
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

SUPPORTED = ("PyPI", "npm", "Debian", "Ubuntu", "Alpine")
"""OSV ecosystems (the part before ``:``) whose ``ECOSYSTEM`` ranges edgegate can evaluate."""


class UnparseableVersion(ValueError):
    """A version string that is not valid in its ecosystem."""

    def __init__(self, ecosystem: str, version: str) -> None:
        super().__init__(f"{version!r} is not a valid {ecosystem} version")
        self.ecosystem = ecosystem
        self.version = version


def _pypi(text: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        raise ValueError(text) from None


def _dpkg(text: str) -> Any:
    from debian.debian_support import Version

    if not text or text != text.strip():
        raise ValueError(text)
    return Version(text)


def _apk(text: str) -> Any:
    from edgegate.vuln.apk import ApkVersion, InvalidApkVersion

    try:
        return ApkVersion(text)
    except InvalidApkVersion:
        raise ValueError(text) from None


def _semver(text: str) -> Any:
    import semver

    # OSV SEMVER ranges may carry a leading "v" in the wild; SemVer itself does not.
    return semver.Version.parse(text[1:] if text[:1] == "v" else text)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "PyPI": _pypi,
    "npm": _semver,
    "Debian": _dpkg,
    "Ubuntu": _dpkg,
    "Alpine": _apk,
    "SEMVER": _semver,
}


def ecosystem_base(ecosystem: str) -> str:
    """``"Debian:12"`` → ``"Debian"``; ``"PyPI"`` → ``"PyPI"``."""
    return ecosystem.split(":", 1)[0]


def can_order(kind: str) -> bool:
    """True when versions of `kind` (an ecosystem base or ``"SEMVER"``) can be ordered."""
    return kind in _PARSERS


@lru_cache(maxsize=65536)
def parse(kind: str, text: str) -> Any:
    """A comparable version of `text` in `kind` (ecosystem base or ``"SEMVER"``)."""
    fn = _PARSERS.get(kind)
    if fn is None:
        raise UnparseableVersion(kind, text)
    try:
        return fn(text)
    except Exception:  # each library has its own error type; all mean "not a version here"
        raise UnparseableVersion(kind, text) from None
