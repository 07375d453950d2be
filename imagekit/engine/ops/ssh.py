"""ssh: authorized keys of a guest user; host keys made on this host."""
from __future__ import annotations

import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from imagekit.engine.ops.base import Prepared, executes
from imagekit.engine.ops.context import GuestContext, sha256
from imagekit.engine.plan import RegenHostKeys, SshInject
from imagekit.errors import GuestError, ToolError
from imagekit.guest import facts
from imagekit.tools.run import run, which

DEFAULT_HOST_KEY_TYPES = ("rsa", "ecdsa", "ed25519")


def _blob(line: str) -> str:
    """The base64 part of a key line (what identifies the key)."""
    for p in line.split():
        if len(p) > 40 and re.fullmatch(r"[A-Za-z0-9+/]+=*", p):
            return p
    return line.strip()


@executes(SshInject)
def ssh_inject(op: SshInject, ctx: GuestContext, prep: Prepared) -> None:
    user = ctx.user(op.user)
    home = ctx.resolve(user.home, follow=True) if user.home.startswith("/") else None
    if home is None or home.kind != "dir" or user.home in ("/", "/nonexistent"):
        raise GuestError(f"ssh-inject: the home folder {user.home} of user {user.name} does not "
                         "exist in the image", f"create it first (--mkdir {user.home}) or pick "
                         "another user")
    ssh_dir = f"{home.path.rstrip('/')}/.ssh"
    ctx.ensure_dir(ssh_dir, mode=0o700, uid=user.uid, gid=user.gid)
    path = f"{ssh_dir}/authorized_keys"
    old = (ctx.read(path) or b"").decode(errors="replace")
    have = {_blob(ln) for ln in old.splitlines() if ln.strip() and not ln.lstrip().startswith("#")}
    added = [k.strip() for k in op.keys if _blob(k) not in have]
    new = old
    if added:
        if new and not new.endswith("\n"):
            new += "\n"
        new += "".join(k + "\n" for k in added)
    ctx.put_file(path, new.encode(), mode=0o600, uid=user.uid, gid=user.gid)
    ctx.details["added"] = len(added)
    if len(added) < len(op.keys):
        ctx.note(f"{len(op.keys) - len(added)} key(s) already present")


# -- host keys --------------------------------------------------------------------
def _keygen(kind: str, folder: Path) -> tuple[bytes, bytes]:
    key = folder / f"ssh_host_{kind}_key"
    argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "root@imagekit", "-f", str(key)]
    if kind == "rsa":
        argv[4:4] = ["-b", "3072"]
    run(argv, what=f"ssh-keygen -t {kind}")
    return key.read_bytes(), Path(f"{key}.pub").read_bytes()


def generate(kinds: tuple[str, ...]) -> dict[str, tuple[bytes, bytes]]:
    """New host key pairs made on this host, in parallel (RSA dominates)."""
    which("ssh-keygen")
    with tempfile.TemporaryDirectory(prefix="imagekit-hostkeys-") as tmp:
        with ThreadPoolExecutor(max_workers=len(kinds) or 1) as pool:
            futures = {k: pool.submit(_keygen, k, Path(tmp)) for k in kinds}
            try:
                return {k: f.result() for k, f in futures.items()}
            except subprocess.SubprocessError as exc:
                raise ToolError(f"ssh-keygen failed: {exc}")


def _prepare_host_keys(op: RegenHostKeys) -> Prepared:
    kinds = op.types or DEFAULT_HOST_KEY_TYPES
    return Prepared({}, generate(tuple(kinds)))


def wanted_types(ctx: GuestContext) -> tuple[str, ...]:
    """Key types the image has (files, or HostKey lines of sshd_config)."""
    kinds = [k.type for k in facts.host_keys(ctx.g) if k.type]
    for conf in ["/etc/ssh/sshd_config"] + sorted(ctx.g.glob_expand("/etc/ssh/sshd_config.d/*.conf")):
        try:
            text = (ctx.read(conf) or b"").decode(errors="replace")
        except GuestError:
            continue
        for m in re.finditer(r"^\s*HostKey\s+\S*ssh_host_(\w+)_key\s*$", text, re.M | re.I):
            kinds.append(m.group(1))
    out: list[str] = []
    for k in kinds:
        if k not in out:
            out.append(k)
    return tuple(out)


@executes(RegenHostKeys, prepare=_prepare_host_keys)
def regen_host_keys(op: RegenHostKeys, ctx: GuestContext, prep: Prepared) -> None:
    if ctx.resolve("/etc/ssh", follow=True).kind != "dir":
        ctx.record("/etc/ssh", "skipped", "no /etc/ssh in the image (no ssh server)")
        ctx.note("the image has no /etc/ssh: no host keys made")
        return
    kinds = op.types or wanted_types(ctx)
    if not kinds:
        kinds = DEFAULT_HOST_KEY_TYPES
        ctx.note(f"the image has no host keys: made {', '.join(kinds)}")
    keys: dict[str, tuple[bytes, bytes]] = dict(prep.payload or {})
    missing = tuple(k for k in kinds if k not in keys)
    if missing:
        keys.update(generate(missing))
    keep = {f"/etc/ssh/ssh_host_{k}_key" for k in kinds} | {f"/etc/ssh/ssh_host_{k}_key.pub" for k in kinds}
    for old in sorted(ctx.g.glob_expand("/etc/ssh/ssh_host_*")):
        if old not in keep:
            ctx.remove(old)
    for k in kinds:
        private, public = keys[k]
        ctx.put_file(f"/etc/ssh/ssh_host_{k}_key", private, mode=0o600, uid=0, gid=0)
        ctx.put_file(f"/etc/ssh/ssh_host_{k}_key.pub", public, mode=0o644, uid=0, gid=0)
    ctx.details["types"] = list(kinds)
    ctx.details["public_key_sha256"] = {k: sha256(keys[k][1].split()[1]) for k in kinds}
    if not facts.cloud_init(ctx.g, []).installed:
        ctx.note("cloud-init is not installed: every instance of this image shares these host keys "
                 "unless something regenerates them at boot")
