"""A guest directory tree as a stream of tar members, read on the host as
the appliance writes it: one `tar_out` call (one program run in the
appliance) for a whole tree, instead of one call per file. Used where the
content of many files is needed (grep -r, diff of directories)."""
from __future__ import annotations

import os
import tarfile
import threading
from collections.abc import Iterator
from typing import Any

from imagekit.shell.errors import from_guestfs

MAX_MEMBER = 64 * 1024 * 1024      # bigger files are listed, their content skipped


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
    except tarfile.TarError:
        if not failure:
            raise
    finally:
        reader.close()          # an early stop: the writer gets EPIPE and ends
        worker.join()
    if failure:
        raise from_guestfs(command, failure[0])
