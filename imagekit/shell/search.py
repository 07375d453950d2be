"""find and grep over guest trees, with the fewest appliance round trips:
`find` lists a whole tree with one find0 call (types, when asked for, come
from one readdir per directory); `grep` reads one file with pread and a
whole tree with one tar_out stream."""
from __future__ import annotations

import argparse
import fnmatch
import re
import tempfile

from rich.text import Text

from imagekit.shell import paths, reader, tarstream
from imagekit.shell.errors import GuestPathError, ShellUsageError, from_guestfs
from imagekit.shell.session import Session

TYPES = {"f": "r", "d": "d", "l": "l"}


# -- find ---------------------------------------------------------------------
def _find0(s: Session, top: str) -> list[str]:
    with tempfile.NamedTemporaryFile(prefix="imagekit-find-") as tf:
        try:
            s.g.find0(top, tf.name)
        except RuntimeError as exc:
            raise from_guestfs("find", exc)
        names = open(tf.name, "rb").read().split(b"\0")
    return sorted(paths.join(top, n.decode(errors="replace").lstrip("/")) for n in names if n)


def find(s: Session, a: argparse.Namespace) -> None:
    top = s.resolve(a.path or ".")
    paths.require(s.g, top, kind="dir")
    if a.type and a.type not in TYPES:
        raise ShellUsageError(f"-type {a.type}: use f (file), d (directory) or l (symlink)")
    pattern = a.name or a.iname

    def wanted(path: str) -> bool:
        if pattern is None:
            return True
        base = path.rsplit("/", 1)[-1]
        return (fnmatch.fnmatchcase(base, a.name) if a.name
                else fnmatch.fnmatchcase(base.lower(), a.iname.lower()))

    shown = a.path or "."
    def label(path: str) -> str:
        rel = path[len(top):].lstrip("/")
        return shown if not rel else (paths.join(shown, rel) if shown != "/" else "/" + rel)

    if a.type or a.maxdepth is not None:
        if (a.maxdepth is None or a.maxdepth >= 0) and (not a.type or a.type == "d") and wanted(top):
            s.out.line(label(top))
        if a.maxdepth == 0:
            return
        for path, e, _ in paths.walk(s.g, top, max_depth=a.maxdepth):
            if (not a.type or e.kind == TYPES[a.type]) and wanted(path):
                s.out.line(label(path))
        return
    if wanted(top):
        s.out.line(label(top))
    for path in _find0(s, top):
        if wanted(path):
            s.out.line(label(path))


# -- grep ---------------------------------------------------------------------
def _regex(a: argparse.Namespace) -> re.Pattern[bytes]:
    pat = re.escape(a.pattern) if a.fixed else a.pattern
    try:
        return re.compile(pat.encode(), re.IGNORECASE if a.ignore_case else 0)
    except re.error as exc:
        raise ShellUsageError(f"grep: bad regular expression {a.pattern!r}: {exc}",
                              "patterns are Python regular expressions; -F matches a fixed string")


def _scan(s: Session, a: argparse.Namespace, rx: re.Pattern[bytes], name: str, prefix: bool,
          data: bytes) -> int:
    """Print the matching lines of one file; returns how many matched."""
    hits = 0
    binary = reader.is_binary(data)
    for n, line in enumerate(data.split(b"\n"), 1):
        m = rx.search(line)
        if bool(m) == a.invert:
            continue
        hits += 1
        if a.list or binary:
            break
        out = Text()
        if prefix:
            out.append(name, style="magenta")
            out.append(":")
        if a.number:
            out.append(str(n), style="green")
            out.append(":")
        text = line.decode(errors="replace")
        start = len(out)
        out.append(text)
        if m and not a.invert:
            for mm in rx.finditer(line):
                a0 = len(line[:mm.start()].decode(errors="replace"))
                a1 = len(line[:mm.end()].decode(errors="replace"))
                out.stylize("bold red", start + a0, start + a1)
        s.out.styled(out)
    if hits and (a.list or binary):
        s.out.line(name if a.list else f"binary file {name} matches",
                   style="magenta" if a.list else None)
    return hits


def grep(s: Session, a: argparse.Namespace) -> None:
    rx = _regex(a)
    many = a.recursive or len(a.paths) > 1
    for arg in a.paths:
        path = s.resolve(arg)
        paths.require(s.g, path)
        if s.g.is_dir(path, followsymlinks=True):
            if not a.recursive:
                raise GuestPathError(f"grep: {arg}: is a directory", "use grep -r to search a tree")
            for m, data in tarstream.members(s.g, path, "grep"):
                if data is not None:
                    _scan(s, a, rx, paths.join(arg, m.name) if arg != "/" else "/" + m.name, True, data)
            continue
        _scan(s, a, rx, arg, many, reader.read_all(s.g, path))
