"""A snapshot of freshly initialised service databases, kept next to the
venv and tied to it (its stamp), so the next fresh devcloud copies ~2 MB
instead of running the eight init commands (about two thirds of a cold
start's CPU: 20-60 s on a busy machine).

It is taken right after the init commands, before any service starts, so it
holds exactly what a fresh init makes: empty schemas and Keystone's bootstrap
admin. Each restored devcloud gets its own fernet and credential keys (so a
token of one devcloud is never valid in another) and its own admin password
(the snapshot's is used once, to log in and change it); the identity
endpoint's URL is corrected by the catalog registration, which always runs.
IMAGEKIT_DEVCLOUD_TEMPLATE=0 turns it off (every fresh devcloud then runs the
init commands)."""
from __future__ import annotations

import base64
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from imagekit.cloud.devcloud.layout import SERVICES, Layout
from imagekit.cloud.devcloud.venv import STAMP

FILES = {
    "keystone": ("keystone.sqlite",),
    "glance": ("glance.sqlite",),
    "nova": ("nova_api.sqlite", "nova.sqlite"),
    "trove": ("trove.sqlite",),
}


@dataclass(frozen=True)
class Template:
    path: Path
    password: str


def enabled() -> bool:
    return os.environ.get("IMAGEKIT_DEVCLOUD_TEMPLATE", "1") != "0"


def location(lay: Layout) -> Path:
    return lay.venv.parent / f"{lay.venv.name}-template"


def _venv_stamp(lay: Layout) -> str | None:
    try:
        return (lay.venv / STAMP).read_text().strip()
    except OSError:
        return None


def find(lay: Layout) -> Template | None:
    """The snapshot for this venv, when there is a complete one."""
    d = location(lay)
    try:
        stamp = (d / "stamp").read_text().strip()
        password = (d / "password").read_text().strip()
    except OSError:
        return None
    if not stamp or stamp != _venv_stamp(lay) or not password:
        return None
    if not all((d / name).exists() for names in FILES.values() for name in names):
        return None
    return Template(d, password)


def staging(lay: Layout) -> Path:
    """A folder to collect a snapshot in (partial ones of dead processes go)."""
    for old in location(lay).parent.glob(f"{location(lay).name}.partial-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)
    d = location(lay).with_name(f"{location(lay).name}.partial-{os.getpid()}")
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def capture(lay: Layout, service: str, into: Path) -> None:
    """Copy one service's freshly initialised files (call before it starts)."""
    for name in FILES[service]:
        src = lay.data / name
        if src.is_dir():
            shutil.copytree(src, into / name)
        else:
            shutil.copy2(src, into / name)


def publish(lay: Layout, partial: Path, password: str) -> bool:
    """Make a complete snapshot the current one; False when not complete or
    when another one for the same venv is already there."""
    stamp = _venv_stamp(lay)
    complete = all((partial / n).exists() for s in SERVICES for n in FILES[s])
    if not complete or not stamp:
        shutil.rmtree(partial, ignore_errors=True)
        return False
    fd = os.open(partial / "password", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    (partial / "stamp").write_text(stamp + "\n")
    partial.chmod(0o700)
    final = location(lay)
    if final.exists():
        if find(lay) is not None:
            shutil.rmtree(partial, ignore_errors=True)
            return False
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.rename(partial, final)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        return False
    return True


def new_key_repository(path: Path) -> None:
    """A fresh Fernet key repository as keystone-manage fernet_setup makes
    it: key 0 (staged) and key 1 (primary), 32 random bytes each, urlsafe
    base64, files 0600 in a 0700 folder."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700, parents=True)
    for index in ("0", "1"):
        fd = os.open(path / index, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.urlsafe_b64encode(os.urandom(32)))


def restore(tmpl: Template, lay: Layout) -> None:
    """Put the snapshot's files into an empty state folder's data/, with new
    Keystone keys."""
    lay.data.mkdir(parents=True, exist_ok=True)
    new_key_repository(lay.data / "keystone-fernet-keys")
    new_key_repository(lay.data / "keystone-credential-keys")
    for names in FILES.values():
        for name in names:
            src, dst = tmpl.path / name, lay.data / name
            if src.is_dir():
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
