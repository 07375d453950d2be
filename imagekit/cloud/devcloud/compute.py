"""imagekit's side of the devcloud's local compute (compute_hook.py runs in
the services' venv): the servers it runs, read from their folders, and
stopping them."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from imagekit.cloud.devcloud import compute_hook
from imagekit.cloud.devcloud.layout import Layout


@dataclass(frozen=True)
class LocalServer:
    id: str
    name: str
    status: str                      # BUILD, ACTIVE, SHUTOFF, ERROR
    folder: Path
    forwarded: dict[int, int]        # guest port -> 127.0.0.1 port
    console: Path
    disk: Path | None
    fault: str | None
    trove_instance_id: str | None
    qemu_pid: int | None

    def port(self, guest_port: int) -> int | None:
        return self.forwarded.get(guest_port)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def servers(lay: Layout) -> list[LocalServer]:
    out = []
    if not lay.compute.is_dir():
        return out
    for d in sorted(lay.compute.iterdir()):
        rec = _read(d / "server.json")
        if not rec:
            continue
        vm = _read(d / "vm.json")
        status = vm.get("status", "BUILD")
        if status in ("BUILD", "ACTIVE") and vm.get("supervisor") \
                and not compute_hook._alive(vm["supervisor"]):
            status = "ERROR"
        out.append(LocalServer(
            id=rec["id"], name=rec.get("name", ""), status=status, folder=d,
            forwarded={int(k): int(v) for k, v in (vm.get("forwarded") or {}).items()},
            console=d / "console.log", disk=Path(vm["disk"]) if vm.get("disk") else None,
            fault=vm.get("fault"), trove_instance_id=(rec.get("meta") or {}).get("trove_instance_id"),
            qemu_pid=vm.get("qemu")))
    return out


def find(lay: Layout, server_id: str) -> LocalServer | None:
    return next((s for s in servers(lay) if s.id == server_id), None)


def stop_all(lay: Layout) -> int:
    """Stop every VM of this devcloud and remove its folder; how many ran."""
    n = 0
    if not lay.compute.is_dir():
        return 0
    for d in list(lay.compute.iterdir()):
        if d.is_dir():
            vm = _read(d / "vm.json")
            if compute_hook._alive(vm.get("supervisor")):
                n += 1
            compute_hook.stop(str(d))
    return n


def power_off(folder: Path) -> None:
    """Stop one server's VM, keeping its folder (disk, console) for a look."""
    compute_hook.power_off(str(folder))
