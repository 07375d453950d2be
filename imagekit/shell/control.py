"""The session commands: help, history, exit/quit."""
from __future__ import annotations

import argparse

from rich.text import Text

from imagekit.shell import commands
from imagekit.shell.session import Session


class Quit(Exception):
    """Raised by exit/quit; the loop decides whether to ask first."""

    def __init__(self, force: bool) -> None:
        super().__init__("quit")
        self.force = force


def help(s: Session, a: argparse.Namespace) -> None:
    if a.command:
        cmd = commands.lookup(a.command)
        s.out.line(commands.parser(cmd).format_help().rstrip())
        if cmd.aliases:
            s.out.line(f"also: {', '.join(cmd.aliases)}")
        if cmd.writes and not s.writable:
            s.out.line("only in a --write session")
        return
    width = 30
    for group, title in commands.GROUPS:
        cmds = [c for c in commands.COMMANDS if c.group == group]
        s.out.line()
        s.out.line(title + ("" if group != "write" or s.writable else " — this session is read-only"),
                   style="bold")
        for c in cmds:
            line = Text("  ")
            line.append(c.usage().ljust(width), style="cyan")
            if len(c.usage()) > width:
                s.out.styled(line)
                line = Text(" " * (width + 2))
            line.append("  " + c.summary)
            s.out.styled(line)
    s.out.line()
    s.out.line("'help COMMAND' shows a command's options; Tab completes commands and guest paths; "
               "Ctrl-D leaves.")


def history(s: Session, a: argparse.Namespace) -> None:
    for n, line in enumerate(s.history, 1):
        s.out.line(f"{n:5d}  {line}")


def exit(s: Session, a: argparse.Namespace) -> None:
    raise Quit(a.force)
