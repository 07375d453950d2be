"""Which accelerator the libguestfs appliance uses: KVM or TCG.

On many hosts `/dev/kvm` exists but a KVM guest never boots (nested clouds,
these CI machines): the appliance hangs right after the firmware. imagekit
finds out by itself: a probe launch with KVM in a child process, with a
timeout that starts only once the appliance is built, falling back to TCG.
The verdict is cached per host in the user's cache dir, keyed by the kernel,
the qemu and the libguestfs versions. `--backend` / IMAGEKIT_BACKEND force
either one."""
from __future__ import annotations

import json
import os
import platform
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from imagekit import paths, ui
from imagekit.errors import ApplianceError, UsageError

CHOICES = ("auto", "kvm", "tcg")
# Seconds a KVM appliance gets to boot once qemu has started (a working KVM
# boots in 2-6 s; TCG here takes 10-17 s, so 45 s tells a hang apart).
def _kvm_boot_timeout() -> float:
    return float(os.environ.get("IMAGEKIT_KVM_PROBE_TIMEOUT", "45"))
# Seconds for building the supermin appliance on a cold cache.
BUILD_TIMEOUT = 600.0


@dataclass(frozen=True)
class BackendChoice:
    accel: str          # "kvm" or "tcg"
    reason: str         # one sentence for -v and doctor
    source: str         # "forced", "cache", "probe", "no-kvm"
    probe_seconds: float | None = None

    @property
    def settings(self) -> list[str]:
        return ["force_kvm"] if self.accel == "kvm" else ["force_tcg"]


def _kvm_usable() -> str | None:
    """None when /dev/kvm can be opened read-write, else why not."""
    if not os.path.exists("/dev/kvm"):
        return "/dev/kvm does not exist"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "/dev/kvm is not accessible to this user (add yourself to the 'kvm' group)"
    if platform.machine() not in ("x86_64", "aarch64", "ppc64le", "s390x"):
        return f"no KVM support for {platform.machine()} in this tool"
    return None


def _qemu_version() -> str:
    for qemu in ("/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-system-aarch64",
                 "/usr/bin/qemu-system-ppc64"):
        if os.path.exists(qemu):
            try:
                out = subprocess.run([qemu, "--version"], capture_output=True, text=True,
                                     timeout=20).stdout
                return out.splitlines()[0].strip() if out else qemu
            except (OSError, subprocess.SubprocessError):
                return qemu
    return "no-qemu"


def _libguestfs_version() -> str:
    try:
        import guestfs
        v = guestfs.GuestFS(python_return_dict=True).version()
        return f"{v['major']}.{v['minor']}.{v['release']}{v['extra']}"
    except Exception:  # noqa: BLE001 - reported by doctor, not here
        return "unknown"


def cache_key() -> str:
    return f"{os.uname().release}|{_qemu_version()}|libguestfs {_libguestfs_version()}"


def _cache_file() -> Path:
    return paths.cache_dir() / "backend.json"


