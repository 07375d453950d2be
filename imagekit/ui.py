"""Everything imagekit prints while it works: timed step lines and spinners for
humans on a terminal (rich, on stderr), JSON event lines for scripts
(`--json`), nothing decorative when stderr is not a terminal.

Results (tables, reports) go to stdout through `out`; progress goes to stderr
through `err`, so `imagekit inspect IMG --json > report.json` stays clean."""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

# emoji=False: ":x:" in a command line must not print as an emoji.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


@dataclass
class Settings:
    verbose: int = 0
    quiet: bool = False
    json_events: bool = False
    debug: bool = False


settings = Settings()
_t0 = time.monotonic()


def configure(*, verbose: int = 0, quiet: bool = False, json_events: bool = False,
              debug: bool = False) -> None:
    global _t0
    settings.verbose, settings.quiet = verbose, quiet
    settings.json_events, settings.debug = json_events, debug
    _t0 = time.monotonic()


def interactive() -> bool:
    return err.is_terminal and not settings.json_events


def elapsed() -> float:
    return time.monotonic() - _t0


def event(kind: str, **fields: Any) -> None:
    """One machine-readable line on stdout (only with --json events)."""
    if settings.json_events:
        rec = {"event": kind, "t": round(elapsed(), 3), **fields}
        sys.stdout.write(json.dumps(rec, default=str) + "\n")
        sys.stdout.flush()


def info(msg: str) -> None:
    event("info", message=msg)
    if not settings.quiet and not settings.json_events:
        err.print(f"[dim][{elapsed():6.1f}][/dim] {escape(msg)}", markup=True) if interactive() \
            else err.print(f"[{elapsed():6.1f}] {msg}", markup=False)


def verbose(msg: str, level: int = 1) -> None:
    if settings.verbose >= level:
        event("debug", message=msg)
        if not settings.json_events:
            err.print(f"[{elapsed():6.1f}] {msg}", markup=False, style="dim")


def warn(msg: str) -> None:
    event("warning", message=msg)
    if not settings.json_events:
        err.print(f"warning: {msg}", markup=False, style="yellow" if interactive() else None)


@contextmanager
def step(title: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """A timed unit of work: one line when it ends (`[  12.3] title (0.8 s)`).
    The yielded dict may be filled with details that go into the JSON event."""
    details: dict[str, Any] = {}
    start = time.monotonic()
    event("step-start", step=title, **fields)
    try:
        if interactive() and not settings.quiet:
            with err.status(escape(title), spinner="dots"):
                yield details
        else:
            yield details
    except BaseException as exc:
        dur = time.monotonic() - start
        event("step-failed", step=title, seconds=round(dur, 3), error=str(exc), **fields)
        if not settings.quiet and not settings.json_events:
            err.print(f"[{elapsed():6.1f}] {title} failed after {dur:.1f} s", markup=False,
                      style="red" if interactive() else None)
        raise
    dur = time.monotonic() - start
    event("step-done", step=title, seconds=round(dur, 3), **fields, **details)
    if not settings.quiet and not settings.json_events:
        note = details.get("note")
        tail = f" — {note}" if note else ""
        err.print(f"[{elapsed():6.1f}] {title} ({dur:.1f} s){tail}", markup=False)


@contextmanager
def byte_progress(description: str, total: int | None) -> Iterator[Any]:
    """A progress bar with bytes, rate and time left; yields `advance(nbytes)`."""
    if interactive() and not settings.quiet:
        cols = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                TransferSpeedColumn(), TimeRemainingColumn()]
        with Progress(*cols, console=err, transient=False) as prog:
            task = prog.add_task(description, total=total)
            yield lambda n: prog.update(task, advance=n)
    else:
        done = [0]
        last = [time.monotonic()]

        def advance(n: int) -> None:
            done[0] += n
            now = time.monotonic()
            if settings.json_events and now - last[0] >= 1.0:
                last[0] = now
                event("progress", step=description, bytes=done[0], total=total)
        yield advance
        event("progress", step=description, bytes=done[0], total=total)
