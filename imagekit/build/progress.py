"""Phase-by-phase display of a diskimage-builder run, fed with its log lines.

DIB runs its hooks in phases (root.d, extra-data.d, pre-install.d,
install.d, post-install.d, block-device, finalise.d, cleanup.d) and then
converts the image. `PhaseTracker` follows them from the log ("Running hooks
from .../root.d", "dib-run-parts Running .../install.d/60-x", the block
device calls, "Converting image"); `PhaseDisplay` shows them: on a terminal a
rich live table (phase, state, seconds, the hook running now), elsewhere one
timed line per finished phase; with --json one event per phase."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from imagekit import ui

PHASES = ("root", "extra-data", "pre-install", "install", "post-install", "block-device",
          "finalise", "cleanup", "convert")
TITLES = {
    "root": "bootstrap the root filesystem",
    "extra-data": "copy build inputs",
    "pre-install": "prepare (repositories, keys)",
    "install": "install packages, guest agent, database",
    "post-install": "enable services",
    "block-device": "partition and format",
    "finalise": "bootloader, manifest",
    "cleanup": "clean up",
    "convert": "write the image",
}

_HOOK = re.compile(r"dib-run-parts Running \S*/(?P<phase>[a-z-]+)\.d/(?P<hook>\S+)")
_HOOKS_FROM = re.compile(r"Running hooks from \S*/(?P<phase>[a-z-]+)\.d\b")
_TS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \| ")


@dataclass
class Phase:
    name: str
    started: float | None = None
    ended: float | None = None
    hook: str = ""

    @property
    def seconds(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.monotonic()) - self.started


@dataclass
class PhaseTracker:
    phases: dict[str, Phase] = field(default_factory=lambda: {p: Phase(p) for p in PHASES})
    current: str | None = None
    last_line: str = ""
    done: bool = False

    def feed(self, line: str) -> tuple[str | None, str | None]:
        """Take one log line; returns (finished phase, started phase) if the phase changed."""
        text = _TS.sub("", line)
        if text.strip():
            self.last_line = text.strip()[:160]
        phase = hook = None
        m = _HOOK.search(text) or _HOOKS_FROM.search(text)
        if m and m.group("phase") in self.phases:
            phase = m.group("phase")
            hook = m.groupdict().get("hook") or ""
        elif "diskimage_builder.block_device" in text and "create() called" in text:
            phase = "block-device"
        elif "Converting image using qemu-img convert" in text:
            phase = "convert"
        elif "Build completed successfully" in text:
            return self._switch(None), None
        if phase is None:
            return None, None
        if hook:
            self.phases[phase].hook = hook
        if phase == self.current:
            return None, None
        finished = self._switch(phase)
        return finished, phase

    def _switch(self, phase: str | None) -> str | None:
        now = time.monotonic()
        finished = None
        if self.current is not None:
            self.phases[self.current].ended = now
            finished = self.current
        if phase is None:
            self.done = True
        else:
            p = self.phases[phase]
            if p.started is None:
                p.started = now
            p.ended = None
        self.current = phase
        return finished


class PhaseDisplay:
    """Use as a context manager; call `feed(line)` for each log line."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.tracker = PhaseTracker()
        self.start = time.monotonic()
        self.live: Live | None = None
        self.failed = False

    def __enter__(self) -> PhaseDisplay:
        ui.event("build-start", title=self.title)
        if ui.interactive() and not ui.settings.quiet:
            self.live = Live(self._render(), console=ui.err, refresh_per_second=4, transient=False)
            self.live.__enter__()
        else:
            ui.info(self.title)
        return self

    def finish(self, ok: bool) -> None:
        """The build ended: a failure marks the phase it was in."""
        self.failed = not ok
        cur = self.tracker.current
        if not ok:
            ui.event("build-failed", phase=cur)
            if self.live is None and cur and not ui.settings.json_events:
                ui.info(f"  {cur}.d: failed")

    def __exit__(self, *exc: Any) -> None:
        if exc and exc[0] is not None:
            self.failed = True
        if self.live is not None:
            self.live.update(self._render(final=True))
            self.live.__exit__(*exc)

    def feed(self, line: str) -> None:
        finished, started = self.tracker.feed(line)
        if finished:
            p = self.tracker.phases[finished]
            ui.event("build-phase", phase=finished, seconds=round(p.seconds or 0, 1))
            if self.live is None and not ui.settings.quiet and not ui.settings.json_events:
                ui.info(f"  {finished}.d: {TITLES[finished]} ({p.seconds or 0:.1f} s)")
        if self.live is not None:
            self.live.update(self._render())

    def _render(self, final: bool = False) -> Any:
        t = Table.grid(padding=(0, 2))
        t.add_column(width=2)
        t.add_column(min_width=14)
        t.add_column(min_width=40)
        t.add_column(justify="right", min_width=7)
        t.add_column(overflow="ellipsis", no_wrap=True, max_width=40)
        for name in PHASES:
            p = self.tracker.phases[name]
            if p.started is None:
                mark: Any = Text("·", style="dim")
            elif p.ended is None and final and self.failed:
                mark = Text("✗", style="red")
            elif p.ended is None and not final:
                mark = Spinner("dots")
            else:
                mark = Text("✓", style="green")
            secs = f"{p.seconds:.0f} s" if p.seconds is not None else ""
            hook = p.hook if (p.ended is None and not final) else ""
            t.add_row(mark, name, TITLES[name], secs, Text(hook, style="dim"))
        total = time.monotonic() - self.start
        head = Text(f"{self.title}  ({total:.0f} s)", style="bold")
        tail = Text("" if final else self.tracker.last_line, style="dim", overflow="ellipsis",
                    no_wrap=True)
        return Group(head, t, tail)
