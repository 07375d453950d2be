"""The provenance manifest: what was done to an image, by which tools.

Written inside the image (/etc/imagekit/manifest.json, earlier runs kept in
`history`) and, byte for byte the same, beside the output
(<output>.manifest.json). Schema `imagekit.manifest/1`:

    schema, created (UTC), tools {imagekit, libguestfs, qemu},
    source {name, sha256, format, virtual_size},
    output {name, mode, format}, guest {distro, version, arch, agent},
    launches, network, operations [{index, op, summary, inputs, changes, ...}],
    history [earlier manifests, oldest first, without their own history]
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

from imagekit import __version__, paths
from imagekit.engine.results import OpResult
from imagekit.guest.image import CheckedImage
from imagekit.guest.session import GuestOS
from imagekit.tools import qemuimg

SCHEMA = "imagekit.manifest/1"
GUEST_PATH = "/etc/imagekit/manifest.json"


def beside(output: Path) -> Path:
    return output.with_name(output.name + ".manifest.json")


def versions(g: Any) -> dict[str, str]:
    v = g.version()
    try:
        qemu = qemuimg.version()
    except Exception:  # noqa: BLE001 - a version string is not worth failing for
        qemu = "unknown"
    return {"imagekit": __version__,
            "libguestfs": f"{v['major']}.{v['minor']}.{v['release']}{v.get('extra', '')}",
            "qemu": qemu}


def previous(data: bytes | None) -> dict[str, Any] | None:
    """The manifest already in the image (None when absent); a damaged one is
    kept as a history entry that says so."""
    if not data:
        return None
    try:
        m = json.loads(data)
        if isinstance(m, dict):
            return m
    except ValueError:
        pass
    return {"schema": "unreadable", "sha256": hashlib.sha256(data).hexdigest()}


def build(*, source: CheckedImage, source_sha256: str | None, output_name: str | None, mode: str,
          output_format: str, guest: GuestOS, agent: dict[str, Any] | None,
          results: list[OpResult], tools: dict[str, str], launches: int, network: bool,
          prior: dict[str, Any] | None) -> dict[str, Any]:
    history: list[dict[str, Any]] = []
    if prior:
        history = list(prior.get("history") or [])
        history.append({k: v for k, v in prior.items() if k != "history"})
    return {
        "schema": SCHEMA,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tools": tools,
        "source": {"name": source.path.name, "sha256": source_sha256, "format": source.format,
                   "virtual_size": source.info.virtual_size},
        "output": {"name": output_name, "mode": mode, "format": output_format},
        "guest": {"distro": guest.distro, "version": guest.version, "arch": guest.arch,
                  "agent": agent},
        "launches": launches,
        "network": network,
        "operations": [r.to_dict() for r in results],
        "history": history,
    }


def dumps(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, default=str) + "\n").encode()


# -- the source image's sha256, cached by file identity ------------------------------
_LOCK = threading.Lock()


def _cache_file() -> Path:
    return paths.cache_dir() / "sha256.json"


def file_sha256(path: Path, cancel: threading.Event | None = None) -> str | None:
    """sha256 of a (large) file; cached per (path, size, mtime, inode).
    Returns None when cancelled."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    with _LOCK:
        try:
            cached = json.loads(_cache_file().read_text()).get(key)
        except (OSError, ValueError):
            cached = None
    if cached:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            if cancel is not None and cancel.is_set():
                return None
            h.update(chunk)
    digest = h.hexdigest()
    with _LOCK:
        try:
            data = json.loads(_cache_file().read_text())
        except (OSError, ValueError):
            data = {}
        data[key] = digest
        data = dict(list(data.items())[-200:])
        tmp = _cache_file().with_suffix(f".{time.monotonic_ns()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(_cache_file())
    return digest


class BackgroundHash:
    """The source hash, computed in a daemon thread while the appliance starts."""

    def __init__(self, path: Path) -> None:
        self._cancel = threading.Event()
        self._result: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path,), daemon=True,
                                        name="imagekit-source-sha256")
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._result = file_sha256(path, self._cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc

    def result(self) -> str | None:
        self._thread.join()
        if self._error:
            raise self._error
        return self._result

    def cancel(self) -> None:
        self._cancel.set()
