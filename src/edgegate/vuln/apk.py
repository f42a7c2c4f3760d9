"""Alpine package versions, ordered as apk-tools orders them (the semantics of its
``src/version.c``: tokens ``digit{.digit}...{letter}{_suffix{N}}...{~hash}{-rN}``).

No general-purpose library orders apk versions as apk-tools does (univers' comparator disagrees on
``8`` vs ``8-r0``, ``_p`` vs ``_p0``, leading zeros and rejects ``_git`` and ``~hash``), so this
is a small, independent re-statement of the rules, checked against apk-tools' own
``test/unit/version.data`` in the tests.
"""

from __future__ import annotations

import functools

# Token kinds, in apk-tools' order (the order matters: a longer version whose next token kind is
# smaller is greater, see `_compare`).
_INITIAL, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _HASH, _REVISION, _END, _INVALID = range(9)

# Suffix ranks: before _NONE sorts below the bare version (pre-releases), after it above.
_SUFFIXES = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9}
_NONE = 4

_HEX = frozenset("0123456789abcdef")


class InvalidApkVersion(ValueError):
    """Not a valid apk version."""


Token = tuple[int, int, str]
"""(kind, number or suffix rank, text)."""


def _digits(text: str, i: int) -> tuple[int, str, int]:
    j = i
    while j < len(text) and text[j].isascii() and text[j].isdigit():
        j += 1
    if j == i:
        raise InvalidApkVersion(text)
    return int(text[i:j]), text[i:j], j


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`; `InvalidApkVersion` when apk-tools would reject it."""
    if not text:
        raise InvalidApkVersion(text)
    number, raw, i = _digits(text, 0)
    tokens: list[Token] = [(_INITIAL, number, raw)]
    kind = _INITIAL
    while i < len(text):
        ch = text[i]
        if "a" <= ch <= "z":
            if kind > _DIGIT:
                raise InvalidApkVersion(text)
            kind = _LETTER
            tokens.append((kind, ord(ch), ch))
            i += 1
        elif ch == "." or (ch.isdigit() and ch.isascii()):
            if ch == ".":
                if kind > _DIGIT:
                    raise InvalidApkVersion(text)
                i += 1
            if kind in (_INITIAL, _DIGIT):
                kind = _DIGIT
            elif kind == _SUFFIX:
                kind = _SUFFIX_NO
            else:
                raise InvalidApkVersion(text)
            number, raw, i = _digits(text, i)
            tokens.append((kind, number, raw))
        elif ch == "_":
            if kind > _SUFFIX_NO:
                raise InvalidApkVersion(text)
            j = i + 1
            while j < len(text) and "a" <= text[j] <= "z":
                j += 1
            name = text[i + 1 : j]
            if name not in _SUFFIXES:
                raise InvalidApkVersion(text)
            kind = _SUFFIX
            tokens.append((kind, _SUFFIXES[name], name))
            i = j
        elif ch == "~":
            if kind >= _HASH:
                raise InvalidApkVersion(text)
            j = i + 1
            while j < len(text) and text[j] in _HEX:
                j += 1
            if j == i + 1:
                raise InvalidApkVersion(text)
            kind = _HASH
            tokens.append((kind, 0, text[i + 1 : j]))
            i = j
        elif ch == "-":
            if kind >= _REVISION or not text.startswith("-r", i):
                raise InvalidApkVersion(text)
            kind = _REVISION
            number, raw, i = _digits(text, i + 2)
            tokens.append((kind, number, raw))
        else:
            raise InvalidApkVersion(text)
    return tokens


def _sign(a: object, b: object) -> int:
    return int((a > b) - (a < b))  # type: ignore[operator]


def _token_cmp(a: Token, b: Token) -> int:
    kind = a[0]
    if kind == _DIGIT and (a[2][:1] == "0" or b[2][:1] == "0"):
        return _sign(a[2].encode(), b[2].encode())  # a leading zero: byte-wise string order
    if kind in (_INITIAL, _DIGIT, _SUFFIX_NO, _REVISION, _LETTER, _SUFFIX):
        return _sign(a[1], b[1])
    return _sign(a[2].encode(), b[2].encode())  # commit hash


def compare_tokens(ta: list[Token], tb: list[Token]) -> int:
    """-1, 0 or 1 as apk-tools' ``apk_version_compare`` (non-fuzzy)."""
    n = 0
    while n < len(ta) and n < len(tb) and ta[n][0] == tb[n][0]:
        r = _token_cmp(ta[n], tb[n])
        if r:
            return r
        n += 1
    ka = ta[n][0] if n < len(ta) else _END
    kb = tb[n][0] if n < len(tb) else _END
    if ka == kb:
        return 0
    # Equal so far: the longer one is greater, unless what follows is a pre-release suffix.
    if ka == _SUFFIX and ta[n][1] < _NONE:
        return -1
    if kb == _SUFFIX and tb[n][1] < _NONE:
        return 1
    return -1 if ka > kb else 1


@functools.total_ordering
class ApkVersion:
    """A valid apk version, ordered (and equal) as apk-tools orders them: ``1.0 == 1.0`` but
    ``8 < 8-r0`` and ``1.0_p < 1.0_p0``."""

    __slots__ = ("text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApkVersion) and compare_tokens(self.tokens, other.tokens) == 0

    def __lt__(self, other: ApkVersion) -> bool:
        return compare_tokens(self.tokens, other.tokens) < 0

    def __hash__(self) -> int:
        return hash(self.text)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"ApkVersion({self.text!r})"
