"""The file commands: ls, cd, pwd, cat, less, head, tail, stat, tree, df,
du, file, download. Daemon-served calls (readdir, lstatnslist, pread,
statvfs) except `file` and `du`, which run a program in the appliance."""
from __future__ import annotations

import argparse
import os
import stat
import time
from pathlib import Path

from rich.columns import Columns
from rich.text import Text

from imagekit.report import _size as human
from imagekit.shell import paths, reader
from imagekit.shell.errors import GuestPathError, ShellUsageError, from_guestfs
from imagekit.shell.paths import Entry
from imagekit.shell.session import Session

STYLE = {"d": "bold blue", "l": "cyan", "b": "yellow", "c": "yellow", "f": "yellow", "s": "magenta"}
BATCH = 500   # names per lstatnslist/readlinklist call


def _style(kind: str, mode: int = 0) -> str | None:
    if kind == "r" and mode & 0o111:
        return "bold green"
    return STYLE.get(kind)


def _kind(mode: int) -> str:
    for letter, bits in paths.FTYP.items():
        if stat.S_IFMT(mode) == bits:
            return letter
    return "u"


# -- navigation -------------------------------------------------------------------
def pwd(s: Session, a: argparse.Namespace) -> None:
    s.out.line(s.cwd)


def cd(s: Session, a: argparse.Namespace) -> None:
    path = s.resolve(a.path or "/")
    paths.require(s.g, path, kind="dir")
    s.cwd = path


# -- ls ---------------------------------------------------------------------------
def _stats(s: Session, folder: str, names: list[str]) -> list[dict]:
    out: list[dict] = []
    for i in range(0, len(names), BATCH):
        out += s.g.lstatnslist(folder, names[i:i + BATCH])
    return out


def _targets(s: Session, folder: str, names: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(names), BATCH):
        part = names[i:i + BATCH]
        out.update(zip(part, s.g.readlinklist(folder, part), strict=False))
    return out


def _long_rows(s: Session, folder: str, names: list[str], shown: list[str]) -> list[list]:
    users, groups = s.owners()
    sts = _stats(s, folder, names)
    links = _targets(s, folder, [n for n, st in zip(names, sts, strict=False)
                                 if stat.S_ISLNK(st["st_mode"])])
    now = time.time()
    rows = []
    for name, label, st in zip(names, shown, sts, strict=False):
        mode = st["st_mode"]
        mtime = st["st_mtime_sec"]
        fmt = "%b %d %H:%M" if abs(now - mtime) < 180 * 86400 else "%b %d  %Y"
        kind = _kind(mode)
        text = Text(label, style=_style(kind, mode) or "")
        if kind == "l":
            text.append(" -> " + links.get(name, "?"))
        size = (f"{os.major(st['st_rdev'])}, {os.minor(st['st_rdev'])}" if kind in "bc"
                else str(st["st_size"]))
        rows.append([stat.filemode(mode), str(st["st_nlink"]),
                     users.get(st["st_uid"], str(st["st_uid"])),
                     groups.get(st["st_gid"], str(st["st_gid"])), size,
                     time.strftime(fmt, time.gmtime(mtime)), text])
    return rows


def ls(s: Session, a: argparse.Namespace) -> None:
    g = s.g
    args = a.paths or ["."]
    for n, arg in enumerate(args):
        path = s.resolve(arg)
        paths.require(g, path)
        # like GNU ls: with -l a symlink argument is shown itself (add / to list its target)
        as_entry = a.directory or (a.long and not arg.endswith("/") and g.is_symlink(path))
        if as_entry or not g.is_dir(path, followsymlinks=True):
            folder, name = path.rsplit("/", 1) if path != "/" else ("/", "")
            if a.long:
                rows = (_long_rows(s, folder or "/", [name], [arg]) if name
                        else _long_rows(s, "/", ["."], [arg]))
                s.out.grid(rows, right=(1, 4))
            else:
                s.out.line(arg)
            continue
        if len(args) > 1:
            if n:
                s.out.line()
            s.out.line(f"{arg}:")
        found = paths.entries(g, path)
        if not a.all:
            found = [e for e in found if not e.name.startswith(".")]
        if a.long:
            names = [e.name for e in found]
            if a.all:
                names = [".", "..", *names]
            s.out.grid(_long_rows(s, path, names, names), right=(1, 4))
        else:
            _short(s, found, a.all)