def _load_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _store(key: str, choice: BackendChoice) -> None:
    data = _load_cache()
    data[key] = {**asdict(choice), "probed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = _cache_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(_cache_file())


def forget() -> None:
    """Drop the cached verdict (doctor --reprobe)."""
    try:
        _cache_file().unlink()
    except FileNotFoundError:
        pass


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _kill_tree(proc: subprocess.Popen) -> None:
    for pid in [proc.pid, *_descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def probe_kvm() -> tuple[bool, str, float]:
    """Launch a throw-away appliance with KVM in a child process.
    Returns (works, reason, seconds spent booting)."""
    cmd = [sys.executable, "-m", "imagekit.guest.backend", "--probe-child"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True, text=True, bufsize=1)
    assert proc.stdout is not None
    started = time.monotonic()
    boot_start: float | None = None
    deadline = started + BUILD_TIMEOUT
    try:
        while True:
            now = time.monotonic()
            if now > deadline:
                _kill_tree(proc)
                if boot_start is None:
                    return False, f"building the appliance took over {BUILD_TIMEOUT:.0f} s", now - started
                return False, (f"a KVM appliance did not finish booting within "
                               f"{_kvm_boot_timeout():.0f} s"), now - boot_start
            ready, _, _ = select.select([proc.stdout], [], [], max(0.1, deadline - now))
            if not ready:
                continue
            line = proc.stdout.readline()
            if not line:  # child exited
                rc = proc.wait()
                return False, f"the KVM probe launch failed (exit {rc})", time.monotonic() - started
            line = line.strip()
            if line == "QEMU-STARTING" and boot_start is None:
                boot_start = time.monotonic()
                deadline = boot_start + _kvm_boot_timeout()
            elif line == "LAUNCHED":
                took = time.monotonic() - (boot_start or started)
                proc.wait(timeout=60)
                return True, f"a KVM appliance booted in {took:.1f} s", took
            elif line.startswith("FAILED"):
                proc.wait(timeout=60)
                return False, "the KVM probe launch failed: " + line[7:], time.monotonic() - started
    finally:
        if proc.poll() is None:
            _kill_tree(proc)


def _probe_child() -> int:
    import guestfs
    g = guestfs.GuestFS(python_return_dict=True)
    g.set_backend("direct")
    g.set_backend_settings(["force_kvm"])
    g.set_verbose(True)
    if os.environ.get("IMAGEKIT_PROBE_HV"):   # tests: a qemu that hangs like a broken KVM
        g.set_hv(os.environ["IMAGEKIT_PROBE_HV"])

    said = [False]
    errors: list[str] = []

    def cb(ev, eh, buf, array):
        text = buf.decode(errors="replace") if isinstance(buf, bytes) else str(buf)
        for line in text.splitlines():
            if "qemu-system" in line and ("error" in line.lower() or "failed" in line.lower()):
                errors.append(line.strip())
        if not said[0] and ("finished building supermin appliance" in text
                            or "begin testing qemu features" in text):
            said[0] = True
            print("QEMU-STARTING", flush=True)

    g.set_event_callback(cb, guestfs.EVENT_LIBRARY | guestfs.EVENT_APPLIANCE)
    try:
        g.add_drive_scratch(16 * 1024 * 1024)
        g.launch()
    except RuntimeError as exc:
        why = errors[0] if errors else str(exc).replace("\n", " ")
        print("FAILED " + why[:300], flush=True)
        return 1
    print("LAUNCHED", flush=True)
    g.shutdown()
    g.close()
    return 0


def choose(forced: str | None = None) -> BackendChoice:
    """Decide KVM or TCG; `forced` (option) wins over IMAGEKIT_BACKEND, which
    wins over the cached verdict, which wins over a new probe."""
    forced = forced or os.environ.get("IMAGEKIT_BACKEND") or "auto"
    if forced not in CHOICES:
        raise UsageError(f"unknown appliance backend '{forced}'",
                         "use --backend auto, kvm or tcg (or IMAGEKIT_BACKEND)")
    if forced == "tcg":
        return BackendChoice("tcg", "TCG forced by --backend/IMAGEKIT_BACKEND", "forced")
    why_not = _kvm_usable()
    if forced == "kvm":
        if why_not:
            raise ApplianceError(f"KVM was forced but {why_not}",
                                 "use --backend tcg, or auto to let imagekit choose")
        return BackendChoice("kvm", "KVM forced by --backend/IMAGEKIT_BACKEND", "forced")
    if why_not:
        return BackendChoice("tcg", f"TCG because {why_not}", "no-kvm")
    key = cache_key()
    cached = _load_cache().get(key)
    if cached and cached.get("accel") in ("kvm", "tcg"):
        return BackendChoice(cached["accel"], cached["reason"], "cache", cached.get("probe_seconds"))
    with ui.step("probing whether KVM works here (once per host)"):
        works, why, secs = probe_kvm()
    choice = (BackendChoice("kvm", f"KVM because {why}", "probe", round(secs, 1)) if works else
              BackendChoice("tcg", f"TCG because {why}; KVM falls back to software emulation",
                            "probe", round(secs, 1)))
    _store(key, choice)
    return choice


if __name__ == "__main__":
    if sys.argv[1:] == ["--probe-child"]:
        raise SystemExit(_probe_child())
    print(choose())
