"""Lines of the text report: pieces of (text, style) that become plain text without rich or a
rich `Text` for colour, and the checks that keep both the same bytes (workflow commands defused;
rich left to print only what it would change)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from rich.cells import cell_len

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


class Line:
    """One report line: pieces of (text, style) on a base style for the whole line. Plain output
    joins the pieces without rich; colour output turns the line into a rich `Text`."""

    __slots__ = ("parts", "style")

    def __init__(self, text: str = "", style: str = "") -> None:
        self.parts: list[tuple[str, str]] = [(text, "")] if text else []
        self.style = style

    def append(self, text: str, style: str = "") -> None:
        if text:
            self.parts.append((text, style))

    def copy(self) -> Line:
        line = Line(style=self.style)
        line.parts = self.parts.copy()
        return line

    def rstrip(self) -> None:
        while self.parts:
            text, style = self.parts[-1]
            kept = text.rstrip()
            if kept:
                self.parts[-1] = (kept, style)
                return
            self.parts.pop()

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.parts)

    def text(self) -> Text:
        from rich.text import Text

        line = Text(style=self.style)
        for text, style in self.parts:
            line.append(text, style or None)
        return line


def defused(line: Text) -> Text:
    """`line` with no way for the Actions runner to read it as a workflow command (the styled
    twin of `edgegate.report._sanitize.defuse_lines`, which plain lines go through)."""
    from rich.text import Text

    plain = line.plain
    if plain.lstrip().startswith("::"):
        at = len(plain) - len(plain.lstrip())
        line = line[: at + 1] + Text("\\") + line[at + 1 :]
        plain = line.plain
    while "##[" in plain:
        at = plain.index("##[")
        line = line[: at + 2] + Text(" ") + line[at + 2 :]
        plain = line.plain
    return line


def unchanged_by_rich(plain: str, width: int) -> bool:
    """Whether rich prints `plain` as it is at `width` without colour: no control, separator or
    format character (rich strips some, ``splitlines`` breaks at others), no variation selector
    (rich measures it by context) and at most `width` cells (rich crops the rest)."""
    if plain.isascii():
        return len(plain) <= width and plain.isprintable()
    return plain.isprintable() and "\ufe0f" not in plain and cell_len(plain) <= width


def printed(console: Console, lines: Sequence[Text]) -> str:
    """What `console` prints for `lines`, one report line each (as a group: a bare `Text` would
    be joined into a new one that wraps)."""
    from rich.console import Group

    with console.capture() as captured:
        console.print(Group(*lines))
    return captured.get()


def make_console(file: TextIO, *, color: bool, width: int | None = None) -> Console:
    from rich.console import Console

    return Console(
        file=file,
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        emoji=False,
        markup=False,
        width=width,
        soft_wrap=False,
    )
