"""A real sshd on 127.0.0.1 for the remote-builder tests: a free port, a
generated host key and client key, its own authorized_keys file (nothing in
the user's ~/.ssh changes), stopped by its PID."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SshServer:
    host: str
    port: int
    user: str
    key: Path            # the client's private key (DBIMAGE_DIB_PRIVATE_SSH_KEY)
    proc: subprocess.Popen = field(compare=False, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def target(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        return {"DBIMAGE_DIB_PRIVATE_SSH_KEY": str(self.key)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sshd() -> str:
    for p in ("/usr/sbin/sshd", shutil.which("sshd") or ""):
        if p and os.access(p, os.X_OK):
            return p
    raise RuntimeError("sshd is not installed (apt-get install openssh-server; make setup does)")


def start(workdir: Path) -> SshServer:
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    hostkey, client = workdir / "host_ed25519", workdir / "client_ed25519"
    for k in (hostkey, client):
        if not k.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True)
    auth = workdir / "authorized_keys"
    auth.write_text((workdir / "client_ed25519.pub").read_text())
    os.chmod(auth, 0o600)
    port = free_port()
    user = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True,
                                                    text=True).stdout.strip()
    conf = workdir / "sshd_config"
    conf.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {hostkey}\n"
        f"AuthorizedKeysFile {auth}\nPidFile {workdir / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nAllowTcpForwarding no\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n")
    Path("/run/sshd").mkdir(exist_ok=True)       # privilege separation folder
    log = open(workdir / "sshd.log", "ab")
    proc = subprocess.Popen([_sshd(), "-D", "-e", "-f", str(conf)], stdout=log, stderr=log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {(workdir / 'sshd.log').read_text()[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("sshd did not start listening")
    return SshServer("127.0.0.1", port, user, client, proc)


def stop(server: SshServer) -> None:
    """Stop our sshd (by its PID, through its Popen handle)."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)
