"""`imagekit shell IMAGE --write`: changes go to the engine's overlay, leaving
asks first while they are unsaved, `save OUT` writes a new image with the
manifest, and the source stays byte-identical. Two appliance launches (the
session, then a read-only look at the result)."""
from __future__ import annotations

import json

import pytest

from tests.shell.pty import Shell
from tests.util import fingerprint, run_cli

pytestmark = pytest.mark.guestfs

EDITOR = """#!/bin/sh
case "$1" in
  *resolv.conf) sed -i 's/192.0.2.53/198.51.100.7/' "$1" ;;
  *) printf 'edited in imagekit shell\\n' >> "$1" ;;
esac
"""


def test_write_session_saves_a_new_image_and_leaves_the_source(tiny_copy, tmp_path):
    source = tiny_copy("single")
    before = fingerprint(source)
    editor = tmp_path / "editor.sh"
    editor.write_text(EDITOR)
    editor.chmod(0o755)
    conf = tmp_path / "cloud.conf"
    conf.write_text("[DEFAULT]\ntransport_url = rabbit://trove:s3cr3tpw@192.0.2.10:5672/\n"
                    "debug = True\n")
    out = tmp_path / "out" / "edited.qcow2"
    out.parent.mkdir()

    sh = Shell(source, "--write", state=tmp_path / "state", env={"EDITOR": str(editor)})
    assert "WRITE" in sh.transcript[0]
    sh.run("edit /etc/resolv.conf")
    assert "nameserver 198.51.100.7" in sh.run("cat /etc/resolv.conf")
    assert "[write]*:" in sh.child.after           # the prompt says: unsaved changes
    sh.run("edit /etc/motd")                       # a new file
    sh.run("chmod 0640 /etc/motd")
    sh.run("mkdir -p /srv/data/pg")
    sh.run(f"upload {conf} /etc/trove/conf.d/")
    sh.run("rm /etc/ssh/ssh_host_rsa_key /etc/ssh/ssh_host_rsa_key.pub")
    err = sh.run("rm /etc/trove")
    assert "error: rm: /etc/trove: is a directory" in err
    trove = sh.run("trove")
    assert "/etc/trove/conf.d/cloud.conf" in trove
    assert "rabbit://trove:****@192.0.2.10:5672/" in trove and "s3cr3tpw" not in trove

    # leaving with unsaved changes asks first (Ctrl-D, then exit); 'n' stays
    sh.child.send("\x04")
    sh.child.expect(r"Leave and drop them\? \[y/N\] ")
    assert "7 unsaved change(s)" in sh.child.before
    sh.child.send("n\r")
    sh.wait_prompt()
    sh.child.send("exit\r")
    sh.child.expect(r"Leave and drop them\? \[y/N\] ")
    sh.child.send("\r")                            # the default is no
    sh.wait_prompt()

    sh.child.send(f"save {out}\r")
    sh.child.expect("the session ends", timeout=300)
    assert sh.wait_exit() == 0
    assert fingerprint(source) == before
    manifest = json.loads((out.parent / "edited.qcow2.manifest.json").read_text())
    assert manifest["source"]["name"] == source.name

    # the new image, read-only, commands on standard input: every change is there
    proc = run_cli("shell", str(out), input="cat /etc/resolv.conf /etc/motd\nstat /etc/motd\n"
                   "ls /srv/data; ls /etc/ssh\ncat /etc/trove/conf.d/cloud.conf\nls /etc/imagekit\n")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "nameserver 198.51.100.7" in text and "edited in imagekit shell" in text
    assert "0640 (-rw-r-----)" in text
    assert "pg" in text.splitlines()
    assert "ssh_host_rsa_key" not in text and "ssh_host_ed25519_key" in text
    assert "s3cr3tpw" in text                      # cat shows the file as it is
    assert "manifest.json" in text
