"""A Typer group with a default command, so ``edgegate sign PATH`` / ``edgegate verify PATH`` work
next to named sub-commands (``edgegate sign keygen``)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup


class DefaultCommandGroup(TyperGroup):
    """Routes a first word that is not a sub-command to the command named by `default_command`."""

    default_command = "artifact"
    always = False
    """Route even ``--help`` to the default command (for a group with a single command)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and (self.always or args[0] not in ("--help", "-h")):
            args = [self.default_command, *args]
        result: list[str] = super().parse_args(ctx, args)
        return result


class SingleCommandGroup(DefaultCommandGroup):
    """A group that is one command: every invocation (``--help`` too) goes to it."""

    always = True
