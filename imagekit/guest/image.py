"""Safe opening of a disk image file, before libguestfs ever sees it.

The format comes from `qemu-img info`; the image is then always opened with
that explicit format. Refused: missing paths, directories, files that are not
disk images, truncated or corrupt qcow2 files, and images whose backing file
or external data file lies outside the image's own folder (that is how host
files such as /etc/passwd leak into an image)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from imagekit.errors import ImageError
from imagekit.tools import qemuimg
from imagekit.tools.qemuimg import ImageInfo

# Formats imagekit opens. Others (vmdk, vdi...) can be converted with qemu-img first.
SUPPORTED_FORMATS = ("qcow2", "raw")


@dataclass(frozen=True)
class CheckedImage:
    """An image file that passed every check; `format` is to be passed
    explicitly to libguestfs and qemu-img from now on."""
    path: Path
    info: ImageInfo
    backing_chain: tuple[ImageInfo, ...] = ()

    @property
    def format(self) -> str:
        return self.info.format

    def identity(self) -> tuple[str, int, int, int]:
        """(path, size, mtime_ns, inode): changes whenever the file does."""
        st = self.path.stat()
        return (str(self.path), st.st_size, st.st_mtime_ns, st.st_ino)


# Magic numbers that make a raw file plausibly a disk image.
def _looks_like_disk(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(70 * 1024)
    def at(off: int, magic: bytes) -> bool:
        return head[off:off + len(magic)] == magic
    return any((
        at(510, b"\x55\xaa"),              # MBR / protective MBR
        at(512, b"EFI PART"),              # GPT
        at(1080, b"\x53\xef"),             # ext2/3/4 superblock
        at(0, b"XFSB"),                    # xfs
        at(0x10040, b"_BHRfS_M"),          # btrfs
        at(512 + 24, b"LVM2 001") or at(512, b"LABELONE"),  # LVM PV
        at(0x8001, b"CD001"),              # iso9660
        at(0, b"\x00\x00\x00\x00") and at(0x438, b"\x53\xef"),
    ))


def _inside(child: Path, folder: Path) -> bool:
    try:
        child.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_image(path: os.PathLike | str, *, verify: bool = True) -> CheckedImage:
    """Run every check; raise ImageError naming the file and the reason.
    `verify` also runs `qemu-img check` on qcow2 (catches truncation)."""
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        raise ImageError(f"{p}: no such file", "check the path of the image")
    if p.is_symlink() and not p.exists():
        raise ImageError(f"{p}: dangling symbolic link", "point it at an existing image")
    if p.is_dir():
        raise ImageError(f"{p}: is a directory, not a disk image", "give the path of a .qcow2 or raw file")
    p = p.resolve()
    if not (p.is_file() or p.is_block_device()):
        raise ImageError(f"{p}: not a regular file", "give the path of a .qcow2 or raw file")
    if not os.access(p, os.R_OK):
        raise ImageError(f"{p}: permission denied", "make the file readable by this user")
    if p.is_file() and p.stat().st_size == 0:
        raise ImageError(f"{p}: empty file, not a disk image", "give the path of a .qcow2 or raw file")
    info = qemuimg.info(p)
    if info.format not in SUPPORTED_FORMATS:
        raise ImageError(f"{p}: {info.format} images are not supported",
                         f"convert it first: qemu-img convert -O qcow2 {p.name} {p.stem}.qcow2")
    if info.format == "raw" and not _looks_like_disk(p):
        raise ImageError(f"{p}: not a disk image (no partition table or filesystem found)",
                         "give the path of a .qcow2 or raw disk image")
    folder = p.parent
    if info.data_file:
        data = Path(info.data_file) if os.path.isabs(info.data_file) else folder / info.data_file
        if not _inside(data, folder):
            raise ImageError(f"{p}: its external data file {info.data_file} lies outside the "
                             "image's folder; refusing to open it (a host file would be read "
                             "or written as guest data)",
                             "convert it into a self-contained image with qemu-img convert, "
                             "after checking the data file is what you expect")
    chain: list[ImageInfo] = []
    cur = info
    seen = {p}
    while cur.backing_file:
        full = Path(cur.full_backing_file or cur.backing_file)
        if not full.is_absolute():
            full = cur.path.parent / full
        if not _inside(full, folder):
            raise ImageError(f"{p}: its backing file {cur.backing_file} lies outside the image's "
                             "folder; refusing to open it (host files leak into images this way)",
                             "rebase or convert the image so that it stands alone "
                             "(qemu-img convert -O qcow2 IN OUT)")
        if not cur.backing_format:
            raise ImageError(f"{p}: its backing file {cur.backing_file} has no explicit format; "
                             "imagekit never lets qemu guess one",
                             f"set it: qemu-img rebase -u -F qcow2 -b {cur.backing_file} {cur.path.name}")
        full = full.resolve()
        if full in seen:
            raise ImageError(f"{p}: its backing chain loops through {full}", "convert the image")
        if not full.exists():
            raise ImageError(f"{p}: its backing file {cur.backing_file} does not exist",
                             "restore the golden image it was made from, or use a standalone copy")
        seen.add(full)
        cur = qemuimg.info(full, cur.backing_format)
        chain.append(cur)
    if info.format == "qcow2":
        if info.corrupt:
            raise ImageError(f"{p}: the qcow2 header marks the image corrupt",
                             "repair a copy with qemu-img check -r all, or rebuild the image")
        if verify:
            res = qemuimg.check(p, "qcow2")
            size = p.stat().st_size
            if res.corruptions or res.check_errors or (res.image_end_offset and
                                                        res.image_end_offset > size + 65536):
                what = ("truncated" if "exceeding the end of the file" in res.messages
                        or (res.image_end_offset or 0) > size else "corrupt")
                raise ImageError(f"{p}: the qcow2 file is {what} ({res.corruptions} corruptions, "
                                 f"{res.check_errors} check errors)",
                                 "copy the image again (compare its checksum) or rebuild it")
    return CheckedImage(path=p, info=info, backing_chain=tuple(chain))
