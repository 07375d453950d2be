"""Opening a --write session on the customization engine: its Workspace
makes a qcow2 overlay in front of the (never modified) image, launches the
appliance once and mounts the guest read-write; `save OUT` is the engine's
atomic save with its manifest."""
from __future__ import annotations

from typing import Any

from imagekit.errors import UsageError
from imagekit.guest.image import CheckedImage
from imagekit.shell.output import Output


def open_session(cls: Any, image: CheckedImage, others: list[CheckedImage], out: Output) -> Any:
    if others:
        raise UsageError("--against cannot be combined with --write (the engine's workspace "
                         "attaches only the image it changes)",
                         "compare in a read-only session, or save and compare the result")
    from imagekit.engine import Workspace
    ws = Workspace(image)
    try:
        ws.open()
        app = ws.app      # the Appliance behind ws.g
        return cls(app=app, image=image, guest=ws.guest, out=out, writable=True, workspace=ws)
    except BaseException:
        ws.close()
        raise
