"""diff PATH --against IMAGE2: a file or a tree of this image against the
same path in another image attached read-only to the same appliance (the
other guest is mounted in place of this one for a moment; no relaunch)."""
from __future__ import annotations

import argparse
import difflib
import hashlib
import stat
from dataclasses import dataclass

from rich.text import Text

from imagekit.shell import reader, tarstream
from imagekit.shell.errors import GuestPathError
from imagekit.shell.session import Attached, Session


@dataclass(frozen=True)
class Meta:
    """What is compared for each path of a tree."""
    kind: str
    mode: int
    uid: int
    gid: int
    size: int
    link: str
    digest: str

    def changes(self, new: Meta) -> list[str]:
        out = []
        if self.kind != new.kind:
            return [f"type {self.kind} -> {new.kind}"]
        if self.mode != new.mode:
            out.append(f"mode {self.mode:04o} -> {new.mode:04o}")
        if (self.uid, self.gid) != (new.uid, new.gid):
            out.append(f"owner {self.uid}:{self.gid} -> {new.uid}:{new.gid}")
        if self.link != new.link:
            out.append(f"target {self.link} -> {new.link}")
        if self.size != new.size:
            out.append(f"size {self.size} -> {new.size}")
        elif self.digest != new.digest:
            out.append("content")
        return out


KIND = {b"0": "file", b"5": "dir", b"2": "symlink", b"1": "hardlink", b"3": "chardev",
        b"4": "blockdev", b"6": "fifo"}


def _tree(s: Session, path: str) -> dict[str, Meta]:
    out = {}
    for m, data in tarstream.members(s.g, path, "diff"):
        digest = hashlib.sha256(data).hexdigest() if data is not None else f"size:{m.size}"
        out[m.name] = Meta(KIND.get(m.type, "other"), m.mode & 0o7777, m.uid, m.gid,
                           m.size if m.isfile() else 0, m.linkname, digest)
    return out


def _kind(s: Session, path: str) -> str | None:
    g = s.g
    if g.is_dir(path, followsymlinks=True):
        return "dir"
    if g.is_file(path, followsymlinks=True):
        return "file"
    if g.exists(path) or g.is_symlink(path):
        return "other"
    return None


def _side(s: Session, path: str) -> tuple[str | None, bytes | dict[str, Meta] | None]:
    kind = _kind(s, path)
    if kind == "file":
        return kind, reader.read_all(s.g, path)
    if kind == "dir":
        return kind, _tree(s, path)
    if kind == "other":
        st = s.g.lstatns(path)
        return kind, f"{stat.filemode(st['st_mode'])} -> {s.g.readlink(path)}".encode() \
            if stat.S_ISLNK(st["st_mode"]) else stat.filemode(st["st_mode"]).encode()
    return None, None


def diff(s: Session, a: argparse.Namespace) -> None:
    other: Attached = s.find_attached(a.against)
    path = s.resolve(a.path)
    mine_kind, mine = _side(s, path)
    with s.mounted(other):
        theirs_kind, theirs = _side(s, path)
    old_label, new_label = f"{other.image.path.name}:{path}", f"{s.image.path.name}:{path}"
    if mine_kind is None and theirs_kind is None:
        raise GuestPathError(f"diff: {path}: no such file or directory in either image")
    if mine_kind == "dir" and theirs_kind == "dir":
        _tree_diff(s, path, theirs, mine, old_label, new_label)  # type: ignore[arg-type]
        return
    if "dir" in (mine_kind, theirs_kind):
        s.out.line(f"{path}: a {theirs_kind or 'missing path'} in {other.image.path.name}, "
                   f"a {mine_kind or 'missing path'} here")
        return
    old = theirs if isinstance(theirs, bytes) else b""
    new = mine if isinstance(mine, bytes) else b""
    if old == new and theirs_kind == mine_kind:
        s.out.note(f"{path}: identical in {other.image.path.name} and {s.image.path.name}")
        return
    if reader.is_binary(old) or reader.is_binary(new):
        s.out.line(f"binary files {old_label} and {new_label} differ "
                   f"({len(old)} -> {len(new)} bytes)")
        return
    lines = difflib.unified_diff(old.decode(errors="replace").splitlines(keepends=True),
                                 new.decode(errors="replace").splitlines(keepends=True),
                                 fromfile=old_label if theirs_kind else "/dev/null",
                                 tofile=new_label if mine_kind else "/dev/null")
    for line in lines:
        line = line.rstrip("\n")
        style = ("bold" if line.startswith(("---", "+++")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else None)
        s.out.line(line, style=style)


def _tree_diff(s: Session, path: str, old: dict[str, Meta], new: dict[str, Meta],
               old_label: str, new_label: str) -> None:
    names = sorted(set(old) | set(new))
    counts = {"+": 0, "-": 0, "~": 0}
    inside: dict[str, int] = {}      # a folder only on one side: what it holds, not listed
    for name in names:
        shown = path.rstrip("/") + "/" + name
        top = next((d for d in inside if name.startswith(d + "/")), None)
        if top is not None:
            inside[top] += 1
            continue
        if name not in old or name not in new:
            mark = "+" if name not in old else "-"
            side = new if mark == "+" else old
            label = (new_label if mark == "+" else old_label).split(":", 1)[0]
            what = f"only in {label}"
            if side[name].kind == "dir":
                held = sum(1 for n in side if n.startswith(name + "/"))
                inside[name] = 0
                what += f", a folder with {held} entries" if held else ", an empty folder"
        else:
            changed = old[name].changes(new[name])
            if not changed:
                continue
            mark, what = "~", ", ".join(changed)
        counts[mark] += 1
        line = Text(f"{mark} ", style={"+": "green", "-": "red", "~": "yellow"}[mark])
        line.append(shown)
        line.append(f"  ({what})", style="dim")
        s.out.styled(line)
    total = sum(counts.values())
    s.out.note(f"{path}: {total} difference(s): {counts['+']} added, {counts['-']} removed, "
               f"{counts['~']} changed ({old_label.split(':', 1)[0]} -> {new_label.split(':', 1)[0]})")
