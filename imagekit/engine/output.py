"""Turning a finished overlay into the output file, atomically.

* standalone (default): a qcow2 that needs nothing else. For a qcow2 source
  without a backing file: copy the source, point the overlay at the copy,
  `qemu-img commit` (the source's compressed clusters stay compressed, only
  changed clusters are written); otherwise `qemu-img convert`.
* thin: the overlay itself, its backing file the golden image by a relative
  path inside the output's folder, backing format explicit.
* in-place: like standalone, in the source's own format, then renamed over
  the source.
Everything is written under a temporary name in the destination folder and
renamed when complete; a failure leaves no file behind."""
from __future__ import annotations

import errno
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from imagekit import ui
from imagekit.errors import ImageError, ToolError, UsageError
from imagekit.guest.image import CheckedImage
from imagekit.tools import qemuimg

MODES = ("standalone", "thin", "in-place")
MARGIN = 16 * 1024 * 1024


def temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.imagekit-{os.getpid()}.tmp")


def check_output(source: CheckedImage, output: Path | str | None, mode: str) -> Path:
    """The final output path for `mode`; UsageError when it cannot be right."""
    if mode not in MODES:
        raise UsageError(f"unknown output mode {mode!r}", f"use one of {', '.join(MODES)}")
    if mode == "in-place":
        if output is not None and Path(output).resolve() != source.path:
            raise UsageError("--in-place writes the image itself; do not give another -o")
        return source.path
    if output is None:
        raise UsageError("no output file given", "give -o OUT.qcow2 (or --in-place, or --dry-run)")
    final = Path(output).expanduser().resolve()
    if final == source.path or (final.exists() and final.samefile(source.path)):
        raise UsageError(f"{final}: the output is the source image",
                         "write elsewhere, or use --in-place to replace the source atomically")
    if any(final == Path(b.path).resolve() for b in source.backing_chain):
        raise UsageError(f"{final}: the output is a backing file of the source image")
    if final.is_dir():
        raise UsageError(f"{final}: is a folder", "give the output file name")
    if not final.parent.is_dir():
        raise UsageError(f"{final.parent}: no such folder for the output")
    if not os.access(final.parent, os.W_OK):
        raise UsageError(f"{final.parent}: not writable by this user")
    if mode == "thin":
        rel = os.path.relpath(source.path, final.parent)
        if rel.startswith(".."):
            raise UsageError(f"--thin: the output must be in the folder of the golden image "
                             f"({source.path.parent}) or a folder above it",
                             "imagekit refuses backing files outside an image's folder; put the "
                             "thin output next to its golden image")
    return final


def free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def need_space(folder: Path, need: int, what: str) -> None:
    have = free_bytes(folder)
    if have < need:
        raise ImageError(f"not enough free space in {folder} for {what}: {need // 2**20} MiB "
                         f"needed, {have // 2**20} MiB free",
                         "free some space, or write the output to another folder (-o)")


def precheck(source: CheckedImage, final: Path, mode: str) -> None:
    """Before any launch: room for the copy of the source that standalone and
    in-place outputs start from."""
    if mode == "thin":
        need_space(final.parent, MARGIN, "the overlay")
    else:
        need_space(final.parent, source.path.stat().st_blocks * 512 + MARGIN,
                   f"a copy of {source.path.name}")


def _nospace(exc: BaseException, final: Path) -> ImageError:
    return ImageError(f"no space left in {final.parent} while writing {final.name}; nothing was "
                      "written, the source is unchanged",
                      "free some space, or write the output to another folder (-o)")


