"""`imagekit shell IMAGE -c "cmd; cmd"`: no prompt, plain output, the first
failing command stops the script with exit status 1; diff --against
attaches the other image in the same launch. One appliance launch."""
from __future__ import annotations

import pytest

from tests.util import fingerprint, run_cli

pytestmark = pytest.mark.guestfs


def test_script_mode_with_diff_against_a_second_image(tiny_images, tmp_path):
    image, other = tiny_images["single"], tiny_images["boot"]   # both roots: LABEL=cloudimg-rootfs
    before = [fingerprint(image), fingerprint(other)]
    script = ("cd /etc; pwd; -cat nope; head -n 1 passwd; packages; grep -rn ubuntu /etc; "
              "find /opt -name 'trove-*'; tree -L 1 /opt/guest-agent-venv; "
              f"download ssh/ssh_host_ed25519_key.pub {tmp_path}; download /etc/trove {tmp_path}; "
              "find / -maxdepth 1 -type l; ls -l /bin; stat -- shadow; file /usr/bin/busybox; "
              "du /usr; df; "
              f"diff /etc/fstab --against {other}; diff /etc/ssh; diff /etc/passwd; "
              "cat /nope; ls /")
    proc = run_cli("shell", str(image), "-c", script)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("starting the appliance") == 1
    assert "2 image(s)" in proc.stderr
    out = proc.stdout.splitlines()
    assert out[0] == "/etc"
    assert out[1] == "root:x:0:0:root:/root:/bin/sh"
    # plain output when piped: no header, no box drawing, aligned columns
    assert ["postgresql-15", "15.14-0+deb12u1"] in [x.split() for x in out]
    assert not any(c in proc.stdout for c in "┃│┏━")
    assert "/etc/group:4:ubuntu:x:1000:" in out
    assert "/etc/passwd:3:ubuntu:x:1000:1000:ubuntu:/home/ubuntu:/bin/sh" in out
    assert "/opt/guest-agent-venv/lib/python3.11/site-packages/trove-26.0.0.dist-info" in out
    assert "├── bin" in out and "└── lib" in out
    assert (tmp_path / "ssh_host_ed25519_key.pub").read_text().startswith("ssh-ed25519 ")
    assert (tmp_path / "trove" / "conf.d").is_dir()
    assert ["/bin", "/lib", "/lib64", "/sbin"] == [x for x in out if x in ("/bin", "/lib", "/lib64",
                                                                          "/sbin", "/usr")]
    assert any(x.startswith("lrwxrwxrwx") and x.endswith("/bin -> usr/bin") for x in out)
    assert "mode      0640 (-rw-r-----)" in out and "group     ? (42)" in out
    assert any(x.startswith("/usr/bin/busybox: ELF 64-bit LSB") for x in out)
    assert any(x.split()[-1:] == ["/usr"] and "MiB" in x for x in out)
    assert any(x.startswith("/dev/sda1") and x.endswith(" /") for x in out)
    # the file diff: the other image (old side) has a /boot line this one lacks
    assert f"--- {other.name}:/etc/fstab" in out
    assert f"+++ {image.name}:/etc/fstab" in out
    assert any(x.startswith("-LABEL=boot") for x in out)
    # the tree diff: the ssh host keys differ (made per image), nothing else
    changed = [x for x in out if x.startswith("~ /etc/ssh/")]
    assert len(changed) == 4 and all("(content)" in x for x in changed)
    assert "/etc/passwd: identical" in proc.stderr
    # errors: one line each; '-cat' was allowed to fail, 'cat /nope' stopped the script
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 2 and all("no such file" in e for e in errors)
    assert "lost+found" not in proc.stdout          # 'ls /' never ran
    assert [fingerprint(image), fingerprint(other)] == before
