"""A guest directory tree as a stream of tar members, read on the host as
the appliance writes it: one `tar_out` call (one program run in the
appliance) for a whole tree, instead of one call per file. Used where the
content of many files is needed (grep -r, diff of directories)."""
from __future__ import annotations

import os
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from imagekit.shell.errors import from_guestfs

MAX_MEMBER = 64 * 1024 * 1024      # bigger files are listed, their content skipped


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """libguestfs reports errors of a call made in another thread on stderr
    ("libguestfs: error: operation cancelled by user"); a cancel we asked for
    is not news."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def members(g: Any, folder: str, command: str) -> Iterator[tuple[tarfile.TarInfo, bytes | None]]:
    """(member, content) for everything below `folder`; names relative to
    it ('./etc/x' -> 'etc/x'); content only for regular files up to
    MAX_MEMBER bytes."""
    rfd, wfd = os.pipe()
    failure: list[RuntimeError] = []

    def produce() -> None:
        try:
            g.tar_out(folder, f"/dev/fd/{wfd}", numericowner=True)
        except RuntimeError as exc:
            failure.append(exc)
        finally:
            os.close(wfd)

    worker = threading.Thread(target=produce, name="tar_out", daemon=True)
    worker.start()
    reader = os.fdopen(rfd, "rb")
    done = False
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tf:
            for m in tf:
                m.name = m.name[2:] if m.name.startswith("./") else m.name.lstrip("./")
                if not m.name:
                    continue
                data = None
                if m.isfile() and m.size <= MAX_MEMBER:
                    f = tf.extractfile(m)
                    data = f.read() if f else None
                yield m, data
        done = True
    except tarfile.TarError:
        if not failure:
            raise
    finally:
        if not done:            # stopped early (^C, an error): end the transfer now
            with _quiet_stderr():
                g.user_cancel()
                while reader.read(1 << 20):     # what is already on its way, until EOF
                    pass
                reader.close()
                worker.join()
        reader.close()
        worker.join()
    if failure:
        raise from_guestfs(command, failure[0])
