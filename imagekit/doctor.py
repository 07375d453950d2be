"""Host checks: is everything imagekit needs here, and does it work?
Each check says what it found and, when it fails, a one-line fix."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imagekit import paths
from imagekit.errors import ImagekitError

if TYPE_CHECKING:
    from imagekit.guest.backend import BackendChoice


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


def _find_program(name: str) -> str | None:
    venv_bin = Path(sys.executable).parent / name
    return str(venv_bin) if venv_bin.exists() else shutil.which(name)


def check_program(name: str, purpose: str, fix: str, required: bool,
                  missing: str | None = None) -> Check:
    """`missing`: the status when it is not found (default: fail when
    required, else warn)."""
    path = _find_program(name)
    if path:
        return Check(name, "ok", f"{path} ({purpose})", required=required)
    return Check(name, missing or ("fail" if required else "warn"), f"not found ({purpose})",
                 fix, required)


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


# --- imagekit verify: the devcloud's RabbitMQ and local compute -------------
# Not required by imagekit as a whole (doctor's exit status): a missing one
# is "fail" (verify cannot run), an optional one "warn".

def check_rabbitmq() -> list[Check]:
    from imagekit.cloud.devcloud import bus
    out = []
    if os.path.exists(bus.SERVER):
        out.append(Check("rabbitmq-server", "ok", f"{bus.SERVER} (the devcloud's message bus: "
                         "a node of its own)", required=False))
    else:
        out.append(Check("rabbitmq-server", "fail", f"{bus.SERVER} not found (the devcloud's "
                         "message bus, for imagekit verify)",
                         "apt-get install rabbitmq-server (make setup)", False))
    erl = shutil.which("erl") or ("/usr/lib/erlang/bin/erl"
                                  if os.path.exists("/usr/lib/erlang/bin/erl") else None)
    if erl:
        out.append(Check("erlang", "ok", f"{erl} (runs RabbitMQ)", required=False))
    else:
        out.append(Check("erlang", "fail", "erl not found (runs RabbitMQ)",
                         "apt-get install erlang-base (make setup)", False))
    return out


def _devcloud_accel() -> tuple[str, Path] | None:
    """The accelerator a devcloud recorded when it was set up (its VMs keep
    it), read from its state file without touching the devcloud."""
    from imagekit.cloud.devcloud.layout import default_state_dir
    state = default_state_dir() / "state.json"
    try:
        accel = json.loads(state.read_text()).get("accel")
    except (OSError, ValueError, AttributeError):
        return None
    return (accel, state.parent) if accel in ("kvm", "tcg") else None


def _backend_verdict(probe: bool) -> BackendChoice | None:
    """backend.choose() when it decides without a launch (forced, /dev/kvm
    unusable, a cached verdict) or when `probe`; else None (--no-launch)."""
    from imagekit.guest import backend
    if not probe and (os.environ.get("IMAGEKIT_BACKEND") or "auto") == "auto" \
            and backend._kvm_usable() is None \
            and backend.cache_key() not in backend._load_cache():
        return None
    return backend.choose()


def _vm_accel(launch: bool) -> tuple[str | None, Check]:
    """KVM or TCG for the local compute's x86_64 VMs (ppc64le ones are always
    TCG): the devcloud's recorded choice, else the appliance backend's verdict."""
    name = "verify VMs"
    ppc = "ppc64le guests: TCG (qemu-system-ppc64 pseries)"
    recorded = _devcloud_accel()
    if recorded:
        accel, folder = recorded
        return accel, Check(name, "ok", f"x86_64 guests: {accel.upper()} (recorded by the "
                            f"devcloud in {folder} when it was set up); {ppc}", required=False)
    try:
        choice = _backend_verdict(probe=launch)
    except ImagekitError as exc:
        return None, Check(name, "fail", exc.message, exc.hint, False)
    if choice is None:
        return None, Check(name, "warn", "KVM or TCG not known yet: no cached verdict, and "
                           "--no-launch does not probe", "run 'imagekit doctor' without "
                           "--no-launch (probes once, cached)", False)
    slow = "" if choice.accel == "kvm" else ", software emulation: a boot takes minutes"
    return choice.accel, Check(name, "ok", f"x86_64 guests: {choice.accel.upper()} (the "
                               f"appliance backend's verdict{slow}); {ppc}", required=False)


def check_vm_accel(launch: bool) -> Check:
    return _vm_accel(launch)[1]


def check_verify(launch: bool) -> list[Check]:
    """Can `imagekit verify` run here? Its tools, then one summary line."""
    checks = [
        check_program("qemu-system-x86_64", "boots x86_64 servers", "apt-get install "
                      "qemu-system-x86 (make setup)", False, missing="fail"),
        check_program("qemu-system-ppc64", "boots ppc64le servers",
                      "apt-get install qemu-system-ppc (make setup)", False),
        *check_rabbitmq(),
        check_program("genisoimage", "the servers' ConfigDrive", "apt-get install genisoimage "
                      "(make setup)", False, missing="fail"),
        check_program("psql", "verify's query on postgresql",
                      "apt-get install postgresql-client (make setup)", False),
    ]
    mariadb = _find_program("mariadb") or _find_program("mysql")
    checks.append(Check("mariadb", "ok", f"{mariadb} (verify's query on mariadb/mysql)",
                        required=False) if mariadb else
                  check_program("mariadb", "verify's query on mariadb/mysql",
                                "apt-get install mariadb-client (make setup)", False))
    accel, vms = _vm_accel(launch)
    checks.append(vms)
    missing = [c.name for c in checks if c.status == "fail"]
    if missing:
        checks.append(Check("imagekit verify", "fail", f"cannot run here: {', '.join(missing)}",
                            "make setup (or apt-get install what the lines above name)", False))
    else:
        how = f"VMs with {accel.upper()}" if accel else "KVM or TCG not known yet"
        checks.append(Check("imagekit verify", "ok", f"can run here ({how})", required=False))
    return checks


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
        *check_verify(launch),
    ]
    return checks


CheckFn = Callable[[], Check]
