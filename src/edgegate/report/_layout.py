"""Plain-text layout for the terminal report: wrapping that never breaks a word, and tables that
fit a width by wrapping at spaces, shortening paths from the left and dropping low-value
columns first.

Break points: spaces; after ``/`` (paths, ``Kind/name``); after ``-`` only inside a token longer
than `LONG_TOKEN` characters. A piece that still does not fit is a path shortened from the left
(``…/edge-app/models/x.onnx``) or, as a last resort, cut with ``…``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len

LONG_TOKEN = 24
GAP = 2
_SLASH = re.compile(r"(?<=/)(?=[^/])")
_HYPHEN = re.compile(r"(?<=-)(?=[^-])")


def _pieces(token: str) -> list[str]:
    parts = [p for p in _SLASH.split(token) if p]
    out: list[str] = []
    for p in parts:
        out += [q for q in _HYPHEN.split(p) if q] if cell_len(p) > LONG_TOKEN else [p]
    return out or [token]


def min_width(text: str) -> int:
    """The narrowest column `text` fits without breaking a word."""
    return max((cell_len(p) for tok in text.split() for p in _pieces(tok)), default=0)


def shorten(piece: str, width: int) -> str:
    """`piece` cut to `width` cells: a path from the left (``…/b/c.txt``), anything else at the
    end (``abc…``)."""
    if cell_len(piece) <= width:
        return piece
    if width <= 1:
        return "…"[:width]
    if "/" in piece:
        tail = piece[-(width - 1) :]
        cut = tail.find("/")
        if 0 <= cut < len(tail) - 1:
            tail = tail[cut:]
        return "…" + tail
    return piece[: width - 1] + "…"


def wrap(text: str, width: int, *, whole: bool = False) -> list[str]:
    """`text` as lines of at most `width` cells, broken only at spaces and the break points; a
    piece still too long is shortened with ``…`` (`shorten`), or with `whole` cut into lines
    (nothing lost: error messages, digests)."""
    width = max(width, 1)
    if text.isascii() and text.isprintable():  # one cell per character: lengths add up
        if len(text) <= width and " ".join(text.split()) == text:
            return [text]
        return _wrap_ascii(text, width, whole)
    return _wrap_cells(text, width, whole)


def _chopped(pieces: list[str], width: int) -> list[str]:
    """`pieces` with each one wider than `width` cut into pieces of at most `width` cells."""
    out: list[str] = []
    for p in pieces:
        if cell_len(p) <= width:
            out.append(p)
        elif p.isascii():
            out += [p[i : i + width] for i in range(0, len(p), width)]
        else:  # by characters, measured as a whole (zero-width joiners change the sum)
            chunk = ""
            for ch in p:
                if chunk and cell_len(chunk + ch) > width:
                    out.append(chunk)
                    chunk = ""
                chunk += ch
            out.append(chunk)
    return out


def _wrap_cells(text: str, width: int, whole: bool = False) -> list[str]:
    """`wrap` for any text, measuring every piece in cells."""
    lines: list[str] = []
    line = ""
    for token in text.split():
        pieces = _pieces(token) if cell_len(token) > width else [token]
        if whole:
            pieces = _chopped(pieces, width)
        for i, piece in enumerate(pieces):
            piece = shorten(piece, width)
            joiner = " " if (i == 0 and line) else ""
            if cell_len(line) + cell_len(joiner) + cell_len(piece) <= width:
                line += joiner + piece
            else:
                if line:
                    lines.append(line)
                line = piece
    if line or not lines:
        lines.append(line)
    return lines


def _wrap_ascii(text: str, width: int, whole: bool = False) -> list[str]:
    """`wrap` for printable ASCII, where a string's cells are its length."""
    lines: list[str] = []
    line = ""
    used = 0
    for token in text.split():
        pieces = _pieces(token) if len(token) > width else [token]
        if whole:
            pieces = _chopped(pieces, width)
        for i, piece in enumerate(pieces):
            size = len(piece)
            if size > width:
                piece = shorten(piece, width)
                size = cell_len(piece)
            joiner = 1 if (i == 0 and line) else 0
            if used + joiner + size <= width:
                line += " " * joiner + piece
                used += joiner + size
            else:
                if line:
                    lines.append(line)
                line = piece
                used = size
    if line or not lines:
        lines.append(line)
    return lines


@dataclass
class Laid:
    """A table laid out for a width: the columns kept, their widths, and what was dropped."""

    columns: list[int]
    widths: list[int]
    dropped: list[str]


def layout(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int, optional: Sequence[str] = ()) -> Laid:
    """Choose columns and widths so the table fits `width`: drop `optional` columns in order,
    then columns from the right (never the first), until the narrowest layout fits; then share
    the room left in proportion to what each column wants."""
    n = len(headers)
    mins = [max([min_width(headers[i])] + [min_width(r[i]) for r in rows if i < len(r)]) for i in range(n)]
    wants = [max([cell_len(headers[i])] + [cell_len(r[i]) for r in rows if i < len(r)]) for i in range(n)]
    keep = list(range(n))
    dropped: list[str] = []
    order = [headers.index(c) for c in optional if c in headers] + list(range(n - 1, 0, -1))

    def narrowest() -> int:
        return sum(mins[i] for i in keep) + GAP * (len(keep) - 1)

    for i in order:
        if narrowest() <= width or len(keep) == 1:
            break
        if i in keep:
            keep.remove(i)
            dropped.append(headers[i])
    widths = [min(mins[i], width) for i in keep]
    room = width - sum(widths) - GAP * (len(keep) - 1)
    while room > 0:
        hungry = [k for k, i in enumerate(keep) if widths[k] < wants[i]]
        if not hungry:
            break
        share = max(room // len(hungry), 1)
        for k in hungry:
            add = min(share, wants[keep[k]] - widths[k], room)
            widths[k] += add
            room -= add
            if room <= 0:
                break
    return Laid(columns=keep, widths=widths, dropped=dropped)


def render_rows(cells: Sequence[str], laid: Laid) -> list[str]:
    """One table row as physical lines (each column wrapped in its width, padded)."""
    wrapped = [wrap(cells[i] if i < len(cells) else "", w) for i, w in zip(laid.columns, laid.widths, strict=True)]
    height = max(len(w) for w in wrapped)
    out = []
    for n in range(height):
        parts = []
        for col, w in zip(wrapped, laid.widths, strict=True):
            text = col[n] if n < len(col) else ""
            parts.append(text + " " * (w - cell_len(text)))
        out.append((" " * GAP).join(parts).rstrip())
    return out
