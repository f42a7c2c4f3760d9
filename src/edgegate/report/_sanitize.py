"""The one sanitizer at the report boundary: every value that came from an input is neutralised
for the medium it goes to.

- Human media (text, Markdown, annotation messages): `visible` shows control characters, escape
  sequences, line separators and bidirectional overrides as ``\\xNN`` / ``\\uNNNN`` (a value is
  always one line).
- Anything that may be printed to a CI log: the GitHub Actions runner reads a line as a workflow
  command when it starts with ``::`` after leading whitespace, or contains ``##[`` anywhere
  (``ActionCommand.TryParseV2`` / ``TryParse`` in actions/runner); it splits lines at CR and LF.
  `defuse_lines` breaks both patterns in rendered text; `defuse_json` and `defuse_xml` do it with
  the format's own escapes, so the data a parser reads is unchanged.
"""

from __future__ import annotations

import re

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
_SEPARATORS = frozenset("\u2028\u2029\u0085")

_LINE_COMMAND = re.compile(r"^(\s*):(?=:)", re.MULTILINE)
"""A line that starts, after whitespace, with ``::``."""
_LEGACY_COMMAND = "##["


def visible(text: object) -> str:
    """`text` on one line with every control character shown visibly: tab becomes a space, CR/LF
    and other controls ``\\xNN``, line separators and bidi overrides ``\\uNNNN``."""
    s = str(text)
    if s.isprintable() and (s.isascii() or _BIDI.isdisjoint(s)):
        return s
    out: list[str] = []
    for ch in s:
        code = ord(ch)
        if ch == "\t":
            out.append(" ")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif ch in _BIDI or ch in _SEPARATORS:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def defuse_lines(text: str, *, markdown: bool = False) -> str:
    """`text` with no line the Actions runner would read as a workflow command: a leading ``::``
    becomes ``:\\:`` (Markdown renders it as ``::``), ``##[`` becomes ``##\\[`` in Markdown (rendered
    unchanged) and ``## [`` elsewhere."""
    text = _LINE_COMMAND.sub(lambda m: m.group(1) + ":\\", text)
    return text.replace(_LEGACY_COMMAND, "##\\[" if markdown else "## [")


def defuse_json(text: str) -> str:
    """JSON text with ``##[`` written as ``##\\u005b`` (the same string to a JSON parser). JSON
    strings are quoted, so no line of it can start with ``::``."""
    return text.replace(_LEGACY_COMMAND, "##\\u005b")


def defuse_xml(text: str) -> str:
    """Serialised XML with a line-leading ``::`` and ``##[`` written as character references (the
    same text to an XML parser). A line of serialised XML that starts with ``::`` is character
    data: markup starts with ``<`` and ElementTree writes newlines in attributes as ``&#10;``.
    A carriage return is written as ``&#13;`` (a raw one would end a line for the runner and be
    read back as LF by an XML parser)."""
    text = text.replace("\r", "&#13;")  # a raw CR is a line break to the runner (and LF to XML)
    text = _LINE_COMMAND.sub(lambda m: m.group(1) + "&#58;", text)
    return text.replace(_LEGACY_COMMAND, "##&#91;")


def is_workflow_command(line: str) -> bool:
    """Whether the Actions runner could read `line` as a workflow command (any command name)."""
    stripped = line.lstrip()
    if stripped.startswith("::") and stripped.find("::", 2) >= 0:
        return True
    start = line.find(_LEGACY_COMMAND)
    return start >= 0 and line.find("]", start) >= 0
