"""Architecture names: the kernel's (`uname -m`) and Debian's / DIB's."""
from __future__ import annotations

import platform

from imagekit.errors import BuildError

ARCH_OF_MACHINE = {"x86_64": "amd64", "ppc64le": "ppc64el", "aarch64": "arm64"}
MACHINE_OF_ARCH = {v: k for k, v in ARCH_OF_MACHINE.items()}


def dib_arch(machine: str) -> str:
    """uname -m -> DIB's -a name; BuildError for an unsupported builder."""
    try:
        return ARCH_OF_MACHINE[machine]
    except KeyError:
        raise BuildError(f"the builder's architecture {machine} is not supported",
                         f"use a builder of one of: {', '.join(ARCH_OF_MACHINE)}") from None


def normalize(arch: str | None) -> str | None:
    """Accept DIB names (amd64, ppc64el, arm64) and kernel names (x86_64, ppc64le, aarch64)."""
    if not arch:
        return None
    a = arch.strip().lower()
    if a in MACHINE_OF_ARCH:
        return a
    if a in ARCH_OF_MACHINE:
        return ARCH_OF_MACHINE[a]
    raise BuildError(f"unknown architecture '{arch}'",
                     "use amd64 (x86_64), ppc64el (ppc64le) or arm64 (aarch64)")


def host() -> str:
    """This host's architecture in DIB's names."""
    m = platform.machine()
    return ARCH_OF_MACHINE.get(m, m)
