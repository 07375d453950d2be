"""imagekit customize on the command line, without an appliance: help, usage
errors and validation errors (no launch, no output, source unchanged)."""
from __future__ import annotations

import pytest

from tests.util import fingerprint, run_cli


def test_help_exits_zero_and_lists_every_operation():
    proc = run_cli("customize", "--help")
    assert proc.returncode == 0
    for opt in ("--upload", "--write", "--mkdir", "--delete", "--chmod", "--chown", "--link",
                "--run-command", "--firstboot", "--firstboot-command", "--ssh-inject",
                "--guest-config", "--regen-host-keys", "--patch", "--ini-set", "--ini-unset",
                "--copy-in", "--thin", "--in-place", "--dry-run", "--plan", "--json"):
        assert opt in proc.stdout


@pytest.mark.parametrize("args,code,needle", [
    ([], 2, "no operations given"),
    (["--write", "/etc/x:1"], 2, "no output file given"),
    (["-o", "OUT", "--chmod", "rwx:/etc/x"], 1, "not an octal permission mode"),
    (["-o", "OUT", "--write", "/etc/trove/conf.d/guest_info.conf:x"], 1, "per-instance"),
    (["-o", "OUT", "--upload", "/nonexistent:/etc/x"], 1, "no such file on this host"),
    (["-o", "OUT", "--ini-set", "/etc/trove/conf.d/a.conf:DEFAULT:tenant_id=1"], 1, "per-instance"),
    (["-o", "OUT", "--plan", "/nonexistent/plan.yaml"], 1, "cannot be read"),
    (["-o", "SRC", "--write", "/etc/x:1"], 2, "the output is the source image"),
    (["-o", "OUT", "--thin", "--in-place", "--write", "/etc/x:1"], 2, "not allowed with"),
])
def test_bad_command_lines_fail_before_any_launch(tiny_copy, tmp_path, args, code, needle):
    src = tiny_copy("single")
    before = fingerprint(src)
    args = [str(src) if a == "SRC" else str(tmp_path / "out.qcow2") if a == "OUT" else a
            for a in args]
    proc = run_cli("customize", str(src), *args)
    assert proc.returncode == code, proc.stderr
    assert needle in proc.stderr
    assert "starting the appliance" not in proc.stderr
    assert not (tmp_path / "out.qcow2").exists() and fingerprint(src) == before


def test_thin_output_outside_the_golden_folder_is_refused(tiny_copy, tmp_path):
    src = tiny_copy("single")
    other = tmp_path / "elsewhere"
    other.mkdir()
    proc = run_cli("customize", str(src), "-o", str(other / "t.qcow2"), "--thin",
                   "--write", "/etc/x:1")
    assert proc.returncode == 2 and "--thin: the output must be in the folder" in proc.stderr
    assert "starting the appliance" not in proc.stderr
