"""The one generic subprocess wrapper: argv lists only (never a shell string
built from user input), a missing program is a clear error, a failure carries
the command, its exit code and the end of its stderr."""
from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence

from imagekit import ui
from imagekit.errors import ToolError

# Which Debian package provides a program, for the hint of a missing binary.
PACKAGE_OF = {
    "qemu-img": "qemu-utils",
    "ssh": "openssh-client",
    "scp": "openssh-client",
    "ssh-keygen": "openssh-client",
    "sshd": "openssh-server",
    "patch": "patch",
    "virt-customize": "libguestfs-tools",
    "disk-image-create": "diskimage-builder (pip, in .venv)",
}


def which(program: str) -> str:
    path = shutil.which(program)
    if not path:
        pkg = PACKAGE_OF.get(program, program)
        raise ToolError(f"required program '{program}' is not installed",
                        f"install it ({pkg}), or run 'make setup'")
    return path


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run(argv: Sequence[str], *, input: bytes | str | None = None, env: Mapping[str, str] | None = None,
        cwd: str | None = None, check: bool = True, timeout: float | None = None,
        what: str | None = None, hint: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run argv, capture text output; raise ToolError on non-zero exit."""
    argv = list(argv)
    argv[0] = which(argv[0]) if "/" not in argv[0] else argv[0]
    ui.verbose("run: " + shlex.join(argv), level=2)
    if isinstance(input, bytes):
        input = input.decode()
    try:
        proc = subprocess.run(argv, input=input, env=dict(env) if env is not None else None,
                              cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{what or argv[0]} did not finish within {timeout:.0f} s",
                        hint, argv=argv) from exc
    if check and proc.returncode != 0:
        detail = tail(proc.stderr or proc.stdout, 5).replace("\n", " | ")
        raise ToolError(f"{what or shlex.join(argv[:3])} failed (exit {proc.returncode}): {detail}",
                        hint, argv=argv, returncode=proc.returncode, stderr=proc.stderr,
                        stdout=proc.stdout)
    return proc
