"""Tab completion: command names, a command's options, guest paths, host
paths, from the command table (which says what each argument is)."""
from __future__ import annotations

from imagekit.shell import commands, paths
from imagekit.shell.commands import Arg, Command
from imagekit.shell.runner import split_statements
from imagekit.shell.session import Session


def _kind_at(cmd: Command, before: list[str]) -> str:
    """What the word being typed is, given the words before it."""
    options = {f: a for a in cmd.args if a.is_option for f in a.flags}
    positionals: list[Arg] = [a for a in cmd.args if not a.is_option]
    if before and before[-1] in options and options[before[-1]].value:
        return options[before[-1]].kind
    index, skip = 0, False
    for w in before:
        if skip:
            skip = False
        elif w in options:
            skip = options[w].value is not None
        elif not w.startswith("-") or w == "-":
            index += 1
    for a in positionals:
        if a.nargs in ("*", "+") or index == 0:
            return a.kind
        index -= 1
    return commands.TEXT


def complete(s: Session, line_before: str, text: str) -> list[str]:
    """Candidates for `text`, the word being typed after `line_before`."""
    parts = split_statements(line_before + "x")          # the statement being typed
    current = parts[-1][:-1] if parts else ""
    if line_before.rstrip().endswith(";"):
        current = ""
    before = current.split()
    if not before:
        found = [n for n in commands.names() if n.startswith(text)]
        return [f + " " for f in found] if len(found) == 1 else found
    try:
        cmd = commands.lookup(before[0])
    except Exception:  # noqa: BLE001 - an unknown command completes nothing
        return []
    if text.startswith("-"):
        found = sorted(f for a in cmd.args if a.is_option for f in a.flags if f.startswith(text))
    else:
        kind = _kind_at(cmd, before[1:])
        if kind == commands.GUEST:
            found = paths.complete_guest(s.g, s.cwd, text)
        elif kind in (commands.HOST, commands.IMAGE):
            found = paths.complete_host(text)
        elif kind == commands.COMMAND:
            found = [n for n in commands.names() if n.startswith(text)]
        else:
            found = []
    if len(found) == 1 and not found[0].endswith("/"):
        return [found[0] + " "]
    return found
