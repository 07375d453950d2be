"""Executors of the plan operations, one module per family:
files (write, upload, copy-in, mkdir, delete, chmod, chown, link), inifile
(ini-set, ini-unset), guestconfig (cloud profiles), ssh (authorized keys,
host keys), command (run-command, first-boot scripts), patch (guest-agent
patches), system (machine-id, SELinux relabel)."""
from imagekit.engine.ops import (  # noqa: F401 - importing registers the executors
    command,
    dbimage,
    files,
    guestconfig,
    inifile,
    patch,
    ssh,
    system,
)
from imagekit.engine.ops.base import Prepared, executor, prepare
from imagekit.engine.ops.context import GuestContext

__all__ = ["GuestContext", "Prepared", "executor", "prepare"]