def _is_nospace(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return isinstance(exc, (ToolError, ImageError)) and "No space left" in str(exc) + \
        getattr(exc, "stderr", "")


class Cancelled(Exception):
    pass


def copy_sparse(src: Path, dst: Path, advance: Callable[[int], None] | None = None,
                cancel: threading.Event | None = None) -> None:
    """Copy only the data extents of src (holes stay holes), in the kernel."""
    size = src.stat().st_size
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        ifd, ofd = fi.fileno(), fo.fileno()
        off = 0
        while off < size:
            try:
                data = os.lseek(ifd, off, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:      # only a hole is left
                    break
                raise
            hole = os.lseek(ifd, data, os.SEEK_HOLE)
            pos = data
            while pos < hole:
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                n = min(hole - pos, 64 << 20)
                try:
                    done = os.copy_file_range(ifd, ofd, n, pos, pos)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL):
                        raise
                    os.lseek(ifd, pos, os.SEEK_SET)
                    os.lseek(ofd, pos, os.SEEK_SET)
                    done = os.write(ofd, os.read(ifd, min(n, 8 << 20)))
                if done <= 0:
                    raise OSError(errno.EIO, f"short copy of {src}")
                pos += done
                if advance:
                    advance(done)
            off = hole
        os.ftruncate(ofd, size)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        _fsync(folder)
    except OSError:
        pass


def copy_commit_ok(source: CheckedImage, mode: str) -> bool:
    """Whether the output can be a copy of the source with the overlay
    committed into it (keeps the source's clusters, compressed ones too; in
    place, also its own backing file, valid in the same folder)."""
    if mode == "thin" or source.info.data_file:
        return False
    fmt = "qcow2" if mode == "standalone" else source.format
    return source.format == fmt and (mode == "in-place" or not source.info.backing_file)


class BackgroundCopy:
    """The copy of the source that a copy+commit output starts from, made in
    a thread while the appliance starts and the operations run (the copy is
    disk-bound, the appliance CPU-bound). `result()` waits for it."""

    def __init__(self, source: CheckedImage, final: Path, mode: str) -> None:
        self.source, self.final, self.mode = source, final, mode
        self.tmp = temp_name(final)
        self._cancel = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="imagekit-output-copy")
        self._thread.start()

    def _run(self) -> None:
        try:
            copy_sparse(self.source.path, self.tmp, cancel=self._cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc

    def result(self) -> Path:
        self._thread.join()
        if self._error is not None:
            self.tmp.unlink(missing_ok=True)
            if _is_nospace(self._error):
                raise _nospace(self._error, self.final)
            raise self._error
        return self.tmp

    def discard(self) -> None:
        self._cancel.set()
        self._thread.join()
        self.tmp.unlink(missing_ok=True)


def materialize(overlay: Path, source: CheckedImage, final: Path, mode: str,
                copied: BackgroundCopy | None = None) -> Path:
    """Write the output under a temporary name next to `final`; return that
    temporary path (the caller renames it). `copied`: the source's copy,
    already started in the background."""
    tmp = temp_name(final)
    try:
        if mode == "thin":
            try:
                os.replace(overlay, tmp)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                shutil.copyfile(overlay, tmp)
            rel = Path(os.path.relpath(source.path, final.parent))
            qemuimg.rebase_unsafe(tmp, rel, source.format)
            how = "overlay"
        else:
            fmt = "qcow2" if mode == "standalone" else source.format
            if copy_commit_ok(source, mode):
                if copied is not None and copied.tmp == tmp:
                    copied.result()
                else:
                    need_space(final.parent, source.path.stat().st_blocks * 512 + MARGIN,
                               f"a copy of {source.path.name}")
                    total = source.path.stat().st_blocks * 512
                    with ui.byte_progress(f"copying {source.path.name}", total) as advance:
                        copy_sparse(source.path, tmp, advance)
                qemuimg.rebase_unsafe(overlay, tmp, fmt)
                qemuimg.commit(overlay, drop=True)
                how = "copy+commit"
            else:
                qemuimg.convert(overlay, tmp, src_format="qcow2", dst_format=fmt)
                how = "convert"
        _fsync(tmp)
        ui.verbose(f"output written by {how}: {tmp}")
        return tmp
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if _is_nospace(exc):
            raise _nospace(exc, final)
        raise


def write_text_atomic(path: Path, data: bytes) -> None:
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if _is_nospace(exc):
            raise _nospace(exc, path)
        raise
