"""Where a devcloud keeps its things, and which ports it serves on.

One state folder per devcloud (default `~/.cache/imagekit/devcloud`):

    conf/<svc>/...      rendered configs (rewritten on every start)
    data/               sqlite databases, fernet keys, Glance's image files
    log/<svc>.log       everything a service and its init commands print
    run/<svc>.pid       the gunicorn master's pid (= its process group)
    state.json          ports, password, what was initialised (mode 0600)
    clouds.yaml         the cloud entries (mode 0600)
    .lock               held while `up` or `down` work

The services' venv is shared by all state folders (default
`~/.cache/imagekit/devcloud-venv`), so a test session with a throw-away
state folder does not reinstall 550 MB."""
from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass, fields
from pathlib import Path

from imagekit import paths
from imagekit.errors import UsageError

SERVICES = ("keystone", "glance", "nova", "trove")
# The processes beside the HTTP services: the message bus, Trove's conductor
# and taskmanager (they answer on the bus, not on a port of their own).
DAEMONS = ("rabbitmq", "conductor", "taskmanager")
STATE_SUBDIRS = ("conf", "data", "log", "run", "compute")
STATE_FILES = ("state.json", "clouds.yaml")


def default_state_dir() -> Path:
    env = os.environ.get("IMAGEKIT_DEVCLOUD_DIR")
    return Path(env) if env else paths.cache_dir() / "devcloud"


def default_venv() -> Path:
    env = os.environ.get("IMAGEKIT_DEVCLOUD_VENV")
    return Path(env) if env else paths.cache_dir() / "devcloud-venv"


@dataclass(frozen=True)
class Ports:
    keystone: int = 5000
    glance: int = 9292
    nova: int = 8774
    trove: int = 8779
    rabbitmq: int = 5682      # AMQP; 5672 is the system RabbitMQ's

    def of(self, service: str) -> int:
        return int(getattr(self, service))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __str__(self) -> str:
        return ",".join(str(self.of(s)) for s in SERVICES) + f" (AMQP {self.rabbitmq})"

    @classmethod
    def parse(cls, text: str) -> Ports:
        """'5000,9292,8774,8779[,5682]' (keystone, glance, nova, trove[, rabbitmq])."""
        parts = [p.strip() for p in text.split(",")]
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            nums = []
        if len(nums) not in (len(SERVICES), len(SERVICES) + 1) \
                or not all(1 <= n <= 65535 for n in nums) or len(set(nums)) != len(nums):
            raise UsageError(f"bad --ports value '{text}'",
                             "give four (or five) different port numbers: "
                             "KEYSTONE,GLANCE,NOVA,TROVE[,AMQP] (e.g. 5000,9292,8774,8779,5682), "
                             "or 'auto' for free ones")
        return cls(*nums)

    def all(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    @classmethod
    def free(cls) -> Ports:
        """Ports nobody listens on right now (the kernel's choice)."""
        socks = []
        try:
            for _ in fields(cls):
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                socks.append(s)
            return cls(*(s.getsockname()[1] for s in socks))
        finally:
            for s in socks:
                s.close()


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:port."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@dataclass(frozen=True)
class Layout:
    state_dir: Path
    venv: Path

    @property
    def tag(self) -> str:
        """Short id of this state folder, part of every process name, so
        `down` never signals another devcloud's (or anybody else's) process."""
        return hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:8]

    def process_name(self, service: str) -> str:
        return f"imagekit-devcloud-{service}-{self.tag}"

    @property
    def conf(self) -> Path:
        return self.state_dir / "conf"

    @property
    def data(self) -> Path:
        return self.state_dir / "data"

    @property
    def logs(self) -> Path:
        return self.state_dir / "log"

    @property
    def run(self) -> Path:
        return self.state_dir / "run"

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def pidfile(self, service: str) -> Path:
        return self.run / f"{service}.pid"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def clouds_yaml(self) -> Path:
        return self.state_dir / "clouds.yaml"

    @property
    def lock(self) -> Path:
        return self.state_dir / ".lock"

    def bin(self, program: str) -> Path:
        return self.venv / "bin" / program

    @property
    def compute(self) -> Path:
        """The local compute's servers: one folder each (disk overlay, data
        disk, ConfigDrive, console log, records)."""
        return self.state_dir / "compute"

    def make_dirs(self) -> None:
        for d in (self.conf, self.data, self.logs, self.run, self.compute):
            d.mkdir(parents=True, exist_ok=True)
