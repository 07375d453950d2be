"""Host checks: is everything imagekit needs here, and does it work?
Each check says what it found and, when it fails, a one-line fix."""
from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imagekit import paths
from imagekit.errors import ImagekitError


@dataclass(frozen=True)
class Check:
    name: str
    status: str          # "ok", "warn", "fail"
    detail: str
    fix: str | None = None
    required: bool = True


def _ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def check_binding() -> Check:
    try:
        import guestfs  # noqa: F401
    except ImportError:
        return Check("libguestfs binding", "fail", f"'import guestfs' fails in {sys.executable}",
                     "apt-get install python3-guestfs; make the venv with "
                     "/usr/bin/python3 -m venv --system-site-packages (make setup)")
    from imagekit.guest.backend import _libguestfs_version
    return _ok("libguestfs", f"version {_libguestfs_version()} (python {sys.version.split()[0]})")


def check_qemu_img() -> Check:
    from imagekit.tools import qemuimg
    try:
        return _ok("qemu-img", f"version {qemuimg.version()} ({shutil.which('qemu-img')})")
    except ImagekitError as exc:
        return Check("qemu-img", "fail", exc.message, "apt-get install qemu-utils")


def check_backend_and_launch(launch: bool) -> list[Check]:
    from imagekit.guest import backend
    try:
        choice = backend.choose()
    except ImagekitError as exc:
        return [Check("appliance backend", "fail", exc.message, exc.hint)]
    out = [_ok("appliance backend", f"{choice.accel.upper()}: {choice.reason} "
                                    f"(verdict from {choice.source}; 'imagekit doctor --reprobe' "
                                    "probes again)")]
    if not launch:
        return out
    try:
        import guestfs
        g = guestfs.GuestFS(python_return_dict=True)
        g.set_backend("direct")
        g.set_backend_settings(choice.settings)
        g.add_drive_scratch(16 * 1024 * 1024)
        t = time.monotonic()
        g.launch()
        took = time.monotonic() - t
        g.shutdown()
        g.close()
        out.append(_ok("appliance launch", f"{took:.1f} s with {choice.accel.upper()}"))
    except Exception as exc:  # noqa: BLE001
        out.append(Check("appliance launch", "fail", f"launch failed: {exc}".splitlines()[0],
                         "run 'libguestfs-test-tool' for details; try --backend tcg"))
    return out


def check_program(name: str, purpose: str, fix: str, required: bool) -> Check:
    venv_bin = Path(sys.executable).parent / name
    path = str(venv_bin) if venv_bin.exists() else shutil.which(name)
    if path:
        return Check(name, "ok", f"{path} ({purpose})", required=required)
    return Check(name, "fail" if required else "warn", f"not found ({purpose})", fix, required)


def check_disk(min_gib: float = 10.0) -> Check:
    folder = paths.images_dir()
    probe = folder if folder.exists() else folder.parent
    free = shutil.disk_usage(probe).free / 2**30
    if free < 2:
        return Check("free disk", "fail", f"{free:.1f} GiB free in {probe}",
                     "free space or set IMAGEKIT_IMAGES_DIR to a larger disk")
    if free < min_gib:
        return Check("free disk", "warn", f"{free:.1f} GiB free in {probe} (builds want "
                     f"{min_gib:.0f} GiB)", "free space or set IMAGEKIT_IMAGES_DIR", False)
    return _ok("free disk", f"{free:.1f} GiB free in {probe}")


def check_clouds_yaml() -> Check:
    candidates = []
    if os.environ.get("OS_CLIENT_CONFIG_FILE"):
        candidates.append(Path(os.environ["OS_CLIENT_CONFIG_FILE"]))
    candidates += [Path.cwd() / "clouds.yaml",
                   Path(os.path.expanduser("~/.config/openstack/clouds.yaml")),
                   Path("/etc/openstack/clouds.yaml")]
    for c in candidates:
        if c.is_file():
            return Check("clouds.yaml", "ok", str(c), required=False)
    return Check("clouds.yaml", "warn", "no clouds.yaml found (needed by upload, flavor upload, "
                 "check --os-cloud)", "write ~/.config/openstack/clouds.yaml, or run "
                 "'imagekit devcloud up' for a local test cloud", False)


def run_checks(*, launch: bool = True) -> list[Check]:
    checks = [check_binding(), check_qemu_img()]
    if checks[0].status == "ok":
        checks += check_backend_and_launch(launch)
    checks += [
        check_program("ssh-keygen", "host keys for customize", "apt-get install openssh-client", True),
        check_program("patch", "guest-agent patches", "apt-get install patch", True),
        check_program("disk-image-create", "imagekit make", "pip install diskimage-builder "
                      "(make setup)", False),
        check_program("sudo", "DIB calls sudo", "apt-get install sudo", False),
        check_program("debootstrap", "DIB Debian/Ubuntu builds", "apt-get install debootstrap", False),
        check_program("virt-customize", "only for the benchmark", "apt-get install libguestfs-tools",
                      False),
        check_disk(),
        check_clouds_yaml(),
    ]
    return checks


CheckFn = Callable[[], Check]
