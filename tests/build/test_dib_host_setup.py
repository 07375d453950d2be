"""scripts/dib-host-setup.sh: the kpartx/dmsetup stand-ins are installed only
where the kernel has no device-mapper, idempotently, never over someone
else's file; and they really map partitions of a loop device the way
diskimage-builder expects (/dev/mapper/loopXpN)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.util import REPO

SCRIPT = REPO / "scripts" / "dib-host-setup.sh"
HAS_DM = "device-mapper" in Path("/proc/misc").read_text()


def _run(shim_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "IMAGEKIT_SHIM_DIR": str(shim_dir)})


def test_installs_only_where_needed_and_idempotently(tmp_path):
    first = _run(tmp_path)
    assert first.returncode == 0, first.stderr
    shims = sorted(p.name for p in tmp_path.iterdir())
    if HAS_DM:
        assert shims == [] and "installed" not in first.stderr
        return
    assert shims == ["dmsetup", "kpartx"]
    assert all(os.access(tmp_path / s, os.X_OK) for s in shims)
    assert "installed the kpartx shim" in first.stderr
    second = _run(tmp_path)
    assert second.returncode == 0 and "installed" not in second.stderr


def test_never_replaces_a_foreign_file(tmp_path):
    if HAS_DM:
        pytest.skip("this kernel has device-mapper: no shims here")
    (tmp_path / "kpartx").write_text("#!/bin/sh\necho somebody else's\n")
    r = _run(tmp_path)
    assert r.returncode == 0 and "is not imagekit's shim; left alone" in r.stderr
    assert "somebody else's" in (tmp_path / "kpartx").read_text()
    assert "imagekit-dm-shim" in (tmp_path / "dmsetup").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root")
def test_shims_map_loop_partitions(tmp_path):
    if HAS_DM:
        pytest.skip("this kernel has device-mapper: the real kpartx is used")
    assert _run(tmp_path).returncode == 0
    kpartx, dmsetup = str(tmp_path / "kpartx"), str(tmp_path / "dmsetup")
    img = tmp_path / "disk.raw"
    with open(img, "wb") as f:
        f.truncate(64 * 2**20)
    subprocess.run(["sfdisk", "-q", str(img)], input=",20M\n,\n", text=True, check=True)
    loop = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True,
                          check=True).stdout.strip()
    base = Path(loop).name
    try:
        out = subprocess.run([kpartx, "-av", loop], capture_output=True, text=True, check=True).stdout
        assert f"add map {base}p1 " in out and f"add map {base}p2 " in out
        for n in (1, 2):
            link = Path(f"/dev/mapper/{base}p{n}")
            assert link.is_symlink() and os.path.realpath(link) == f"/dev/{base}p{n}"
        assert subprocess.run([dmsetup, "--noudevsync", "mknodes"]).returncode == 0
        subprocess.run(["mkfs.ext4", "-q", f"/dev/mapper/{base}p1"], check=True)
        assert subprocess.run([dmsetup, "remove", f"{base}p2"]).returncode == 0
        assert not Path(f"/dev/mapper/{base}p2").exists()
        bad = subprocess.run([dmsetup, "remove", f"{base}p9"], capture_output=True, text=True)
        assert bad.returncode == 1 and "not found" in bad.stderr
        assert subprocess.run([dmsetup, "create", "x"], capture_output=True).returncode == 1
    finally:
        subprocess.run([kpartx, "-d", loop])
        subprocess.run(["losetup", "-d", loop])
    assert not list(Path("/dev/mapper").glob(f"{base}p*"))
    blkid = subprocess.run(["blkid", "-p", "-O", str(1024 * 1024), "-o", "value", "-s", "TYPE", str(img)],
                           capture_output=True, text=True)
    assert blkid.stdout.strip() == "ext4"
