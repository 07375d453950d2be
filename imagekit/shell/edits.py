"""The write commands (a --write session): upload, edit, rm, mkdir, chmod,
save. Each change is one operation of the customization engine applied to
the overlay now (one timed line); `save OUT` writes the new image."""
from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from imagekit.engine import Chmod, CopyIn, Delete, MakeDir, UploadFile, WriteFile
from imagekit.engine.plan import Operation, parse_mode
from imagekit.errors import ImagekitError
from imagekit.shell import paths, reader
from imagekit.shell.control import Quit
from imagekit.shell.errors import GuestPathError, ShellUsageError
from imagekit.shell.session import Session

GLOB = set("*?[")


def _apply(s: Session, op: Operation) -> None:
    result = s.workspace.apply(op)
    s.changes.append(result.summary)
    s.forget_owners()              # /etc/passwd or /etc/group may have changed


def upload(s: Session, a: argparse.Namespace) -> None:
    src = Path(a.host).expanduser()
    if not src.exists():
        raise GuestPathError(f"{src}: no such file on this host")
    dest = s.resolve(a.guest)
    if src.is_dir():
        paths.require(s.g, dest, kind="dir")
        _apply(s, CopyIn(source=src.resolve(), dest=dest))
    else:
        _apply(s, UploadFile(source=src.resolve(), path=dest))


def _editor() -> list[str]:
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def edit(s: Session, a: argparse.Namespace) -> None:
    path = s.resolve(a.path)
    exists = s.g.exists(path)
    if exists:
        paths.require(s.g, path, kind="file")
    old = reader.read_all(s.g, path) if exists else b""
    with tempfile.TemporaryDirectory(prefix="imagekit-edit-") as tmp:
        host = Path(tmp) / (path.rsplit("/", 1)[-1] or "file")
        host.write_bytes(old)
        argv = _editor() + [str(host)]
        try:
            rc = subprocess.run(argv, check=False).returncode
        except FileNotFoundError:
            raise ShellUsageError(f"the editor {argv[0]} is not installed",
                                  "set EDITOR (or VISUAL) to an editor you have")
        if rc != 0:
            raise ShellUsageError(f"{argv[0]} exited with status {rc}; {path} was not changed")
        new = host.read_bytes()
    if new == old and exists:
        s.out.note(f"{path}: unchanged")
        return
    _apply(s, WriteFile(path=path, content=new))
    s.out.note(f"{path}: {len(new)} bytes written to the overlay "
               f"(sha256 {hashlib.sha256(new).hexdigest()[:12]})")


def rm(s: Session, a: argparse.Namespace) -> None:
    g = s.g
    for arg in a.paths:
        path = s.resolve(arg)
        if path == "/":
            raise ShellUsageError("rm /: refusing to delete the whole image")
        matches = g.glob_expand(path) if GLOB & set(path) else \
            ([path] if g.exists(path) or g.is_symlink(path) else [])
        if not matches:
            if a.force:
                continue
            raise GuestPathError(f"{arg}: no such file or directory")
        dirs = [m.rstrip("/") for m in matches if g.is_dir(m.rstrip("/"), followsymlinks=False)]
        if dirs and not a.recursive:
            raise GuestPathError(f"{dirs[0]}: is a directory", "rm -r removes a directory tree")
        _apply(s, Delete(path=path))


def mkdir(s: Session, a: argparse.Namespace) -> None:
    g = s.g
    for arg in a.paths:
        path = s.resolve(arg)
        if g.exists(path) or g.is_symlink(path):
            if a.parents and g.is_dir(path, followsymlinks=True):
                continue
            raise GuestPathError(f"{arg}: exists")
        parent = path.rsplit("/", 1)[0] or "/"
        if not a.parents and not g.is_dir(parent, followsymlinks=True):
            raise GuestPathError(f"{parent}: no such directory", "mkdir -p makes the parents too")
        _apply(s, MakeDir(path=path))


def chmod(s: Session, a: argparse.Namespace) -> None:
    mode = parse_mode(a.mode, "chmod")
    for arg in a.paths:
        path = s.resolve(arg)
        paths.require(s.g, path)
        _apply(s, Chmod(path=path, mode=mode))


def save(s: Session, a: argparse.Namespace) -> None:
    out = Path(a.out).expanduser()
    if out.exists() and not a.force:
        raise ShellUsageError(f"{out}: exists", "save OUT --force replaces it")
    if not s.changes:
        s.out.warn("no changes: the new image differs from the source only by its manifest")
    try:
        result = s.workspace.save(out)
    except ImagekitError:
        if s.workspace.app is None:     # the appliance is gone: no way on
            s.out.error("the session cannot go on after a failed save; nothing was written")
            raise Quit(force=True)
        raise
    count = len(s.changes)
    s.changes.clear()
    s.out.note(f"saved {result.output} ({count} change(s); manifest {result.manifest_path.name}); "
               f"{s.image.path.name} is unchanged. The appliance is closed: the session ends.")
    raise Quit(force=True)
