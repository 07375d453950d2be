"""Running command lines: split `cmd; cmd` into statements, look each
command up in the table, refuse writes in a read-only session, parse the
arguments, call the handler, and turn any failure into one error line."""
from __future__ import annotations

import shlex
import traceback
from dataclasses import dataclass

from imagekit import ui
from imagekit.errors import ImagekitError
from imagekit.shell import commands
from imagekit.shell.control import Quit
from imagekit.shell.errors import ShellUsageError, from_guestfs
from imagekit.shell.session import Session


@dataclass(frozen=True)
class Outcome:
    ok: bool = True
    quit: bool = False
    force: bool = False


def split_statements(text: str) -> list[str]:
    """Split on ';' outside quotes (and not escaped); drops empty statements."""
    out, cur, quote, i = [], [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "'" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == ";":
            out.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    out.append("".join(cur))
    return [st.strip() for st in out if st.strip()]


def words(statement: str) -> list[str]:
    try:
        return shlex.split(statement, comments=True)
    except ValueError as exc:
        raise ShellUsageError(f"cannot parse the line: {exc}", "close the quote")


def run_statement(s: Session, statement: str) -> Outcome:
    """One command; errors are printed (one line), never raised."""
    argv: list[str] = []
    try:
        argv = words(statement)
        if not argv:
            return Outcome()
        cmd = commands.lookup(argv[0])
        if cmd.writes:
            s.require_write(cmd.name)
        if any(w in ("-h", "--help") for w in argv[1:]):
            argv = ["help", cmd.name]
            cmd = commands.lookup("help")
        args = commands.parse(cmd, argv[1:])
        cmd.run()(s, args)
        return Outcome()
    except Quit as q:
        return Outcome(quit=True, force=q.force)
    except ImagekitError as exc:
        msg = exc.message.replace("\n", " ")
        if argv and argv[0] in commands.names() and not msg.startswith(argv[0] + ":"):
            msg = f"{argv[0]}: {msg}"
        s.out.error(msg + (f" (hint: {exc.hint})" if exc.hint else ""))
    except RuntimeError as exc:             # libguestfs
        s.out.error(from_guestfs(argv[0] if argv else "?", exc).message)
    except KeyboardInterrupt:
        s.out.error("interrupted")
    except BrokenPipeError:
        return Outcome()
    except Exception as exc:  # noqa: BLE001 - the shell must survive a bug in one command
        if ui.settings.debug:
            traceback.print_exc()
        s.out.error(f"{argv[0] if argv else '?'}: internal error: {type(exc).__name__}: {exc} "
                    "(run with --debug for the traceback)")
    return Outcome(ok=False)


def run_line(s: Session, line: str, *, stop_on_error: bool) -> Outcome:
    """Every statement of a line. In scripts (-c, stdin) the first failure
    stops the rest, unless the statement starts with '-'."""
    ok = True
    for statement in split_statements(line):
        tolerant = statement.startswith("-")
        result = run_statement(s, statement[1:] if tolerant else statement)
        if result.quit:
            return Outcome(ok=ok, quit=True, force=result.force)
        if not result.ok and not tolerant:
            ok = False
            if stop_on_error:
                break
    return Outcome(ok=ok)


def against_images(script: str) -> list[str]:
    """The images a script's diff commands compare with (attached at start)."""
    found: list[str] = []
    for statement in split_statements(script):
        try:
            argv = words(statement.lstrip("-"))
        except ShellUsageError:
            continue
        if not argv or argv[0] != "diff":
            continue
        for i, w in enumerate(argv):
            value = argv[i + 1] if w == "--against" and i + 1 < len(argv) else \
                (w.split("=", 1)[1] if w.startswith("--against=") else None)
            if value and value not in found:
                found.append(value)
    return found
