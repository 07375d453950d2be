"""Safe opening: every bad input gives one `error:` line naming the file and
the reason, a non-zero exit, and leaves the file unchanged. None of these
launch the appliance: the checks run before it."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from imagekit.errors import ImageError
from imagekit.guest.image import check_image
from tests.util import fingerprint, run_cli


def qemu_img(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True, cwd=cwd)


def assert_refused(path: Path, *reason_words: str) -> None:
    before = fingerprint(path) if path.is_file() else None
    proc = run_cli("inspect", str(path))
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert path.name in lines[0], lines[0]
    for word in reason_words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    if before:
        assert fingerprint(path) == before


def test_missing_path(tmp_path):
    assert_refused(tmp_path / "nope.qcow2", "no such file")


def test_directory(tmp_path):
    d = tmp_path / "dir.qcow2"
    d.mkdir()
    assert_refused(d, "is a directory")


def test_text_file_is_not_a_disk_image(tmp_path):
    f = tmp_path / "notes.img"
    f.write_text("hello, I am not a disk\n" * 100)
    assert_refused(f, "not a disk image")


def test_empty_file(tmp_path):
    f = tmp_path / "empty.qcow2"
    f.touch()
    assert_refused(f, "empty file")


def test_truncated_qcow2(tmp_path, tiny_images):
    f = tmp_path / "trunc.qcow2"
    shutil.copyfile(tiny_images["single"], f)
    with open(f, "r+b") as fh:
        fh.truncate(f.stat().st_size // 3)
    assert_refused(f, "truncated")


def test_backing_file_pointing_at_etc_passwd(tmp_path):
    f = tmp_path / "evil.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", str(f), "1M")
    assert_refused(f, "backing file /etc/passwd", "outside")


def test_external_data_file_outside_folder(tmp_path):
    data_dir = tmp_path / "elsewhere"
    data_dir.mkdir()
    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    f = img_dir / "ext.qcow2"
    qemu_img("create", "-f", "qcow2", "-o", f"data_file={data_dir}/data.raw", str(f), "10M")
    assert_refused(f, "external data file", "outside")


def test_backing_file_without_explicit_format(tmp_path, tiny_images):
    base = tmp_path / "base.qcow2"
    shutil.copyfile(tiny_images["single"], base)
    f = tmp_path / "overlay.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", str(f))
    # qemu-img 7 refuses to write such an image, older ones did: drop the
    # backing-format header extension (magic 0xe2792aca) by hand.
    raw = bytearray(f.read_bytes())
    at = raw.find(b"\xe2\x79\x2a\xca", 0, 4096)
    assert at > 0
    raw[at:at + 4] = b"\x00\x00\x00\x00"
    f.write_bytes(bytes(raw))
    with pytest.raises(ImageError, match="no explicit format"):
        check_image(f)


def test_backing_file_in_the_same_folder_is_accepted(tmp_path, tiny_images):
    base = tmp_path / "golden.qcow2"
    shutil.copyfile(tiny_images["single"], base)
    f = tmp_path / "variant.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", "golden.qcow2", "-F", "qcow2", str(f))
    checked = check_image(f)
    assert checked.format == "qcow2"
    assert [b.path for b in checked.backing_chain] == [base.resolve()]


def test_raw_disk_image_is_accepted(tmp_path, tiny_images):
    raw = tmp_path / "disk.raw"
    qemu_img("convert", "-f", "qcow2", "-O", "raw", str(tiny_images["single"]), str(raw))
    assert check_image(raw).format == "raw"
