"""The image file itself: a backing file, an external data file, truncation
or corruption are findings (Glance would store an unusable image), not
crashes, as long as qemu-img can read the header. Such an image is opened
in the appliance only when imagekit.guest.image.check_image accepts it
(a backing file inside the image's folder); otherwise its guest is not
checked and the finding says so. A path that is no disk image at all is
still an ImageError."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from imagekit.check.findings import Finding, found
from imagekit.errors import ImageError
from imagekit.guest.image import CheckedImage, check_image
from imagekit.tools import qemuimg
from imagekit.tools.qemuimg import ImageInfo


@dataclass(frozen=True)
class FileAssessment:
    path: Path
    info: ImageInfo
    checked: CheckedImage | None       # None: refused, the guest is not checked
    findings: tuple[Finding, ...]
    refused: str | None = None         # why check_image refused it


def _integrity(info: ImageInfo) -> list[Finding]:
    if info.format != "qcow2":
        return []
    if info.corrupt:
        return [found("image-corrupt", f"{info.path.name}: the qcow2 header marks the image "
                      "corrupt")]
    res = qemuimg.check(info.path, "qcow2")
    size = info.path.stat().st_size
    end = res.image_end_offset or 0
    if "exceeding the end of the file" in res.messages or end > size:
        return [found("image-truncated", f"{info.path.name}: the qcow2 file is truncated "
                      f"({size} bytes on disk, its clusters reach {end or 'further'})")]
    if res.corruptions or res.check_errors:
        return [found("image-corrupt", f"{info.path.name}: qemu-img check finds "
                      f"{res.corruptions} corruptions and {res.check_errors} check errors")]
    return []


def _layout(info: ImageInfo, opened: bool) -> list[Finding]:
    out = []
    tail = "" if opened else "; the image was not opened, its guest is not checked"
    if info.backing_file:
        out.append(found("image-backing-file", f"{info.path.name}: backing file "
                         f"{info.backing_file} (Glance would store only this overlay){tail}"))
    if info.data_file:
        out.append(found("image-data-file", f"{info.path.name}: external data file "
                         f"{info.data_file} (not part of the upload){tail}"))
    return out


def assess(path: os.PathLike | str) -> FileAssessment:
    """Check the file; raise ImageError only when it cannot be read as an image at all."""
    try:
        checked = check_image(path)
    except ImageError as exc:
        p = Path(path)
        if not p.is_file():
            raise
        try:
            info = qemuimg.info(p.resolve())
        except ImageError:
            raise exc from None
        # qemu-img check would open the backing or data file: not for a refused one
        findings = _layout(info, opened=False) or _integrity(info)
        if not findings:
            raise
        return FileAssessment(info.path, info, None, tuple(findings), refused=exc.message)
    return FileAssessment(checked.path, checked.info, checked, tuple(_layout(checked.info, True)))