def _short(s: Session, found: list[Entry], all_: bool) -> None:
    names = [Entry(".", "d"), Entry("..", "d"), *found] if all_ else found
    if s.out.rich:
        s.out.console.print(Columns([Text(e.name, style=_style(e.kind) or "") for e in names],
                                    padding=(0, 2)))
    else:
        for e in names:
            s.out.line(e.name)


# -- content ----------------------------------------------------------------------
def _refuse_binary(s: Session, arg: str, data: bytes) -> None:
    """Binary bytes would wreck a terminal; into a pipe they go as they are."""
    if s.out.rich and reader.is_binary(data):
        raise GuestPathError(f"{arg}: binary file ({len(data)} bytes), not shown",
                             f"'file {arg}' says what it is; 'download {arg} HOSTPATH' copies it")


def _content(s: Session, arg: str, data: bytes) -> None:
    _refuse_binary(s, arg, data)
    s.out.file(s.resolve(arg), data)


def cat(s: Session, a: argparse.Namespace) -> None:
    for arg in a.paths:
        _content(s, arg, reader.read_all(s.g, s.resolve(arg)))


def less(s: Session, a: argparse.Namespace) -> None:
    path = s.resolve(a.path)
    data = reader.read_all(s.g, path)
    _refuse_binary(s, a.path, data)
    s.out.page(path, data)


def head(s: Session, a: argparse.Namespace) -> None:
    _check_count(a.lines)
    for arg in a.paths:
        _content(s, arg, reader.head(s.g, s.resolve(arg), a.lines))


def tail(s: Session, a: argparse.Namespace) -> None:
    _check_count(a.lines)
    for arg in a.paths:
        _content(s, arg, reader.tail(s.g, s.resolve(arg), a.lines))


def _check_count(n: int) -> None:
    if n < 0:
        raise ShellUsageError(f"-n {n}: the number of lines cannot be negative")


# -- metadata ---------------------------------------------------------------------
def stat_(s: Session, a: argparse.Namespace) -> None:
    users, groups = s.owners()
    for n, arg in enumerate(a.paths):
        path = s.resolve(arg)
        try:
            st = s.g.lstatns(path)
        except RuntimeError as exc:
            raise from_guestfs("stat", exc)
        mode = st["st_mode"]
        kind = {"d": "directory", "r": "regular file", "l": "symbolic link", "b": "block device",
                "c": "character device", "f": "fifo", "s": "socket"}.get(_kind(mode), "unknown")
        name = path
        if stat.S_ISLNK(mode):
            name += " -> " + s.g.readlink(path)

        def when(sec: int, nsec: int) -> str:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec)) + f".{nsec:09d} UTC"
        rows = [
            ("file", name), ("type", kind),
            ("size", f"{st['st_size']} ({human(st['st_size'])})"),
            ("blocks", f"{st['st_blocks']} (of 512 bytes), io block {st['st_blksize']}"),
            ("mode", f"{stat.S_IMODE(mode):04o} ({stat.filemode(mode)})"),
            ("owner", f"{users.get(st['st_uid'], '?')} ({st['st_uid']})"),
            ("group", f"{groups.get(st['st_gid'], '?')} ({st['st_gid']})"),
            ("inode", f"{st['st_ino']}, {st['st_nlink']} link(s)"),
            ("modified", when(st["st_mtime_sec"], st["st_mtime_nsec"])),
            ("changed", when(st["st_ctime_sec"], st["st_ctime_nsec"])),
            ("accessed", when(st["st_atime_sec"], st["st_atime_nsec"])),
        ]
        if n:
            s.out.line()
        s.out.pairs(rows)


