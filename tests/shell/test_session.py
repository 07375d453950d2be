"""The session object below the prompt, on a real appliance: a tar stream
stopped early (^C during grep -r or diff) is cancelled quickly, quietly,
and leaves the session usable; find's one-call listing and the
directory-by-directory walk agree. One appliance launch."""
from __future__ import annotations

import time

import pytest

from imagekit.shell import paths, tarstream
from imagekit.shell.search import _find0
from imagekit.shell.session import Session
from tests.util import fingerprint

pytestmark = pytest.mark.guestfs


def test_stream_stop_listing_and_walk(tiny_copy, capfd):
    image = tiny_copy("single")
    before = fingerprint(image)
    s = Session.open(image)
    try:
        capfd.readouterr()
        start = time.monotonic()
        for n, _ in enumerate(tarstream.members(s.g, "/usr", "test")):
            if n == 20:
                break
        assert time.monotonic() - start < 30
        assert "libguestfs" not in capfd.readouterr().err
        assert "bin" in s.g.ls("/usr")                         # the handle still works
        names = {m.name for m, _ in tarstream.members(s.g, "/etc", "test")}
        assert {"passwd", "ssh/sshd_config", "trove/conf.d"} <= names

        listed = set(_find0(s, "/etc"))
        walked = {p for p, _, _ in paths.walk(s.g, "/etc")}
        assert listed == walked and "/etc/ssh/ssh_host_rsa_key" in listed
        kinds = {p: e.kind for p, e, _ in paths.walk(s.g, "/", max_depth=1)}
        assert kinds["/bin"] == "l" and kinds["/etc"] == "d"
    finally:
        s.close()
    assert fingerprint(image) == before
