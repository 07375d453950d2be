"""mmdebstrap, the one module that runs it: a Debian root filesystem as a tar
archive, from the mirrors given (never a host name written in code)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from imagekit.tools.run import PACKAGE_OF, run

PACKAGE_OF.setdefault("mmdebstrap", "mmdebstrap")

# Debian architecture -> the qemu-user binary that runs it (binfmt_misc).
QEMU_OF = {"ppc64el": "qemu-ppc64le", "arm64": "qemu-aarch64", "s390x": "qemu-s390x",
           "armhf": "qemu-arm", "i386": "qemu-i386", "amd64": "qemu-x86_64"}


def mode() -> str:
    """root when we are root, else unshare (user namespaces, no privileges)."""
    return "root" if os.geteuid() == 0 else "unshare"


def build_tar(out: Path, *, suite: str, arch: str, sources: Sequence[str],
              include: Sequence[str] = (), variant: str = "minbase",
              dpkgopts: Sequence[str] = (), aptopts: Sequence[str] = (),
              setup_hooks: Sequence[str] = (), essential_hooks: Sequence[str] = (),
              customize_hooks: Sequence[str] = (), timeout: float = 3600) -> None:
    """Write a root filesystem for `suite`/`arch` to the tar file `out`.
    `sources` are one-line apt source entries ("deb URI SUITE COMPONENTS")."""
    argv = ["mmdebstrap", f"--mode={mode()}", f"--variant={variant}", f"--arch={arch}",
            "--format=tar", "--quiet"]
    if include:
        argv.append("--include=" + ",".join(include))
    argv += [f"--dpkgopt={o}" for o in dpkgopts]
    argv += [f"--aptopt={o}" for o in aptopts]
    argv += [f"--setup-hook={h}" for h in setup_hooks]
    argv += [f"--essential-hook={h}" for h in essential_hooks]
    argv += [f"--customize-hook={h}" for h in customize_hooks]
    argv += [suite, str(out), *sources]
    run(argv, timeout=timeout, what=f"mmdebstrap {suite} {arch}",
        hint="check that the apt mirror is reachable and the packages exist for this release"
             + ("" if arch == _host_arch() else
                f"; a foreign architecture needs qemu-user-static and binfmt-support "
                f"({QEMU_OF.get(arch, 'qemu-user')})"))


def _host_arch() -> str:
    return run(["dpkg", "--print-architecture"]).stdout.strip()


def host_arch() -> str:
    return _host_arch()
