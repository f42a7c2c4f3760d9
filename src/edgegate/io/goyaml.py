"""YAML as Kubernetes reads it: the rules of go-yaml v2 (through sigs.k8s.io/yaml, which kubectl
and conftest use) where they differ from PyYAML's YAML 1.1, so a policy judges the object the
cluster will be sent, not another reading of the same text.

- Plain scalars resolve as go-yaml v2's ``resolve``: ``y``/``n`` are booleans, ``0o17`` and ``08``
  are numbers (``ParseInt`` with base 0, then ``ParseUint``, then its float pattern), ``1e3`` is a
  float, ``1:30`` and dates stay strings (a timestamp decoded into ``interface{}`` is its text).
- ``.inf`` and ``.nan`` are refused: JSON has no such number, and kubectl's conversion fails.
- Merge keys apply in order: a ``<<`` after an explicit key overrides it, as go-yaml decodes.
- Documents are split as kubectl's ``YAMLReader`` splits them: a line starting with ``---`` ends a
  document when only blanks or a ``#`` comment follow (``---#x`` too, which YAML reads as a key);
  any other text after it is an error (kubectl refuses it).
"""

from __future__ import annotations

import math
import re
from typing import Any

from edgegate.errors import InputError

PLAIN_TAG = "tag:edgegate,2026:go-plain"
"""The tag given to plain (unquoted, untagged) scalars, resolved by `plain_value`."""
MERGE_TAG = "tag:yaml.org,2002:merge"

_TRUE = frozenset({"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
_FALSE = frozenset({"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_NON_FINITE = frozenset({".nan", ".NaN", ".NAN", *(s + v for s in ("", "+", "-") for v in (".inf", ".Inf", ".INF"))})
_MAP_FIRST = frozenset("yYnNtTfFoO~")
_DIGITS = frozenset("0123456789")
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")
_BASES = {"x": (16, "0123456789abcdefABCDEF"), "o": (8, "01234567"), "b": (2, "01")}
_INT64 = (-(2**63), 2**63 - 1)
_SEPARATOR = re.compile(r"^---([^\r\n]*)", re.MULTILINE)


def plain_value(text: str, path: str, line: int) -> Any:
    """The value go-yaml v2 gives the plain scalar `text` (decoded into ``interface{}``)."""
    if text in _NULL:
        return None
    first = text[0]
    if first in _MAP_FIRST:
        return True if text in _TRUE else False if text in _FALSE else text
    if text in _NON_FINITE:
        raise InputError(f"the number {text!r} cannot be checked: JSON has no such value (kubectl refuses it)",
                         path, line)
    if first not in _DIGITS and first not in "+-.":
        return text
    plain = text.replace("_", "")
    if first == ".":  # ParseFloat of the text itself: underscores only between digits, as in Go
        if "_" in text and not _underscores_between_digits(text):
            return text
        value = float(plain) if _DOT_FLOAT.fullmatch(plain) else math.inf
        return value if math.isfinite(value) else text  # Go's ParseFloat fails on overflow
    number = _parse_int(plain)
    if number is not None:
        return number
    if _YAML_STYLE_FLOAT.fullmatch(plain):
        value = float(plain)
        if math.isfinite(value):  # Go's ParseFloat fails on overflow: the text stays a string
            return value
    return text


def json_key(value: Any, path: str, line: int) -> str:
    """A mapping key as sigs.k8s.io/yaml writes it into JSON: ``n:`` is the key ``"false"``, ``1:``
    is ``"1"``. Keys its conversion refuses (null, beyond int64) and float keys (written in
    float32 form) are refused here too."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and _INT64[0] <= value <= _INT64[1]:
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    raise InputError(f"the mapping key {value!r} has no JSON form kubectl would write; quote it", path, line)


def _underscores_between_digits(text: str) -> bool:
    """Go's ``underscoreOK`` for a decimal number: each ``_`` between two digits."""
    return all(0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
               for i, c in enumerate(text) if c == "_")


def _parse_int(plain: str) -> int | None:
    """Go's ``strconv.ParseInt(plain, 0, 64)``, else ``ParseUint(plain, 0, 64)``; None if neither."""
    sign, body = (plain[0], plain[1:]) if plain[:1] in ("+", "-") else ("", plain)
    if not body:
        return None
    base, digits = 10, "0123456789"
    if len(body) > 1 and body[0] == "0":
        prefix = body[1].lower()
        if prefix in _BASES:
            base, digits = _BASES[prefix]
            body = body[2:]
        else:
            base, digits = 8, "01234567"
            body = body[1:]
    if not body or len(body) > 64 or any(c not in digits for c in body):  # 64 digits: past 64 bits in any base
        return None
    value = int(body, base) * (-1 if sign == "-" else 1)
    if _INT64[0] <= value <= _INT64[1]:
        return value
    if not sign and value < 2**64:  # ParseUint: no sign
        return value
    return None


def split_text(text: str, path: str) -> str:
    """`text` with kubectl's document separators made YAML's: ``---#`` gets its blank (YAML needs
    one), any other text after a leading ``---`` is refused as kubectl refuses it."""
    if "---" not in text:
        return text
    out: list[str] = []
    last = 0
    for m in _SEPARATOR.finditer(text):
        rest = m.group(1)
        kept = rest.strip()
        if kept and not kept.startswith("#"):
            line = text.count("\n", 0, m.start()) + 1
            raise InputError(
                "a line starting with '---' has text after it: kubectl refuses it as a document separator",
                path, line,
            )
        if rest[:1] == "#":
            out.append(text[last:m.start(1)])
            out.append(" ")
            last = m.start(1)
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def loader() -> Any:
    """A PyYAML loader class (libyaml's when there) that tags plain scalars `PLAIN_TAG` (``<<``:
    the merge tag) for `plain_value`, and resolves everything else as PyYAML does."""
    global _LOADER
    if _LOADER is None:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        class _GoLoader(base):  # type: ignore[misc, valid-type]
            def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
                if kind is yaml.ScalarNode and implicit[0]:
                    return MERGE_TAG if value == "<<" else PLAIN_TAG
                return super().resolve(kind, value, implicit)

        _LOADER = _GoLoader
    return _LOADER


_LOADER: Any = None
