"""Output paths and the sparse copy (no appliance)."""
from __future__ import annotations

import os

import pytest

from imagekit.engine import output
from imagekit.errors import UsageError
from imagekit.guest.image import check_image


@pytest.fixture
def golden(tiny_images, tmp_path):
    d = tmp_path / "golden"
    d.mkdir()
    p = d / "golden.qcow2"
    p.write_bytes(tiny_images["single"].read_bytes())
    return check_image(p)


def test_output_paths(golden, tmp_path):
    assert output.check_output(golden, golden.path.parent / "out.qcow2", "thin").name == "out.qcow2"
    assert output.check_output(golden, None, "in-place") == golden.path
    assert output.check_output(golden, tmp_path / "x.qcow2", "thin")    # a folder above: fine
    for out, mode, needle in [
        (golden.path, "standalone", "the output is the source image"),
        (None, "standalone", "no output file given"),
        (tmp_path / "elsewhere" / "x.qcow2", "standalone", "no such folder"),
        (tmp_path, "standalone", "is a folder"),
        (tmp_path / "x.qcow2", "in-place", "do not give another -o"),
        (tmp_path / "x.qcow2", "sideways", "unknown output mode"),
    ]:
        with pytest.raises(UsageError, match=needle):
            output.check_output(golden, out, mode)
    (tmp_path / "other").mkdir()
    with pytest.raises(UsageError, match="--thin: the output must be in the folder"):
        output.check_output(golden, tmp_path / "other" / "x.qcow2", "thin")


def test_copy_sparse_keeps_holes_and_bytes(tmp_path):
    src = tmp_path / "sparse.raw"
    with open(src, "wb") as f:
        f.truncate(64 << 20)
        f.seek(1 << 20)
        f.write(os.urandom(4096))
        f.seek(40 << 20)
        f.write(b"end" * 1000)
    dst = tmp_path / "copy.raw"
    seen = []
    output.copy_sparse(src, dst, seen.append)
    assert dst.read_bytes() == src.read_bytes()
    assert dst.stat().st_blocks * 512 < 1 << 20          # still sparse
    assert sum(seen) < 1 << 20


def test_not_enough_space_is_a_clear_error(tmp_path):
    from imagekit.errors import ImageError
    with pytest.raises(ImageError, match="not enough free space"):
        output.need_space(tmp_path, 1 << 62, "a copy of x")
