"""qemu-img, called through the `sh` package. The only module that runs it.

`info()` returns a typed `ImageInfo`; `create_overlay()`, `convert()`,
`commit()`, `rebase_unsafe()` and `check()` cover what the engine and the
tests need."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sh

from imagekit import ui
from imagekit.errors import ImageError, ToolError


def _qemu_img() -> sh.Command:
    try:
        return sh.Command("qemu-img")
    except sh.CommandNotFound:
        raise ToolError("required program 'qemu-img' is not installed",
                        "install qemu-utils (apt-get install qemu-utils), or run 'make setup'")


def _call(*args: str, what: str, path: Path | None = None, ok: tuple[int, ...] = (0,),
          merge_stderr: bool = False) -> str:
    ui.verbose("qemu-img " + " ".join(args), level=2)
    try:
        return str(_qemu_img()(*args, _ok_code=list(ok), _tty_out=False, _encoding="utf-8",
                                _decode_errors="replace", _err_to_out=merge_stderr))
    except sh.ErrorReturnCode as exc:
        stderr = exc.stderr.decode(errors="replace").strip()
        last = stderr.splitlines()[-1] if stderr else f"exit {exc.exit_code}"
        last = last.removeprefix("qemu-img: ")
        if path is not None:
            raise ImageError(f"{path}: {what} failed: {last}",
                             "check that the file is a complete disk image")
        raise ToolError(f"qemu-img {what} failed: {last}", argv=["qemu-img", *args],
                        returncode=exc.exit_code, stderr=stderr)


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    format: str
    virtual_size: int
    actual_size: int
    backing_file: str | None = None
    full_backing_file: str | None = None
    backing_format: str | None = None
    data_file: str | None = None
    corrupt: bool = False
    dirty: bool = False
    cluster_size: int | None = None
    compat: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def info(path: Path, fmt: str | None = None) -> ImageInfo:
    """`qemu-img info --output=json` (shared lock, backing files not opened)."""
    args = ["info", "--output=json", "-U"]
    if fmt:
        args += ["-f", fmt]
    data = json.loads(_call(*args, str(path), what="reading the image header", path=path))
    spec = (data.get("format-specific") or {}).get("data") or {}
    return ImageInfo(
        path=path,
        format=data["format"],
        virtual_size=int(data["virtual-size"]),
        actual_size=int(data.get("actual-size", 0)),
        backing_file=data.get("backing-filename"),
        full_backing_file=data.get("full-backing-filename"),
        backing_format=data.get("backing-filename-format"),
        data_file=spec.get("data-file"),
        corrupt=bool(spec.get("corrupt", False)),
        dirty=bool(data.get("dirty-flag", False)),
        cluster_size=data.get("cluster-size"),
        compat=spec.get("compat"),
        raw=data,
    )


@dataclass(frozen=True)
class CheckResult:
    corruptions: int
    leaks: int
    check_errors: int
    image_end_offset: int | None
    messages: str


def check(path: Path, fmt: str) -> CheckResult:
    """`qemu-img check` (metadata only; fast). Exit 2/3 are findings, not failures."""
    out = _call("check", "--output=json", "-U", "-f", fmt, str(path), what="checking the image",
                path=path, ok=(0, 2, 3), merge_stderr=True)
    start = out.find("{")
    data = json.loads(out[start:out.rfind("}") + 1]) if start >= 0 else {}
    return CheckResult(
        corruptions=int(data.get("corruptions", 0)),
        leaks=int(data.get("leaks", 0)),
        check_errors=int(data.get("check-errors", 0)),
        image_end_offset=data.get("image-end-offset"),
        messages=(out[:start] + out[out.rfind("}") + 1:]).strip() if start >= 0 else out.strip(),
    )


def create_overlay(overlay: Path, backing: Path, backing_format: str) -> None:
    """A qcow2 overlay whose backing file is `backing`, format given explicitly
    (never probed)."""
    _call("create", "-q", "-f", "qcow2", "-b", str(backing), "-F", backing_format, str(overlay),
          what="creating an overlay")


def create(path: Path, size: int | str, fmt: str = "qcow2") -> None:
    _call("create", "-q", "-f", fmt, str(path), str(size), what="creating an image")


def convert(src: Path, dst: Path, *, src_format: str, dst_format: str = "qcow2",
            compress: bool = False) -> None:
    args = ["convert", "-f", src_format, "-O", dst_format]
    if compress:
        args.append("-c")
    _call(*args, str(src), str(dst), what="converting the image")


def commit(overlay: Path, *, drop: bool = True) -> None:
    """Write the overlay's clusters into its backing file (`-d`: keep the overlay unchanged)."""
    args = ["commit", "-q"] + (["-d"] if drop else []) + [str(overlay)]
    _call(*args, what="committing the overlay")


def rebase_unsafe(image: Path, new_backing: Path, backing_format: str) -> None:
    """Point `image` at another backing file without copying data (`rebase -u`)."""
    _call("rebase", "-u", "-f", "qcow2", "-b", str(new_backing), "-F", backing_format,
          str(image), what="rebasing the overlay")


def resize(path: Path, size: str, fmt: str) -> None:
    _call("resize", "-q", "-f", fmt, str(path), size, what="resizing the image")


def version() -> str:
    first = _call("--version", what="version").splitlines()[0]
    return first.split("version", 1)[-1].strip().split()[0]
