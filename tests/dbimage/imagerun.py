"""Run a database image without docker, to check it independently of
imagekit.dbimage: unpack the docker-archive with plain tar, read its config
JSON, and start the entrypoint in a chroot (private mount and pid namespaces,
/proc and /dev mounted, host directories bound like the agent's volumes), as
the uid the agent uses. The network namespace is the host's, so the host's
own clients connect to 127.0.0.1."""
from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Unpacked:
    rootfs: Path
    config: dict        # the image config's "config" (Entrypoint, Cmd, Env, User...)
    arch: str
    repo_tags: list[str]

    @property
    def env(self) -> dict[str, str]:
        return dict(e.split("=", 1) for e in self.config.get("Env") or [])


def unpack(archive: Path, dest: Path) -> Unpacked:
    """Unpack the docker-archive's (single) layer into dest/rootfs with tar."""
    meta = dest / "archive"
    meta.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(archive), "-C", str(meta)], check=True)
    manifest = json.loads((meta / "manifest.json").read_text())
    cfg = json.loads((meta / manifest[0]["Config"]).read_text())
    rootfs = dest / "rootfs"
    rootfs.mkdir()
    for layer in manifest[0]["Layers"]:
        subprocess.run(["tar", "--numeric-owner", "-xpf", str(meta / layer), "-C", str(rootfs)],
                       check=True)
        (meta / layer).unlink()
    return Unpacked(rootfs, cfg.get("config") or {}, cfg.get("architecture", ""),
                    manifest[0].get("RepoTags") or [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(img: Unpacked, binds: dict[str, Path], user: str, env: dict[str, str],
            argv: list[str]) -> str:
    r = shlex.quote(str(img.rootfs))
    lines = ["set -e", f"mount -t proc proc {r}/proc", f"mount --rbind /dev {r}/dev"]
    for inside, host in binds.items():
        target = img.rootfs / inside.lstrip("/")
        lines.append(f"mkdir -p {shlex.quote(str(target))}")
        lines.append(f"mount --bind {shlex.quote(str(host))} {shlex.quote(str(target))}")
    envs = [f"{k}={v}" for k, v in {**img.env, **env}.items()]
    lines.append(shlex.join(["exec", "chroot", f"--userspec={user}", str(img.rootfs),
                             "/usr/bin/env", "-i", *envs, *argv]))
    return "\n".join(lines)


def start(img: Unpacked, argv: list[str], *, binds: dict[str, Path], user: str,
          env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start argv (entrypoint + command) in the image, pid 1 of a new pid namespace."""
    script = _script(img, binds, user, env, argv)
    return subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--kill-child",
                             "sh", "-c", script], stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT)


def exec_in(img: Unpacked, argv: list[str], *, binds: dict[str, Path], user: str,
            env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Like `docker exec`: another process in the image's filesystem."""
    script = _script(img, binds, user, env or {}, argv)
    return subprocess.run(["unshare", "--mount", "--pid", "--fork", "sh", "-c", script],
                          capture_output=True, text=True, timeout=timeout)


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 60) -> None:
    """Signal the namespace's pid 1 (the server), wait, then kill what is left."""
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    except OSError:
        children = []
    for c in children:
        try:
            os.kill(int(c), sig)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def wait_for(check, timeout: float = 90, what: str = "", log: Path | None = None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"{what} not ready after {timeout} s; log:\n{tail}")


def owned_dir(path: Path, uid: int, gid: int, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def layer_members(archive: Path) -> list[str]:
    with tarfile.open(archive) as t:
        return t.getnames()
