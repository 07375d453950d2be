"""Reading guest files with pread (served by the daemon, a few ms per MiB),
with one-line errors instead of None: no such file, a directory, too big."""
from __future__ import annotations

from typing import Any

from imagekit.guest.facts import read_range
from imagekit.shell.errors import GuestPathError
from imagekit.shell.paths import require

LIMIT = 64 * 1024 * 1024          # cat/less of more than this: use download


def size_of(g: Any, path: str) -> int:
    require(g, path, kind="file")
    return int(g.filesize(path))


def read_all(g: Any, path: str, limit: int = LIMIT) -> bytes:
    size = size_of(g, path)
    if size > limit:
        raise GuestPathError(f"{path}: {size} bytes is too big to show here",
                             f"download {path} to the host, or use head/tail")
    return read_range(g, path, 0, size)


def head(g: Any, path: str, lines: int) -> bytes:
    """The first `lines` lines, reading only as much as needed."""
    size = size_of(g, path)
    data, off = b"", 0
    while off < size and data.count(b"\n") < lines:
        chunk = read_range(g, path, off, min(64 * 1024, size - off))
        if not chunk:
            break
        data += chunk
        off += len(chunk)
    return first_lines(data, lines)


def first_lines(data: bytes, lines: int) -> bytes:
    pos = -1
    for _ in range(lines):
        pos = data.find(b"\n", pos + 1)
        if pos < 0:
            return data
    return data[:pos + 1]


def tail(g: Any, path: str, lines: int) -> bytes:
    """The last `lines` lines, reading backwards from the end."""
    size = size_of(g, path)
    data, off = b"", size
    while off > 0 and data[:-1].count(b"\n") < lines:
        step = min(64 * 1024, off)
        off -= step
        data = read_range(g, path, off, step) + data
    return last_lines(data, lines)


def last_lines(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    pos = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(lines):
        pos = data.rfind(b"\n", 0, pos)
        if pos < 0:
            return data
    return data[pos + 1:]


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:8192]
