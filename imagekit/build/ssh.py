"""ssh to a remote builder: the one wrapper. Remote commands are argv lists,
quoted with shlex.join (never a shell string built from user input); the
connection is shared (ControlMaster) so the checks, the transfer, the build
and the fetch cost one handshake.

Authentication follows the original tool's dbimagerc variables:
DBIMAGE_DIB_PRIVATE_SSH_KEY (a key file; wins) or DBIMAGE_DIB_PASSWD (given to
ssh through sshpass's environment, never on a command line); else ssh's own
defaults (agent, ~/.ssh). Host keys are checked against imagekit's own
known_hosts file (new hosts are accepted once, changed keys refused)."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagekit import paths, ui
from imagekit.errors import BuildError, UsageError

KEY_VAR = "DBIMAGE_DIB_PRIVATE_SSH_KEY"
PASSWD_VAR = "DBIMAGE_DIB_PASSWD"
PORT_VAR = "DBIMAGE_DIB_SSH_PORT"
LOCAL_NAMES = ("localhost", "")


class BuilderUnreachable(BuildError):
    """ssh could not connect or log in (the original's exit 4 case)."""


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str
    port: int = 22
    key_file: str | None = None
    use_password: bool = False

    @property
    def label(self) -> str:
        port = f":{self.port}" if self.port != 22 else ""
        return f"{self.user}@{self.host}{port}"


_HOST_RE = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[0-9a-fA-F:]+)\]|(?P<host>[^:\s/]+))"
                      r"(?::(?P<port>\d+))?$")


def parse_target(spec: str, user: str | None, environ: Mapping[str, str] | None = None) -> SshTarget:
    """-i [user@]host[:port] (IPv6 as [addr]:port); -b user; dbimagerc variables."""
    env = environ if environ is not None else os.environ
    m = _HOST_RE.match(spec.strip())
    if not m:
        raise UsageError(f"-i {spec}: not a host name or address",
                         "use -i HOST, -i HOST:PORT or -i USER@HOST")
    host = m.group("v6") or m.group("host")
    port = int(m.group("port") or env.get(PORT_VAR) or 22)
    if not 0 < port < 65536:
        raise UsageError(f"-i {spec}: port {port} out of range")
    key = env.get(KEY_VAR) or None
    if key and not Path(key).expanduser().is_file():
        raise UsageError(f"{KEY_VAR}={key}: no such key file")
    return SshTarget(host=host, user=m.group("user") or user or "ubuntu", port=port,
                     key_file=str(Path(key).expanduser()) if key else None,
                     use_password=bool(env.get(PASSWD_VAR)) and not key)


class Ssh:
    """A connection to one target (use as a context manager)."""

    def __init__(self, target: SshTarget, *, connect_timeout: int = 15) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self._dir = tempfile.mkdtemp(prefix="imagekit-ssh-")
        self._master = os.path.join(self._dir, "cm")
        if target.use_password and not shutil.which("sshpass"):
            raise BuildError(f"{PASSWD_VAR} is set but sshpass is not installed",
                             f"apt-get install sshpass, or set {KEY_VAR} to a private key file")
        if not shutil.which("ssh"):
            raise BuildError("ssh is not installed", "apt-get install openssh-client")

    def __enter__(self) -> Ssh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if os.path.exists(self._master):
            subprocess.run(["ssh", "-o", f"ControlPath={self._master}", "-O", "exit",
                            self.target.host], capture_output=True, timeout=15)
        shutil.rmtree(self._dir, ignore_errors=True)

    def options(self) -> list[str]:
        known = paths.cache_dir() / "known_hosts"
        opts = ["-o", f"ConnectTimeout={self.connect_timeout}",
                "-o", "ServerAliveInterval=30", "-o", "ServerAliveCountMax=6",
                "-o", "StrictHostKeyChecking=accept-new",
                "-o", f"UserKnownHostsFile={known}",
                "-o", "ControlMaster=auto", "-o", f"ControlPath={self._master}",
                "-o", "ControlPersist=120",
                "-o", "LogLevel=ERROR",
                "-p", str(self.target.port), "-l", self.target.user]
        if self.target.key_file:
            opts += ["-i", self.target.key_file, "-o", "IdentitiesOnly=yes"]
        if not self.target.use_password:
            opts += ["-o", "BatchMode=yes"]
        else:
            opts += ["-o", "PreferredAuthentications=password,keyboard-interactive",
                     "-o", "NumberOfPasswordPrompts=1"]
        return opts

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.target.use_password:
            env["SSHPASS"] = env[PASSWD_VAR]
        return env

    def argv(self, remote: Sequence[str]) -> list[str]:
        """The local argv running `remote` (an argv list) on the target."""
        prefix = ["sshpass", "-e"] if self.target.use_password else []
        return [*prefix, "ssh", *self.options(), self.target.host, "--", shlex.join(list(remote))]

    def run(self, remote: Sequence[str], *, input: bytes | None = None, timeout: float | None = 120,
            check: bool = True, what: str | None = None) -> subprocess.CompletedProcess[bytes]:
        argv = self.argv(remote)
        ui.verbose("ssh " + self.target.label + ": " + shlex.join(list(remote)), level=2)
        try:
            proc = subprocess.run(argv, input=input, capture_output=True, timeout=timeout,
                                  env=self.env())
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"{what or remote[0]} on {self.target.label} did not finish within "
                             f"{timeout:.0f} s") from exc
        if check and proc.returncode != 0:
            raise self.error(proc, what or shlex.join(list(remote[:3])))
        return proc

    def error(self, proc: subprocess.CompletedProcess[bytes], what: str) -> BuildError:
        err = proc.stderr.decode(errors="replace").strip()
        last = err.splitlines()[-1] if err else f"exit {proc.returncode}"
        if proc.returncode == 255:
            return BuilderUnreachable(f"cannot reach the builder {self.target.label}: {last}",
                              f"check the address and port (-i), the user (-b) and the key "
                              f"({KEY_VAR}) or password ({PASSWD_VAR}); "
                              f"try: ssh -p {self.target.port} {self.target.label.split(':')[0]}")
        return BuildError(f"{what} failed on {self.target.label} (exit {proc.returncode}): {last}")

    def script(self, text: str, *, timeout: float | None = 120, what: str = "a check") -> str:
        """Run a constant shell script (no user input in it) with `sh -s`."""
        proc = self.run(["sh", "-s"], input=text.encode(), timeout=timeout, what=what)
        return proc.stdout.decode(errors="replace")

    def popen(self, remote: Sequence[str], **kw: object) -> subprocess.Popen:
        return subprocess.Popen(self.argv(remote), env=self.env(), **kw)  # type: ignore[call-overload]
