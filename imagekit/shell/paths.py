"""Guest paths: the working directory, resolving what the operator typed,
completing guest paths, walking a tree. Every call here is served by the
libguestfs daemon itself (readdir, lstatns, is_dir: a few ms each)."""
from __future__ import annotations

import glob
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from imagekit.shell.errors import GuestPathError

# readdir's file type letters -> stat's type bits
FTYP = {"d": stat.S_IFDIR, "r": stat.S_IFREG, "l": stat.S_IFLNK, "b": stat.S_IFBLK,
        "c": stat.S_IFCHR, "f": stat.S_IFIFO, "s": stat.S_IFSOCK}


def resolve(cwd: str, arg: str) -> str:
    """An absolute, normalized guest path (lexical, like a shell's cd: `..`
    after a symlink goes back to where you came from)."""
    path = posixpath.normpath(posixpath.join(cwd, arg))
    return "/" + path.lstrip("/")


def join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


@dataclass(frozen=True)
class Entry:
    """One directory entry, from readdir (no extra call per entry)."""
    name: str
    kind: str     # readdir's letter: d r l b c f s u

    @property
    def is_dir(self) -> bool:
        return self.kind == "d"


def entries(g: Any, folder: str) -> list[Entry]:
    """A directory's entries without . and .., sorted by name."""
    try:
        found = g.readdir(folder)
    except RuntimeError as exc:
        raise GuestPathError(_reason(folder, exc))
    return sorted((Entry(e["name"], e["ftyp"]) for e in found if e["name"] not in (".", "..")),
                  key=lambda e: e.name)


def _reason(path: str, exc: RuntimeError) -> str:
    text = str(exc)
    for why in ("No such file or directory", "Not a directory", "Permission denied"):
        if why in text:
            return f"{path}: {why.lower()}"
    return f"{path}: {text}"


def require(g: Any, path: str, *, kind: str | None = None) -> None:
    """Raise a one-line error unless `path` exists (and is a dir / a file,
    following symlinks)."""
    if kind == "dir":
        if g.is_dir(path, followsymlinks=True):
            return
        why = "not a directory" if g.exists(path) else "no such file or directory"
    elif kind == "file":
        if g.is_file(path, followsymlinks=True):
            return
        if g.is_dir(path, followsymlinks=True):
            why = "is a directory"
        elif g.exists(path):
            why = "not a regular file"
        else:
            why = "no such file or directory"
    else:
        if g.exists(path) or g.is_symlink(path):
            return
        why = "no such file or directory"
    raise GuestPathError(f"{path}: {why}")


def walk(g: Any, top: str, *, max_depth: int | None = None,
         hidden: bool = True) -> Iterator[tuple[str, Entry, int]]:
    """(path, entry, depth) for everything below `top`, depth-first, sorted;
    one readdir per directory. Symlinks are not followed."""
    def visit(folder: str, depth: int) -> Iterator[tuple[str, Entry, int]]:
        for e in entries(g, folder):
            if not hidden and e.name.startswith("."):
                continue
            path = join(folder, e.name)
            yield path, e, depth
            if e.is_dir and (max_depth is None or depth < max_depth):
                try:
                    yield from visit(path, depth + 1)
                except GuestPathError:
                    continue
    yield from visit(top, 1)


# -- completion -----------------------------------------------------------------
def complete_guest(g: Any, cwd: str, text: str) -> list[str]:
    """Completions of a partly typed guest path; directories end in '/'."""
    folder_part, _, prefix = text.rpartition("/")
    if "/" in text:
        folder = resolve(cwd, folder_part or "/")
        shown = folder_part + "/"
    else:
        folder, shown = cwd, ""
    try:
        found = entries(g, folder)
    except GuestPathError:
        return []
    out = []
    for e in found:
        if not e.name.startswith(prefix) or (e.name.startswith(".") and not prefix.startswith(".")):
            continue
        is_dir = e.is_dir or (e.kind == "l" and _is_dir(g, join(folder, e.name)))
        out.append(shown + e.name + ("/" if is_dir else ""))
    return out


def _is_dir(g: Any, path: str) -> bool:
    try:
        return bool(g.is_dir(path, followsymlinks=True))
    except RuntimeError:
        return False


def complete_host(text: str) -> list[str]:
    """Completions of a partly typed host path; directories end in '/'."""
    expanded = os.path.expanduser(text)
    out = []
    for p in sorted(glob.glob(glob.escape(expanded) + "*")):
        shown = text + p[len(expanded):]
        out.append(shown + ("/" if os.path.isdir(p) else ""))
    return out
