"""Driving `imagekit shell` through a pseudo-terminal (pexpect), the way an
operator types: prompts, Tab, Ctrl-D."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pexpect

from tests.util import BIN

PROMPT = re.compile(r"[\w.-]+\.qcow2(?: \[write\])?\*?:(/[^\r\n>]*)> ")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|[\x01\x02]")
LAUNCH_TIMEOUT = 300      # a launch is 10-25 s, more when the machine is busy


class Shell:
    def __init__(self, image: Path, *args: str, state: Path, env: dict | None = None,
                 preexec_fn=None) -> None:
        full_env = {**os.environ, "NO_COLOR": "1", "TERM": "xterm", "XDG_STATE_HOME": str(state),
                    "PAGER": "cat", "COLUMNS": "150", **(env or {})}
        self.child = pexpect.spawn(str(BIN / "imagekit"), ["shell", str(image), *args],
                                   env=full_env, encoding="utf-8", timeout=LAUNCH_TIMEOUT,
                                   dimensions=(50, 150), preexec_fn=preexec_fn)
        self.transcript: list[str] = []
        self.wait_prompt()

    def wait_prompt(self, timeout: float = LAUNCH_TIMEOUT) -> str:
        self.child.expect(PROMPT, timeout=timeout)
        text = clean(self.child.before)
        self.transcript.append(text + self.child.after)
        return text

    @property
    def cwd(self) -> str:
        return self.child.match.group(1)

    def run(self, line: str, timeout: float = 60) -> str:
        """Type a line and Enter; the output up to the next prompt, without
        the echoed line."""
        self.child.send(line + "\r")
        out = self.wait_prompt(timeout)
        first, _, rest = out.partition("\n")
        return rest

    def complete(self, partial: str) -> str:
        """Type `partial`, press Tab, Enter; the whole echoed line and output."""
        self.child.send(partial)
        time.sleep(0.3)
        self.child.send("\t")
        time.sleep(1.0)             # the completer asks the appliance (a few ms) and redraws
        self.child.send("\r")
        return self.wait_prompt(60)

    def list_completions(self, partial: str) -> str:
        """Type `partial`, Tab Tab (the list of candidates), then clear the line."""
        self.child.send(partial)
        time.sleep(0.3)
        self.child.send("\t\t")
        listing = self.wait_prompt(60)      # readline prints the list, then the prompt again
        self.child.send("\x15\r")          # Ctrl-U (clear the line), Enter
        self.wait_prompt(60)
        return listing

    def eof(self, timeout: float = 120) -> int:
        """Ctrl-D at an empty prompt; waits for the process to end."""
        self.child.send("\x04")
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float = 120) -> int:
        """The exit status, once the process has ended by itself."""
        self.child.expect(pexpect.EOF, timeout=timeout)
        self.transcript.append(clean(self.child.before))
        self.child.close()
        return self.child.exitstatus


def clean(text: str) -> str:
    return ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "")


def descendants(pid: int) -> dict[int, str]:
    """{pid: command name} of every process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        names[int(entry)] = name
    out, todo = {}, [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out[c] = names[c]
            todo.append(c)
    return out


def alive(pid: int) -> bool:
    """Running (a zombie or a vanished pid is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"
