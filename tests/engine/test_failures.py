"""Bad input: a clear error, no output file, the source byte-identical.
Launches: one workspace session for the guest-side refusals, one CLI run, one
run on a full disk, one dry run (4)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from imagekit.engine import (
    ApplyPatches,
    Chown,
    Delete,
    GuestConfig,
    Plan,
    RunCommand,
    SshInject,
    Symlink,
    UploadFile,
    Workspace,
    WriteFile,
    load_profile,
    run_plan,
)
from imagekit.errors import GuestError, ImageError
from tests.engine.conftest import BAD_PATCHES, STANDIN_PATCHES
from tests.imagefactory import AGENT_FILES
from tests.util import fingerprint, run_cli

pytestmark = pytest.mark.guestfs

SERVICE_REL = "trove/guestagent/datastore/postgres/service.py"
SERVICE = f"/opt/guest-agent-venv/lib/python3.11/site-packages/{SERVICE_REL}"


@pytest.fixture
def source(tiny_copy) -> Path:
    return tiny_copy("single")


def _only(folder: Path, *names: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


def test_guest_side_refusals_in_one_session(source, profile_file, tmp_path):
    """Each refusal leaves the workspace usable and unchanged where it failed;
    nothing is saved; the source does not change."""
    before = fingerprint(source)
    work = tmp_path / "work"
    with Workspace(source, workdir=work) as ws:
        # a patch whose second hunk fails, after one that applies: nothing is written
        bad = sorted(BAD_PATCHES.glob("*.patch"))
        with pytest.raises(GuestError) as err:
            ws.apply(ApplyPatches(files=(STANDIN_PATCHES / "2026.2" / "0001-standin-timeout.patch",
                                         *bad)))
        assert "0001-second-hunk-fails.patch" in err.value.message
        assert "hunk #2 FAILED" in err.value.message and SERVICE in err.value.message
        assert ws.context.read(SERVICE).decode() == AGENT_FILES[SERVICE_REL]

        # /etc/trove -> / : the config would land in /conf.d
        ws.apply(Delete(path="/etc/trove"))
        ws.apply(Symlink(target="/", path="/etc/trove"))
        with pytest.raises(GuestError) as err:
            ws.apply(GuestConfig(profile=load_profile(profile_file)))
        assert "/etc/trove is a symbolic link to / inside the image" in err.value.message
        assert "--delete /etc/trove" in err.value.hint
        with pytest.raises(GuestError, match="symbolic link"):
            ws.apply(WriteFile(path="/etc/trove/conf.d/x.conf", content=b"x"))
        assert not ws.g.exists("/conf.d")

        # writing through a link at the end of the path
        ws.apply(Symlink(target="/etc/passwd", path="/etc/innocent"))
        with pytest.raises(GuestError, match="refusing to change what it points to"):
            ws.apply(WriteFile(path="/etc/innocent", content=b"pwned\n"))
        assert b"root:x:0:0" in ws.context.read("/etc/passwd")

        # unknown user and group
        with pytest.raises(GuestError) as err:
            ws.apply(SshInject(user="nosuchuser", keys=(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH3Zt0p2v6f1r4m9aT8cQ2Xk5y7uH0bV4nW1sJ6dE9gA",)))
        assert "user 'nosuchuser' does not exist in the image" in err.value.message
        assert "ubuntu" in err.value.hint
        with pytest.raises(GuestError, match="group 'nogroup' does not exist"):
            ws.apply(Chown(path="/etc/motd", owner="ubuntu", group="nogroup"))

        # a command that fails
        with pytest.raises(GuestError) as err:
            ws.apply(RunCommand(command="echo failing-output; exit 3"))
        assert "exited with status 3: failing-output" in err.value.message
        assert ws.launches == 1
    assert fingerprint(source) == before
    assert list(work.iterdir()) == []                       # the overlay is gone


def test_cli_bad_patch_leaves_nothing(source, tmp_path):
    before = fingerprint(source)
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli("customize", str(source), "-o", str(out / "x.qcow2"),
                   "--write", "/etc/marker:1", "--patch", str(BAD_PATCHES))
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "0001-second-hunk-fails.patch" in errors[0]
    assert "hunk #2 FAILED" in errors[0]
    assert any(ln.startswith("hint:") for ln in proc.stderr.splitlines())
    _only(out)
    assert fingerprint(source) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_full_disk_under_the_overlay(source, tmp_path):
    """The output folder is a 28 MiB tmpfs: the overlay fills it up."""
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=28m", "tmpfs", str(small)], check=True)
    try:
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(48 << 20))
        before = fingerprint(source)
        with pytest.raises(ImageError) as err:
            run_plan(source, Plan.of(UploadFile(source=big, path="/var/tmp/big.bin")),
                     small / "out.qcow2")
        assert f"the disk holding the overlay ({small}" in err.value.message
        assert "filled up" in err.value.message and "another folder" in err.value.hint
        _only(small)
        assert fingerprint(source) == before
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_dry_run_changes_nothing(source, tmp_path, profile_file):
    before = fingerprint(source)
    out = tmp_path / "out.qcow2"
    proc = run_cli("customize", str(source), "-o", str(out), "--dry-run",
                   "--write", "/etc/new-file:x", "--guest-config", str(profile_file),
                   "--regen-host-keys", "--run-command", "touch /root/ran")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "created   /etc/new-file" in text
    assert "created   /etc/trove/conf.d/trove-guestagent.conf" in text
    assert "replaced  /etc/ssh/ssh_host_rsa_key" in text
    assert "not run in a dry run" in text
    assert "truncated /etc/machine-id" in text
    assert not out.exists() and fingerprint(source) == before
    shutil.rmtree(tmp_path / "out.qcow2", ignore_errors=True)
