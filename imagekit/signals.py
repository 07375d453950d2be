"""SIGTERM while imagekit works: the one place that sets its handler, so that
a build or a verification stopped by `timeout`, a CI runner or `kill` is
cleaned up like one stopped by Ctrl-C."""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def _handling(handler: Callable[[int, Any], None] | int) -> Iterator[None]:
    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:          # not the main thread: nothing to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def terminate_as_interrupt() -> Any:
    """SIGTERM becomes KeyboardInterrupt inside the block."""
    return _handling(_interrupt)


def terminate_ignored() -> Any:
    """SIGTERM is ignored inside the block (a clean-up must not be cut short)."""
    return _handling(signal.SIG_IGN)