def file(s: Session, a: argparse.Namespace) -> None:
    for arg in a.paths:
        path = s.resolve(arg)
        paths.require(s.g, path)
        try:
            what = s.g.file(path)
        except RuntimeError as exc:
            raise from_guestfs("file", exc)
        s.out.line(f"{arg}: {what}")


# -- tree -------------------------------------------------------------------------
def tree(s: Session, a: argparse.Namespace) -> None:
    top = s.resolve(a.path or ".")
    paths.require(s.g, top, kind="dir")
    if a.level is not None and a.level < 1:
        raise ShellUsageError("-L: the depth must be 1 or more")
    counts = {"dirs": 0, "files": 0}
    s.out.line(a.path or ".", style="bold blue")

    def visit(folder: str, prefix: str, depth: int) -> None:
        found = paths.entries(s.g, folder)
        if not a.all:
            found = [e for e in found if not e.name.startswith(".")]
        links = _targets(s, folder, [e.name for e in found if e.kind == "l"])
        for i, e in enumerate(found):
            last = i == len(found) - 1
            line = Text(prefix + ("└── " if last else "├── "))
            line.append(e.name, style=_style(e.kind) or "")
            path = paths.join(folder, e.name)
            if e.kind == "l":
                line.append(" -> " + links.get(e.name, "?"))
            s.out.styled(line)
            counts["dirs" if e.is_dir else "files"] += 1
            if e.is_dir and (a.level is None or depth < a.level):
                visit(path, prefix + ("    " if last else "│   "), depth + 1)
    visit(top, "", 1)
    s.out.line()
    s.out.line(f"{counts['dirs']} directories, {counts['files']} files")


# -- space ------------------------------------------------------------------------
def df(s: Session, a: argparse.Namespace) -> None:
    rows = []
    for mp, dev in s.guest.mountpoints:
        try:
            st = s.g.statvfs(mp)
        except RuntimeError:
            continue
        size = st["blocks"] * st["frsize"]
        used = (st["blocks"] - st["bfree"]) * st["frsize"]
        avail = st["bavail"] * st["frsize"]
        pct = f"{100 * used / (used + avail):.0f}%" if used + avail else "-"
        inodes = f"{st['files'] - st['ffree']}/{st['files']}"
        rows.append([dev, human(size), human(used), human(avail), pct, inodes, mp])
    s.out.table(["filesystem", "size", "used", "free", "use", "inodes", "mounted on"], rows)


def du(s: Session, a: argparse.Namespace) -> None:
    rows = []
    for arg in a.paths or ["."]:
        path = s.resolve(arg)
        paths.require(s.g, path)
        targets = [(arg, path)]
        if a.children and s.g.is_dir(path, followsymlinks=False):
            targets = [(paths.join(arg, e.name) if arg != "." else e.name, paths.join(path, e.name))
                       for e in paths.entries(s.g, path)]
        for label, p in targets:
            try:
                kib = s.g.du(p)
            except RuntimeError as exc:
                raise from_guestfs("du", exc)
            rows.append((kib, label))
    if a.children:
        rows.sort(reverse=True)
    s.out.grid([[human(kib * 1024), label] for kib, label in rows], right=(0,))


# -- to the host ------------------------------------------------------------------
def download(s: Session, a: argparse.Namespace) -> None:
    src = s.resolve(a.guest)
    paths.require(s.g, src)
    dest = Path(a.host).expanduser()
    try:
        if s.g.is_dir(src, followsymlinks=True):
            if not dest.is_dir():
                raise GuestPathError(f"{src} is a directory: {dest} must be an existing host "
                                     "directory", f"mkdir -p {dest} on the host first")
            s.g.copy_out(src, str(dest))
            s.out.note(f"copied {src} into {dest}/")
            return
        if dest.is_dir():
            dest = dest / src.rsplit("/", 1)[-1]
        if not dest.parent.is_dir():
            raise GuestPathError(f"{dest.parent}: no such host directory")
        s.g.download(src, str(dest))
    except RuntimeError as exc:
        raise from_guestfs("download", exc)
    s.out.note(f"downloaded {src} to {dest} ({human(dest.stat().st_size)})")
