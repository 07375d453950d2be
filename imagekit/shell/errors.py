"""The errors a shell command can raise. Each becomes one line
(`error: ...`) and the shell keeps running; with -c the exit status is
non-zero."""
from __future__ import annotations

from imagekit.errors import GuestError, UsageError


class ShellUsageError(UsageError):
    """A command line the shell cannot run: unknown command, bad arguments."""


class ReadOnlyError(UsageError):
    """A command that changes the image, in a read-only session."""

    def __init__(self, command: str) -> None:
        super().__init__(f"{command}: the image is open read-only",
                         "start the shell with --write to change it (changes go to an overlay "
                         "and are kept only by 'save OUT')")


class GuestPathError(GuestError):
    """A guest path that does not exist or is of the wrong kind."""


def from_guestfs(command: str, exc: RuntimeError) -> GuestError:
    """A libguestfs error ('lstatns: /x: No such file or directory') as one
    line that names the shell command instead of the API call."""
    text = " ".join(str(exc).split())
    head, sep, rest = text.partition(": ")
    if sep and " " not in head:   # drop the API call name
        text = rest
    return GuestError(f"{command}: {text}")
