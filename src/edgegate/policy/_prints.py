"""``print()`` output of Rego rules, shown as conftest shows it: ``<policy file>:<row>: <message>``.

The engines write a print message without its location (``opa eval`` to stderr, regopy to its
stdout), one line per call, so a message holding a newline cannot be told from two calls. The
copy of each policy that edgegate hands the engine (in the run's private temp folder; the user's
file is never changed) has one more first argument in every ``print(`` call: a marker unique to
the run followed by the call's file and row. The output is then split at the markers, so each
message is read back whole and named like conftest names it. Lines and rows are kept.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

from edgegate.policy.modules import _blank

_PRINT_CALL = re.compile(r"(?<![\w.])print\s*\(")


def new_marker() -> str:
    """A marker no policy can know in advance (so none can forge a print line)."""
    return f"<edgegate-print-{secrets.token_hex(8)}>"


def instrument(source: str, shown_path: str, marker: str) -> str:
    """`source` with each ``print(`` call given the marker and ``<shown_path>:<row>:`` as its
    first argument (``print()`` also gets an empty string, as conftest shows ``loc: ``)."""
    blanked = _blank(source)
    inserts: list[tuple[int, str]] = []
    for m in _PRINT_CALL.finditer(blanked):
        row = blanked.count("\n", 0, m.start()) + 1
        label = json.dumps(f"{marker}{shown_path}:{row}:")
        empty = blanked[m.end():].lstrip().startswith(")")
        inserts.append((m.end(), label + (', ""' if empty else ", ")))
    out = source
    for pos, text in reversed(inserts):
        out = out[:pos] + text + out[pos:]
    return out


@dataclass(frozen=True)
class Output:
    prints: list[str]
    """Each print call's text, ``<file>:<row>: <message>`` (the message may hold newlines)."""
    rest: str
    """What the engine wrote besides (its own warnings and errors)."""


def split(text: str, marker: str) -> Output:
    """The print calls in an engine's output `text` and the rest of it."""
    if marker not in text:
        return Output([], text)
    head, *chunks = text.split(marker)
    prints: list[str] = []
    for chunk in chunks:
        prints.append(chunk[:-1] if chunk.endswith("\n") else chunk)
    return Output(prints, head)
