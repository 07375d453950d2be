"""What `imagekit verify` looks at while an instance boots, each read from its
own source, not from the image's files: the serial console, the bus's
queues, the conductor's records in Trove's database, the database port
through qemu's forward, and the Trove API."""
from __future__ import annotations

import re
import socket
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# console evidence, on text with the colour codes removed
KERNEL = re.compile(r"Linux version|systemd\[1\]:")
CLOUD_INIT_FILES = re.compile(r"Cloud-init v\. \S+ running 'modules:config'")
AGENT_STARTED = re.compile(r"Started guest-agent\.service|imagekit: starting the Trove guest agent")
DB_IMAGES_LOADING = re.compile(r"imagekit-db-images: loading (\S+)")
CLOUD_INIT_DONE = re.compile(r"Cloud-init v\. \S+ finished at")
LOGIN_PROMPT = re.compile(r"^\S+ login: ", re.M)
DB_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}


def console_text(path: Path, limit: int = 4 << 20) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - limit))
            raw = f.read()
    except OSError:
        return ""
    return ANSI.sub("", raw.decode(errors="replace")).replace("\r", "")


@dataclass(frozen=True)
class ServiceStatus:
    status: str            # the conductor's record: new, building, healthy, ...
    updated: str


def service_status(trove_db: Path, instance_id: str) -> ServiceStatus | None:
    """The instance's row in service_statuses (written by the conductor from
    the agent's heartbeats), read-only."""
    try:
        con = sqlite3.connect(f"file:{trove_db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        row = con.execute("SELECT status_description, updated_at FROM service_statuses "
                          "WHERE instance_id = ?", (instance_id,)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    return ServiceStatus(str(row[0]).lower(), str(row[1])) if row else None


def database_answers(db: str, port: int, timeout: float = 3.0) -> bool:
    """True when the database itself answers on 127.0.0.1:port (qemu's forward
    accepts connections even when nothing listens in the guest, so a TCP
    connect proves nothing): PostgreSQL answers an SSLRequest with S or N,
    MySQL/MariaDB greet first with a handshake packet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            if db == "postgresql":
                s.sendall(struct.pack("!II", 8, 80877103))
                return s.recv(1) in (b"S", b"N")
            head = s.recv(5)
            return len(head) == 5 and head[4] in (9, 10)     # protocol version 9/10
    except OSError:
        return False


def loading_db_images(text: str) -> bool:
    """True while the loader unit is loading a database image (a load it
    started and has not reported done)."""
    started = DB_IMAGES_LOADING.findall(text)
    return any(f"imagekit-db-images: {ref} loaded" not in text for ref in started)


AGENT_START_LINE = re.compile(r"imagekit: starting the Trove guest agent")


def agent_starts(text: str) -> int:
    """How often systemd started the agent (imagekit's images print a console
    line each time; Restart=always makes a crashing agent start again)."""
    return len(AGENT_START_LINE.findall(text))
