"""The devcloud's message bus: RabbitMQ from the distribution, a node of its
own (never the system's default node, port or `guest` user).

Node `imagekit-devcloud-rabbitmq-<tag>@localhost` listens on 127.0.0.1 only
(AMQP port from the devcloud's ports; its Erlang distribution port and a
private epmd port recorded in the state), keeps its database and logs under
the state folder (`data/rabbitmq`), and has one user, `imagekit-trove`, with
the devcloud's password. Guests reach it as 10.0.2.2 through qemu's user
network, which arrives on the host's loopback."""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from imagekit.cloud.devcloud.layout import Layout
from imagekit.cloud.devcloud.procs import DevcloudError, alive, read_tail
from imagekit.tools.run import run

USER = "imagekit-trove"
GUEST_HOST = "10.0.2.2"          # the host's loopback, as a qemu user-network guest sees it
SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"   # the real script, not Debian's su wrapper
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
INSTALL_HINT = "install it with 'apt-get install rabbitmq-server' (make setup does)"


@dataclass(frozen=True)
class Bus:
    layout: Layout
    port: int
    dist_port: int
    epmd_port: int
    password: str

    @property
    def node(self) -> str:
        return f"{self.layout.process_name('rabbitmq')}@localhost"

    @property
    def base(self) -> Path:
        """Named after the node's process name: its HOME shows in the Erlang
        VM's command line, which is how `down` knows the process is ours."""
        return self.layout.data / self.layout.process_name("rabbitmq")

    @property
    def pid_file(self) -> Path:
        return self.base / "rabbitmq.pid"

    def url(self, host: str = "127.0.0.1") -> str:
        return f"rabbit://{USER}:{self.password}@{host}:{self.port}/"

    @property
    def guest_url(self) -> str:
        return self.url(GUEST_HOST)

    def env(self) -> dict[str, str]:
        base = self.base
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": str(base),                          # .erlang.cookie of this node
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
        })
        return env


def available() -> str | None:
    """None when RabbitMQ can run here, else why not."""
    if not os.path.exists(SERVER):
        return f"rabbitmq-server is not installed ({SERVER} is missing)"
    if not shutil.which("erl") and not os.path.exists("/usr/lib/erlang/bin/erl"):
        return "Erlang (erlang-base) is not installed"
    return None


def render(bus: Bus) -> None:
    """The node's config: loopback only, our user, no default guest user."""
    base = bus.base
    for sub in ("mnesia", "log"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    conf = base / "rabbitmq.conf"
    conf.write_text(
        "# RabbitMQ node of an imagekit devcloud (rendered by imagekit)\n"
        f"listeners.tcp.default = 127.0.0.1:{bus.port}\n"
        "loopback_users = none\n"
        f"default_user = {USER}\n"
        f"default_pass = {bus.password}\n"
        "default_vhost = /\n"
        "default_permissions.configure = .*\n"
        "default_permissions.read = .*\n"
        "default_permissions.write = .*\n"
        "log.console = true\n"
        "log.file = false\n"
        "disk_free_limit.absolute = 50MB\n")
    conf.chmod(0o600)
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq-env.conf").write_text("")
    cookie = base / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text(os.urandom(16).hex().upper())
    cookie.chmod(0o400)


def argv() -> list[str]:
    return [SERVER]


def ctl(bus: Bus, *args: str, timeout: float = 60) -> str:
    proc = run([CTL, "-n", bus.node, "-q", *args], env=bus.env(), timeout=timeout,
               what=f"rabbitmqctl {args[0] if args else ''}".strip())
    return proc.stdout


def _amqp_answers(port: int) -> bool:
    """True when an AMQP server answers on 127.0.0.1:port (the protocol header
    is answered with Connection.Start, which begins with frame type 1)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")
            s.settimeout(3)
            head = s.recv(8)
    except OSError:
        return False
    return head[:1] == b"\x01"


def vm_pid(bus: Bus) -> int | None:
    """The Erlang VM's pid (rabbitmq-server is a script that starts it)."""
    try:
        return int(bus.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def wait_ready(bus: Bus, pid: int, log: Path, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if _amqp_answers(bus.port) and vm_pid(bus):
            return time.monotonic() - start
        if not alive(pid):
            raise DevcloudError(f"rabbitmq-server exited while starting (log: {log})",
                                "the end of its log is shown above", details=read_tail(log, 20))
        time.sleep(0.3)
    raise DevcloudError(f"RabbitMQ did not answer on 127.0.0.1:{bus.port} within {timeout:.0f} s "
                        f"(log: {log})", "the machine may be overloaded: retry, or raise "
                        "IMAGEKIT_DEVCLOUD_START_TIMEOUT", details=read_tail(log, 20))


def queues(bus: Bus) -> dict[str, int]:
    """{queue name: consumer count} of the node's default vhost."""
    out = ctl(bus, "list_queues", "name", "consumers", "--formatter", "json")
    try:
        rows = json.loads(out or "[]")
    except ValueError:
        return {}
    return {r["name"]: int(r.get("consumers") or 0) for r in rows if "name" in r}


def stop_epmd(bus: Bus) -> None:
    """The node's private epmd (its port is ours alone) goes with the node."""
    epmd = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
    if os.path.exists(epmd):
        run([epmd, "-port", str(bus.epmd_port), "-kill"], env=bus.env(), check=False, timeout=10)
