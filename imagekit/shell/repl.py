"""The interactive loop (readline: line editing, a history file, tab
completion) and the script runner (-c, or commands on standard input)."""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from imagekit.shell import completion
from imagekit.shell.runner import run_line
from imagekit.shell.session import Session
from imagekit.shell.terminal import (
    drop_typeahead,
    keep_typeahead_on_ctrl_c,
    no_signal_poll,
    own_ctrl_c,
    signal_poll,
)

HISTORY_LENGTH = 2000


def history_file() -> Path:
    """$XDG_STATE_HOME/imagekit/shell_history (default ~/.local/state/...)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "imagekit" / "shell_history"


def banner(s: Session) -> str:
    g = s.guest
    mode = ("WRITE: changes go to an overlay, 'save OUT' keeps them" if s.writable
            else "read-only")
    extra = "".join(f"; comparing with {a.image.path.name}" for a in s.attached)
    return (f"{s.image.path.name}: {g.distro} {g.version} {g.arch}, root {g.root}, {mode}{extra}. "
            "'help' lists the commands, Tab completes, Ctrl-D leaves.")


def prompt(s: Session, colour: bool) -> str:
    mode = " [write]" if s.writable else ""
    dirty = "*" if s.dirty else ""
    text = f"{s.image.path.name}{mode}{dirty}:{s.cwd}> "
    if not colour:
        return text
    # \001 \002 tell readline that what they enclose takes no room on screen
    on = "\001\033[1;33m\002" if s.writable else "\001\033[1;32m\002"
    return f"{on}{s.image.path.name}{mode}{dirty}\001\033[0m\002:\001\033[1;34m\002{s.cwd}\001\033[0m\002> "


def confirm_quit(s: Session) -> bool:
    """True when it is fine to leave: no unsaved changes, or the operator said so."""
    if not s.dirty:
        return True
    s.out.warn(f"{len(s.changes)} unsaved change(s): " + "; ".join(s.changes[-5:]))
    try:
        answer = input("Leave and drop them? [y/N] ")
    except EOFError:          # Ctrl-D twice: leave
        print()
        return True
    except KeyboardInterrupt:
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


class _Completer:
    def __init__(self, s: Session, readline) -> None:
        self.s, self.rl, self.matches = s, readline, []

    def __call__(self, text: str, state: int) -> str | None:
        if state == 0:
            try:
                before = self.rl.get_line_buffer()[:self.rl.get_begidx()]
                with no_signal_poll():
                    self.matches = completion.complete(self.s, before, text)
            except Exception:  # noqa: BLE001 - a completion must never break the prompt
                self.matches = []
        return self.matches[state] if state < len(self.matches) else None


def interactive(s: Session) -> int:
    import readline
    own_ctrl_c()
    hist = history_file()
    try:
        readline.read_history_file(hist)
    except OSError:
        pass
    readline.set_history_length(HISTORY_LENGTH)
    readline.set_completer_delims(" \t\n;")
    readline.set_completer(_Completer(s, readline))
    readline.parse_and_bind("tab: complete")
    readline.parse_and_bind("set enable-bracketed-paste off")
    s.out.note(banner(s))
    colour = s.out.rich and not os.environ.get("NO_COLOR")
    try:
        _loop(s, colour)
    finally:
        try:
            hist.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(hist)
        except OSError as exc:
            s.out.warn(f"cannot write the history file {hist}: {exc.strerror}")
    return 0


def _loop(s: Session, colour: bool) -> None:
    while True:
        try:
            with keep_typeahead_on_ctrl_c(), signal_poll():
                line = input(prompt(s, colour))
        except EOFError:
            print()
            if confirm_quit(s):
                return
            continue
        except KeyboardInterrupt:
            drop_typeahead()
            print()
            continue
        if not line.strip():
            continue
        s.history.append(line)
        result = run_line(s, line, stop_on_error=False)
        if result.quit and (result.force or confirm_quit(s)):
            return


def script(s: Session, lines: Iterable[str]) -> int:
    """Run commands without a prompt; the first failure stops them (exit 1)."""
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        s.history.append(line)
        result = run_line(s, line, stop_on_error=True)
        if not result.ok:
            return 1
        if result.quit:
            break
    if s.dirty:
        s.out.warn(f"{len(s.changes)} unsaved change(s) dropped (no 'save OUT' after them)")
    return 0
