"""The terminal side of the shell's prompt: Ctrl-C must always reach it and
always work, whatever the parent process did with SIGINT and however fast
it comes after typed text."""
from __future__ import annotations

import signal
import termios
from contextlib import contextmanager

SIGNAL_POLL = 0.2         # seconds


@contextmanager
def keep_typeahead_on_ctrl_c():
    """A Ctrl-C that comes after readline saw input waiting, but before it
    read it, made the terminal drop that input: readline then waited in its
    own read loop for a next key, and the Ctrl-C seemed ignored. With
    NOFLSH the input stays, readline reads it, and signal_poll raises the
    Ctrl-C (which drops the line anyway)."""
    try:
        saved = termios.tcgetattr(0)
    except (termios.error, OSError):
        yield
        return
    mode = list(saved)
    mode[3] |= termios.NOFLSH
    termios.tcsetattr(0, termios.TCSANOW, mode)
    try:
        yield
    finally:
        try:
            cur = termios.tcgetattr(0)
            cur[3] = (cur[3] & ~termios.NOFLSH) | (saved[3] & termios.NOFLSH)
            termios.tcsetattr(0, termios.TCSANOW, cur)
        except (termios.error, OSError):
            pass


def drop_typeahead() -> None:
    """What was typed but not read yet goes with the Ctrl-C, as it would
    without NOFLSH."""
    try:
        termios.tcflush(0, termios.TCIFLUSH)
    except (termios.error, OSError):
        pass


@contextmanager
def signal_poll(interval: float = SIGNAL_POLL):
    """Python's readline notes a Ctrl-C that comes while it handles a
    keystroke, but acts on it only when its select() is interrupted: a
    timer tick does that, and Python then raises the noted Ctrl-C. On only
    while waiting at the prompt."""
    old = signal.signal(signal.SIGALRM, lambda *_: None)
    signal.setitimer(signal.ITIMER_REAL, interval, interval)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextmanager
def no_signal_poll():
    """The timer paused (completion talks to the appliance)."""
    left, interval = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if interval:
            signal.setitimer(signal.ITIMER_REAL, interval, interval)


def own_ctrl_c() -> None:
    """Ctrl-C at the prompt is ours, whatever we inherited: a parent that
    ignored or blocked SIGINT (a test runner, nohup, some job runners) made
    Python leave it ignored, and Ctrl-C then did nothing at all."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGALRM})
