"""Commands: inside the image now (same architecture only), or at first boot.

run-command runs `/bin/sh SCRIPT` in the guest root through the appliance,
which executes the image's own programs: the guest architecture must be the
appliance's. With the appliance's network on, libguestfs puts a working
resolv.conf in place for the command; imagekit checks afterwards that the
image's own /etc/resolv.conf (often a symbolic link) is back as it was, and
restores it otherwise. The exit code and output are reported; a non-zero
exit fails the plan.

firstboot installs a script and a one-shot systemd unit that runs pending
scripts once, in order, at the next boot, then disables itself: no guest
code runs now, so any architecture works."""
from __future__ import annotations

import itertools
import platform
import time

from imagekit import ui
from imagekit.engine.ops.base import Prepared, executes
from imagekit.engine.ops.context import GuestContext, sha256
from imagekit.engine.plan import Firstboot, RunCommand
from imagekit.errors import GuestError

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RESOLV = "/etc/resolv.conf"
_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "ppc64el": "ppc64le",
                 "i686": "i386"}
_counter = itertools.count(1)


def norm_arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch.lower(), arch.lower())


def appliance_arch() -> str:
    """The libguestfs appliance runs the host's architecture."""
    return norm_arch(platform.machine())


def require_native(ctx: GuestContext, what: str) -> None:
    guest = norm_arch(ctx.guest.arch or "unknown")
    if guest != norm_arch(ctx.appliance_arch):
        raise GuestError(
            f"{what}: cannot run a command inside this {guest} image on a {ctx.appliance_arch} "
            "host (the appliance executes the image's own programs)",
            "use --firstboot-command to run it once at the first boot instead, or run "
            f"imagekit customize on a {guest} host")


def _resolv_state(ctx: GuestContext) -> tuple:
    st = ctx._lstat(RESOLV)
    if st is None:
        return ("missing",)
    node = ctx.resolve(RESOLV)
    if node.kind == "link":
        return ("link", ctx.g.readlink(RESOLV))
    data = ctx.read(RESOLV) if node.kind == "file" else b""
    return (node.kind, data, node.mode, node.uid, node.gid)


def _restore_resolv(ctx: GuestContext, before: tuple) -> None:
    if _resolv_state(ctx) == before:
        return
    if ctx._lstat(RESOLV) is not None:
        ctx.g.rm_rf(RESOLV)
    kind = before[0]
    if kind == "link":
        ctx.g.ln_s(before[1], RESOLV)
    elif kind == "file":
        ctx.g.write(RESOLV, before[1])
        ctx.g.chmod(before[2], RESOLV)
        ctx.g.chown(before[3], before[4], RESOLV)
    ctx.note("the command changed /etc/resolv.conf; restored")


def _scratch(ctx: GuestContext) -> str:
    for folder in ("/tmp", "/var/tmp", "/root"):
        if ctx.resolve(folder).kind == "dir":
            return folder
    raise GuestError("the image has no /tmp, /var/tmp or /root folder to run a command from",
                     "create /tmp first (--mkdir /tmp)")


@executes(RunCommand)
def run_command(op: RunCommand, ctx: GuestContext, prep: Prepared) -> None:
    require_native(ctx, f"run-command '{op.describe()[5:]}'")
    if ctx.dry_run:
        ctx.record("(command)", "skipped", "not run in a dry run")
        return
    n = next(_counter)
    folder = _scratch(ctx)
    script, out = f"{folder}/.imagekit-run-{n}.sh", f"{folder}/.imagekit-run-{n}.out"
    body = (f"export PATH={PATH} HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive\n"
            f"cd /\n{op.command}\n")
    resolv = _resolv_state(ctx)
    ctx.g.write(script, body.encode())
    start = time.monotonic()
    try:
        rc_text = ctx.g.sh(f"/bin/sh {script} >{out} 2>&1 </dev/null; echo $?")
    except RuntimeError as exc:
        raise GuestError(f"run-command: the command could not be started in the image: {exc}",
                         "the image needs a working /bin/sh")
    finally:
        seconds = time.monotonic() - start
    output = (ctx.read(out) or b"").decode(errors="replace")
    ctx.g.rm_f(script)
    ctx.g.rm_f(out)
    _restore_resolv(ctx, resolv)
    ctx.forget_accounts()
    try:
        rc = int(rc_text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        rc = -1
    ctx.details.update(exit_code=rc, output=output[-4000:], seconds=round(seconds, 3),
                       network=ctx.network)
    ctx.record("(command)", "ran", f"exit {rc}", sha256(op.command.encode()))
    for line in output.splitlines()[-20:]:
        ui.verbose(f"  | {line}")
    if rc != 0:
        tail = " | ".join(ln for ln in output.strip().splitlines()[-3:]) or "no output"
        raise GuestError(f"run-command '{op.describe()[5:]}' exited with status {rc}: {tail}",
                         "fix the command (run with -v to see its output); nothing was saved")


# -- first boot ------------------------------------------------------------------
FB_DIR = "/usr/local/lib/imagekit/firstboot"
FB_RUNNER = "/usr/local/lib/imagekit/firstboot.sh"
FB_UNIT = "/etc/systemd/system/imagekit-firstboot.service"
FB_WANTS = "/etc/systemd/system/multi-user.target.wants/imagekit-firstboot.service"
RUNNER = """#!/bin/sh
# imagekit first-boot runner: each script in the folder below runs once, in
# name order; the output goes to /var/log/imagekit-firstboot.log. When all
# ran, the unit disables itself.
dir=/usr/local/lib/imagekit/firstboot
done_dir=/var/lib/imagekit/firstboot-done
log=/var/log/imagekit-firstboot.log
mkdir -p "$done_dir"
for s in "$dir"/*; do
    [ -f "$s" ] || continue
    name=$(basename "$s")
    [ -e "$done_dir/$name" ] && continue
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $name: start" >>"$log"
    if sh "$s" >>"$log" 2>&1; then rc=0; else rc=$?; fi
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $name: exit $rc" >>"$log"
    touch "$done_dir/$name"
done
rm -f /etc/systemd/system/multi-user.target.wants/imagekit-firstboot.service
"""
UNIT = """[Unit]
Description=imagekit first-boot scripts
Wants=network-online.target
After=network-online.target
ConditionPathExists=/usr/local/lib/imagekit/firstboot.sh

[Service]
Type=oneshot
ExecStart=/bin/sh /usr/local/lib/imagekit/firstboot.sh
RemainAfterExit=yes
TimeoutSec=0

[Install]
WantedBy=multi-user.target
"""


@executes(Firstboot)
def firstboot(op: Firstboot, ctx: GuestContext, prep: Prepared) -> None:
    ctx.ensure_dir(FB_DIR)
    folder = ctx.resolve(FB_DIR, follow=True).path
    existing = sorted(ctx.g.ls(folder))
    same = [e for e in existing if e.split("-", 1)[-1] == op.name
            and ctx.read(f"{FB_DIR}/{e}") == op.script]
    name = same[0] if same else f"{len(existing) + 1:02d}-{op.name}"
    ctx.put_file(f"{FB_DIR}/{name}", op.script, mode=0o755, uid=0, gid=0)
    ctx.put_file(FB_RUNNER, RUNNER.encode(), mode=0o755, uid=0, gid=0)
    ctx.ensure_dir("/etc/systemd/system/multi-user.target.wants")
    ctx.put_file(FB_UNIT, UNIT.encode(), mode=0o644, uid=0, gid=0)
    ctx.make_link(FB_UNIT, FB_WANTS)
    ctx.details["script"] = f"{FB_DIR}/{name}"
