"""`imagekit shell` at a prompt, through a pseudo-terminal: tab completion
of guest paths, one-line errors that keep the shell running, rich output on
a terminal, Ctrl-D leaving cleanly with the appliance gone, and the image
left byte-identical. One appliance launch."""
from __future__ import annotations

import os
import signal

import pexpect
import pytest

from tests.shell.pty import Shell, alive, descendants
from tests.util import fingerprint

pytestmark = pytest.mark.guestfs


def _sigint_ignored_and_blocked() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def test_read_only_session_at_a_prompt(tiny_copy, tmp_path):
    image = tiny_copy("single")
    before = fingerprint(image)
    # started the way a test runner or nohup may start it: SIGINT ignored
    # and blocked; Ctrl-C at the prompt must work all the same
    sh = Shell(image, state=tmp_path / "state", preexec_fn=_sigint_ignored_and_blocked)
    assert sh.cwd == "/"
    banner = sh.transcript[0]
    assert "debian 12" in banner and "read-only" in banner

    # the appliance: one qemu below the shell while it runs
    qemus = [pid for pid, name in descendants(sh.child.pid).items() if name.startswith("qemu")]
    assert len(qemus) == 1

    # Tab completes a guest path (only "/etc/pas" is typed) ...
    out = sh.complete("cat /etc/pas")
    assert "cat /etc/passwd" in out
    assert "root:x:0:0:root:/root:/bin/sh" in out
    # ... a directory, with its trailing slash, relative to the working directory ...
    out = sh.complete("cd /et")
    assert sh.cwd == "/etc", out
    out = sh.complete("ls -l clo")
    assert "cloud.cfg.d" in out and "cloud.cfg" in out
    # ... a command name; and Tab Tab lists the candidates
    out = sh.complete("pw")
    assert out.splitlines()[-1] == "/etc"
    listing = sh.list_completions("ls s")
    for name in ("shadow", "ssh/", "systemd/"):
        assert name in listing

    # errors: one line each, and the shell keeps running
    for line, words in (("cat /nope", ("cat:", "/nope", "no such file")),
                        ("rm /etc/passwd", ("rm:", "read-only", "--write")),
                        ("frobnicate", ("frobnicate", "unknown command")),
                        ("head -n", ("head:", "argument")),
                        ("cd passwd", ("cd:", "not a directory"))):
        out = sh.run(line)
        lines = [x for x in out.splitlines() if x.strip()]
        assert len(lines) == 1, (line, out)
        assert lines[0].startswith("error: ") and all(w in lines[0] for w in words), lines[0]
        assert sh.cwd == "/etc"
    assert "guest-agent.service" in sh.run("ls systemd/system")

    # Ctrl-C abandons the line being typed; the appliance does not see it.
    # Sent right behind the text, many times: a Ctrl-C that lands between
    # readline seeing input and reading it used to wait for the next key.
    sh.child.delaybeforesend = None
    for i in range(int(os.environ.get("IK_CTRLC_N", "30"))):
        sh.child.send("cat /etc/passwd /etc/group")
        sh.child.send("\x03")
        try:
            sh.wait_prompt(timeout=10)
        except pexpect.TIMEOUT:
            pytest.fail(f"no prompt after Ctrl-C number {i + 1}: {sh.child.before[-200:]!r}")
    sh.child.delaybeforesend = 0.05
    assert alive(qemus[0])
    assert sh.run("head -n 1 passwd").strip() == "root:x:0:0:root:/root:/bin/sh"

    # rich output on a terminal: a table with a header and box drawing
    out = sh.run("packages post")
    assert "package" in out and "version" in out and "┃" in out
    assert "postgresql-15" in out and "database" in out
    out = sh.run("trove")
    assert "/opt/guest-agent-venv" in out and "26.0.0" in out and "2026.2" in out
    assert "guest-agent.service" in out
    out = sh.run("less os-release")            # PAGER=cat
    assert 'VERSION_CODENAME=bookworm' in out
    out = sh.run("help")
    assert "Changing the image (with --write) — this session is read-only" in out
    assert "diff PATH [--against IMAGE2]" in out
    assert "-n N" in sh.run("help head")
    out = sh.run("history")
    assert "cat /etc/passwd" in out and "frobnicate" in out

    # Ctrl-D: leaves cleanly, and the appliance is gone with it
    assert sh.eof() == 0
    assert not alive(qemus[0])
    assert fingerprint(image) == before
    history = (tmp_path / "state" / "imagekit" / "shell_history").read_text()
    assert "packages post" in history
