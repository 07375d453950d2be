"""File operations: write, upload, copy-in, mkdir, delete, chmod, chown, link."""
from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tarfile
import tempfile
from pathlib import Path

from imagekit.engine.ops.base import Prepared, executes
from imagekit.engine.ops.context import GuestContext, sha256
from imagekit.engine.plan import (
    Chmod,
    Chown,
    CopyIn,
    Delete,
    MakeDir,
    Symlink,
    UploadFile,
    WriteFile,
)
from imagekit.errors import GuestError, PlanError


@executes(WriteFile)
def write(op: WriteFile, ctx: GuestContext, prep: Prepared) -> None:
    uid, gid = ctx.ids(op.owner, op.group)
    ctx.put_file(op.path, op.content, mode=op.mode, uid=uid, gid=gid)


def _prepare_upload(op: UploadFile) -> Prepared:
    try:
        data = op.source.read_bytes()
    except OSError as exc:
        raise PlanError(f"upload {op.source}: cannot be read ({exc.strerror})")
    return Prepared({"file": sha256(data)}, data)


@executes(UploadFile, prepare=_prepare_upload)
def upload(op: UploadFile, ctx: GuestContext, prep: Prepared) -> None:
    dest = op.path
    node = ctx.resolve(dest, follow=True) if dest != "/" else None
    if dest == "/" or (node is not None and node.kind == "dir"):
        dest = f"{dest.rstrip('/')}/{op.source.name}"
    uid, gid = ctx.ids(op.owner, op.group)
    ctx.put_file(dest, prep.payload, mode=op.mode, uid=uid, gid=gid)


def _prepare_copy_in(op: CopyIn) -> Prepared:
    """A tar of the host tree, owned by root; its hash covers names, modes
    and contents (not times)."""
    src = op.source
    h = hashlib.sha256()
    buf = tempfile.TemporaryFile()
    dirs: list[str] = []
    count = 0
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add(path: Path, arc: str) -> None:
            nonlocal count
            ti = tar.gettarinfo(str(path), arc)
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            h.update(f"{arc}\0{ti.type!r}\0{ti.mode:o}\0{ti.linkname}\0".encode())
            if ti.isreg():
                data = path.read_bytes()
                h.update(hashlib.sha256(data).digest())
                tar.addfile(ti, io.BytesIO(data))
                count += 1
            else:
                if ti.isdir():
                    dirs.append(arc)
                tar.addfile(ti)
        add(src, src.name)
        if src.is_dir():
            for root, dnames, fnames in os.walk(src):
                dnames.sort()
                for name in sorted(dnames) + sorted(fnames):
                    p = Path(root) / name
                    add(p, str(p.relative_to(src.parent)))
    buf.seek(0)
    return Prepared({"tree": h.hexdigest()}, (buf, tuple(dirs), count))


@executes(CopyIn, prepare=_prepare_copy_in)
def copy_in(op: CopyIn, ctx: GuestContext, prep: Prepared) -> None:
    buf, dirs, count = prep.payload
    dest = ctx.resolve(op.dest, follow=True)
    if dest.kind is None:
        dest = ctx.ensure_dir(op.dest)
    if dest.kind != "dir":
        raise GuestError(f"copy-in {op.dest}: not a folder in the image")
    # tar follows links it finds on its way: check every folder it will enter
    for rel in dirs:
        node = ctx.resolve(f"{dest.path.rstrip('/')}/{rel}")
        if node.kind not in (None, "dir"):
            raise GuestError(f"copy-in: {node.path} exists in the image and is not a folder "
                             f"({node.kind}); refusing to extract through it",
                             f"delete it first (--delete {node.path})")
    top = f"{dest.path.rstrip('/')}/{op.source.name}"
    existed = ctx.resolve(top).kind is not None
    with tempfile.NamedTemporaryFile(prefix="imagekit-copyin-", suffix=".tar") as tf:
        buf.seek(0)
        while chunk := buf.read(1 << 20):
            tf.write(chunk)
        tf.flush()
        ctx.g.tar_in(tf.name, dest.path)
    ctx.record(top, "replaced" if existed else "created",
               f"{count} file(s) from {op.source}", prep.inputs.get("tree"))
    ctx.details["files"] = count


@executes(MakeDir)
def mkdir(op: MakeDir, ctx: GuestContext, prep: Prepared) -> None:
    uid, gid = ctx.ids(op.owner, op.group)
    before = len(ctx.changes)
    ctx.ensure_dir(op.path, mode=op.mode, uid=uid, gid=gid)
    if len(ctx.changes) == before:
        ctx.record(op.path, "unchanged", "folder exists")


@executes(Delete)
def delete(op: Delete, ctx: GuestContext, prep: Prepared) -> None:
    if not ctx.remove_glob(op.path):
        ctx.record(op.path, "skipped", "nothing matched")


@executes(Chmod)
def chmod(op: Chmod, ctx: GuestContext, prep: Prepared) -> None:
    ctx.set_mode(op.path, op.mode)


@executes(Chown)
def chown(op: Chown, ctx: GuestContext, prep: Prepared) -> None:
    uid, gid = ctx.ids(op.owner, op.group)
    ctx.set_owner(op.path, uid, gid)


@executes(Symlink)
def link(op: Symlink, ctx: GuestContext, prep: Prepared) -> None:
    ctx.make_link(op.target, posixpath.normpath(op.path))
