"""A Trove controller reached over ssh, for the one thing Trove's API cannot
do: load configuration parameters of the types it refuses (`trove-manage
db_load_datastore_config_parameters`).

Configured like the original dbimage-builder, from the environment (or
dbimagerc):

  DBIMAGE_CONTROLLER_IP          controller address; unset: no controller.
                                 `localhost` runs trove-manage here, without ssh.
  DBIMAGE_CTRL_PRIVATE_SSH_KEY   ssh private key (preferred over the password)
  DBIMAGE_CTRL_PASSWD            ssh password (through sshpass -e, never on argv)
  DBIMAGE_CTRL_USER              ssh user (the original always used ubuntu)
  DBIMAGE_CTRL_SSH_PORT          ssh port (22)
  DBIMAGE_TROVE_MANAGE           the trove-manage command on the controller,
                                 e.g. "sudo trove-manage" or "sudo lxc-attach -n
                                 <trove_api container> -- /openstack/venvs/trove/bin/trove-manage"

The rules travel on stdin and trove-manage reads them from /dev/stdin, so no
file is copied to the controller (or into a container there)."""
from __future__ import annotations

import os
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from imagekit import paths
from imagekit.cloud import naming
from imagekit.errors import CloudError, ToolError
from imagekit.tools.run import run, which

LOCAL_NAMES = ("localhost",)


@dataclass(frozen=True)
class Controller:
    host: str
    user: str = "ubuntu"
    port: int = 22
    key: str | None = None
    password: str | None = None
    trove_manage: tuple[str, ...] = ("trove-manage",)

    @property
    def local(self) -> bool:
        return self.host in LOCAL_NAMES or self.host in (socket.gethostname(), socket.getfqdn())

    @property
    def where(self) -> str:
        return "this host" if self.local else f"{self.user}@{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Controller | None:
        env = os.environ if env is None else env
        host = (env.get("DBIMAGE_CONTROLLER_IP") or "").strip()
        if not host:
            return None
        try:
            port = int(env.get("DBIMAGE_CTRL_SSH_PORT") or 22)
        except ValueError:
            raise CloudError(f"DBIMAGE_CTRL_SSH_PORT='{env['DBIMAGE_CTRL_SSH_PORT']}' is not a "
                             "port number", "set it to the controller's ssh port, e.g. 22")
        manage = shlex.split(env.get("DBIMAGE_TROVE_MANAGE") or "trove-manage")
        return cls(host=host, user=env.get("DBIMAGE_CTRL_USER") or "ubuntu", port=port,
                   key=env.get("DBIMAGE_CTRL_PRIVATE_SSH_KEY") or None,
                   password=env.get("DBIMAGE_CTRL_PASSWD") or None,
                   trove_manage=tuple(manage) or ("trove-manage",))

    def ssh_argv(self, remote: list[str]) -> tuple[list[str], dict[str, str] | None]:
        """(argv, extra env) running `remote` on the controller."""
        known = paths.config_dir() / "known_hosts"
        known.parent.mkdir(parents=True, exist_ok=True)
        opts = ["-o", "StrictHostKeyChecking=accept-new",
                "-o", f"UserKnownHostsFile={known} {Path('~/.ssh/known_hosts').expanduser()}",
                "-o", "ConnectTimeout=15", "-p", str(self.port)]
        env = None
        prefix: list[str] = []
        if self.key:
            opts += ["-i", self.key, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
        elif self.password:
            try:
                which("sshpass")
            except ToolError:
                raise CloudError("DBIMAGE_CTRL_PASSWD is set but sshpass is not installed",
                                 "install sshpass (apt-get install sshpass), or use a key: "
                                 "DBIMAGE_CTRL_PRIVATE_SSH_KEY")
            prefix = ["sshpass", "-e"]
            env = {**os.environ, "SSHPASS": self.password}
            opts += ["-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1"]
        else:
            opts += ["-o", "BatchMode=yes"]
        return [*prefix, "ssh", *opts, f"{self.user}@{self.host}", "--",
                shlex.join(remote)], env

    def load_parameters(self, datastore: str, version: str, rules: Path) -> str:
        """trove-manage db_load_datastore_config_parameters <ds> <x.y> /dev/stdin < rules."""
        remote = [*self.trove_manage, "db_load_datastore_config_parameters", datastore,
                  naming.datastore_version_name(version), "/dev/stdin"]
        if self.local:
            argv, env = remote, None
        else:
            argv, env = self.ssh_argv(remote)
        hint = (f"check DBIMAGE_CONTROLLER_IP, the ssh settings (DBIMAGE_CTRL_*) and "
                f"DBIMAGE_TROVE_MANAGE ('{shlex.join(self.trove_manage)}')")
        try:
            proc = run(argv, input=rules.read_text(), env=env, timeout=300,
                       what=f"trove-manage on {self.where}", hint=hint)
        except ToolError as exc:
            raise CloudError(exc.message, hint) from exc
        return proc.stdout
