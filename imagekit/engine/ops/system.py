"""The implicit last steps: SELinux relabel at next boot, machine-id reset."""
from __future__ import annotations

import re

from imagekit.engine.ops.base import Prepared, executes
from imagekit.engine.ops.context import GuestContext
from imagekit.engine.plan import ResetMachineId, SelinuxRelabel


@executes(ResetMachineId)
def reset_machine_id(op: ResetMachineId, ctx: GuestContext, prep: Prepared) -> None:
    """An empty /etc/machine-id: systemd makes a new one at first boot, so
    instances of the image do not share one."""
    ctx.truncate("/etc/machine-id")


def selinux_policy(ctx: GuestContext) -> str | None:
    """The policy name when the guest enforces (or logs) SELinux and has it."""
    data = ctx.read("/etc/selinux/config") if ctx.resolve("/etc/selinux").kind == "dir" else None
    if not data:
        return None
    text = data.decode(errors="replace")
    mode = re.search(r"^\s*SELINUX\s*=\s*(\w+)", text, re.M)
    kind = re.search(r"^\s*SELINUXTYPE\s*=\s*([\w.-]+)", text, re.M)
    if not mode or mode.group(1).lower() not in ("enforcing", "permissive") or not kind:
        return None
    return kind.group(1) if ctx.resolve(f"/etc/selinux/{kind.group(1)}", follow=True).kind == "dir" \
        else None


@executes(SelinuxRelabel)
def relabel(op: SelinuxRelabel, ctx: GuestContext, prep: Prepared) -> None:
    policy = selinux_policy(ctx)
    if policy is None:
        ctx.record("/.autorelabel", "skipped", "no SELinux policy in the image")
        return
    ctx.put_file("/.autorelabel", b"")
    ctx.details["policy"] = policy
