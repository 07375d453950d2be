"""Read back what is in several images in ONE read-only appliance launch
(the verification side of the engine tests)."""
from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

from imagekit.guest import facts
from imagekit.guest.image import check_image
from imagekit.guest.session import Appliance, GuestOS


@dataclass(frozen=True)
class Entry:
    kind: str                 # file, dir, link, other
    mode: int
    uid: int
    gid: int
    data: bytes | None = None
    target: str | None = None

    @property
    def text(self) -> str:
        return (self.data or b"").decode(errors="replace")


@dataclass
class View:
    guest: GuestOS
    entries: dict[str, Entry | None] = field(default_factory=dict)
    agent: facts.Agent | None = None
    cloud_init: facts.CloudInit | None = None
    host_keys: tuple[facts.HostKey, ...] = ()
    users: dict[str, facts.Passwd] = field(default_factory=dict)

    def __getitem__(self, path: str) -> Entry | None:
        return self.entries[path]


def _entry(g, path: str) -> Entry | None:
    try:
        st = g.lstatns(path)
    except RuntimeError:
        return None
    m = st["st_mode"]
    if stat.S_ISLNK(m):
        return Entry("link", m & 0o7777, st["st_uid"], st["st_gid"], target=g.readlink(path))
    if stat.S_ISDIR(m):
        return Entry("dir", m & 0o7777, st["st_uid"], st["st_gid"])
    if stat.S_ISREG(m):
        return Entry("file", m & 0o7777, st["st_uid"], st["st_gid"],
                     data=facts.read_bytes(g, path, limit=1 << 26))
    return Entry("other", m & 0o7777, st["st_uid"], st["st_gid"])


def snapshot(images: dict[str, Path], paths: list[str]) -> dict[str, View]:
    """For each image: the entries at `paths` (globs expanded) and a few facts."""
    checked = {name: check_image(p) for name, p in images.items()}
    views: dict[str, View] = {}
    with Appliance() as app:
        drives = {name: app.add(c, readonly=True) for name, c in checked.items()}
        app.launch()
        g = app.g
        for name, drive in drives.items():
            guest = app.inspect(drive)
            app.mount(guest, readonly=True)
            view = View(guest)
            for p in paths:
                if any(ch in p for ch in "*?["):
                    for hit in sorted(g.glob_expand(p)):
                        view.entries[hit.rstrip("/")] = _entry(g, hit.rstrip("/"))
                else:
                    view.entries[p] = _entry(g, p)
            view.agent = facts.agent(g)
            view.cloud_init = facts.cloud_init(g, [])
            view.host_keys = tuple(facts.host_keys(g))
            view.users = facts.passwd(g)
            views[name] = view
            app.umount()
    return views
