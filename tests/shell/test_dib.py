"""`imagekit shell` on real diskimage-builder images (the issue's "done
when"): the Trove guest image `imagekit make -d postgresql` builds, compared
with the plain DIB base image in the same launch (both label their root
filesystem cloudimg-rootfs). One appliance launch; the images are built
once and cached (tests/dibimages.py)."""
from __future__ import annotations

import pytest

from imagekit import releases
from tests import dibimages
from tests.util import fingerprint, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.guestfs]
PIN = releases.lookup(releases.default_series())


def test_os_and_trove_on_a_dib_built_trove_image(dib_base_image):
    made = dibimages.db_image("postgresql")       # shared with tests/build/test_make_images.py
    before = [fingerprint(made), fingerprint(dib_base_image)]
    proc = run_cli("shell", str(made), "-c",
                   "os; trove; services; packages docker; users; keys; "
                   f"diff /etc/os-release --against {dib_base_image}; diff /opt --against "
                   f"{dib_base_image}; grep -rl guest-agent /etc/systemd/system; cd /etc/trove; "
                   "ls -la conf.d; df")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("starting the appliance") == 1
    out = proc.stdout
    # os: the inspect report
    assert "Debian GNU/Linux 12 (bookworm)" in out and "x86_64" in out
    # trove: the agent, its release, its unit and conf.d
    rows = {line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in out.splitlines()
            if "  " in line and not line.startswith(" ")}
    assert rows["agent"] == "/opt/guest-agent-venv (venv)"
    assert rows["trove version"] == PIN.pin and rows["release"] == PIN.series
    assert rows["unit"].startswith("guest-agent.service")
    assert rows["enabled"] == "yes" and rows["runs as"] == "ubuntu" and rows["reads conf.d"] == "yes"
    assert rows["conf.d"].startswith("/etc/trove/conf.d")
    # services, packages, users
    assert any(x.split()[:2] == ["guest-agent.service", "multi-user.target"] for x in out.splitlines())
    # container style: docker from the distribution, no native PostgreSQL server
    assert any(x.split()[:1] == ["docker.io"] for x in out.splitlines())
    assert any(x.split()[:1] == ["ubuntu"] for x in out.splitlines())
    # the same OS release in both, and the agent venv only in the Trove image
    assert "/etc/os-release: identical" in proc.stderr
    added = [x for x in out.splitlines() if x.startswith("+ /opt/")]
    venv = [x for x in added if x.startswith("+ /opt/guest-agent-venv")]
    assert len(venv) == 1 and "a folder with" in venv[0], added     # one line for the venv
    assert any(x.startswith("+ /opt/trove-guestagent") for x in added), added
    assert len(added) == 2, added
    assert "/etc/systemd/system/guest-agent.service" in out
    assert [fingerprint(made), fingerprint(dib_base_image)] == before
