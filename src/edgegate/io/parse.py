"""JSON and TOML parsing of untrusted text: every failure is an `InputError` naming the file.

`json.loads` and `tomllib.loads` raise more than their decode errors on hostile input: a
`RecursionError` on 10,000-deep nesting and a `ValueError` on an integer of more than
`sys.get_int_max_str_digits()` digits. These wrappers turn each into one clear input error.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from edgegate.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOO_DEEP = "nested too deeply"
TOO_LONG_NUMBER = "a number with too many digits"

_TOML_WHERE = re.compile(r"\(at line (\d+), (column \d+)\)")


def toml_error(exc: Exception) -> tuple[str, int | None]:
    """The message and 1-based line of a `tomllib.TOMLDecodeError`. The line is an attribute
    only from Python 3.14 on; before, it is in the text: "Invalid value (at line 3, column 5)"."""
    text = str(exc)
    m = _TOML_WHERE.search(text)
    lineno = getattr(exc, "lineno", None)
    line = lineno if isinstance(lineno, int) else int(m.group(1)) if m else None
    msg = getattr(exc, "msg", None) or _TOML_WHERE.sub(r"(\2)", text).strip() or "syntax error"
    return str(msg), line


class DuplicateKeyError(ValueError):
    """A JSON object names a key twice (`unique_keys`)."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses a key given twice: parsers disagree on which one wins
    (Python's and Go's take the last, others the first), so such a document means two things."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(f"the key {key[:80]!r} appears twice in one object")
        out[key] = value
    return out


def lone_surrogate(doc: Any, text: str) -> bool:
    """Whether `doc`, parsed from JSON `text`, holds a string with a UTF-16 surrogate that is not
    half of a pair (JSON can escape one; it is not Unicode text). Only looked for when `text`
    has a ``\\ud`` escape."""
    if "\\ud" not in text and "\\uD" not in text:
        return False
    import json

    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except RecursionError:
        return False
    return False


class _NotJson(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJson(name)


def loads_json(text: str | bytes, path: str | Path | None, what: str = "JSON") -> Any:
    """`json.loads(text)`; malformed, too deep or too-long-number input is an `InputError`, and so
    are ``NaN``/``Infinity``, which Python reads but JSON (RFC 8259) and every peer refuse."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except _NotJson as exc:
        raise InputError(f"malformed {what}: {exc} is not a JSON number", path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed {what}: {exc.msg} (column {exc.colno})", path, exc.lineno) from None
    except RecursionError:
        raise InputError(f"{what} {TOO_DEEP}", path) from None
    except UnicodeDecodeError:
        raise InputError(f"malformed {what}: not valid UTF-8", path) from None
    except ValueError:  # int() of more than sys.get_int_max_str_digits() digits
        raise InputError(f"malformed {what}: {TOO_LONG_NUMBER}", path) from None


def loads_toml(text: str, path: str | Path | None, what: str = "TOML") -> dict[str, Any]:
    """`tomllib.loads(text)`; malformed, too deep or too-long-number input is an `InputError`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg, line = toml_error(exc)
        raise InputError(f"malformed {what}: {msg}", path, line) from None
    except RecursionError:
        raise InputError(f"{what} {TOO_DEEP}", path) from None
    except ValueError:
        raise InputError(f"malformed {what}: {TOO_LONG_NUMBER}", path) from None
