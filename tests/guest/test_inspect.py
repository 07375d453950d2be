"""`imagekit inspect` on real images through the real appliance."""
from __future__ import annotations

import json

import pytest

from tests.util import fingerprint, run_cli

pytestmark = pytest.mark.guestfs

EXPECT_ROOT = {"single": "1", "prep": "2", "boot": "2", "xfs": "1", "ppc64le": "2"}


def test_inspect_every_layout_in_one_launch(tiny_images):
    names = ["single", "prep", "boot", "lvm", "xfs", "ppc64le"]
    paths = [tiny_images[n] for n in names]
    before = [fingerprint(p) for p in paths]
    proc = run_cli("-v", "inspect", "--json", *map(str, paths))
    assert proc.returncode == 0, proc.stderr
    reports = json.loads(proc.stdout)
    assert proc.stderr.count("starting the appliance") == 1   # one launch for all six
    assert len(reports) == len(names)
    for name, rep in zip(names, reports, strict=True):
        assert rep["schema"] == "imagekit.inspect/1"
        assert rep["image"]["format"] == "qcow2"
        assert rep["image"]["virtual_size"] == 512 * 1024 * 1024
        os_ = rep["os"]
        assert (os_["distro"], os_["major"]) == ("debian", 12), name
        assert os_["arch"] == ("ppc64le" if name == "ppc64le" else "x86_64"), name
        assert os_["codename"] == "bookworm"
        if name == "lvm":
            assert rep["root"] == "/dev/tinyvg/root"
        else:
            assert rep["root"].endswith(EXPECT_ROOT[name]), (name, rep["root"])
        roots = [f for f in rep["filesystems"] if f["mountpoint"] == "/"]
        assert len(roots) == 1 and roots[0]["device"] == rep["root"]
        assert roots[0]["type"] == ("xfs" if name == "xfs" else "ext4")
        assert roots[0]["used"] > 1_000_000      # busybox is in there
        agent = rep["trove_agent"]
        assert agent["installed"] and agent["path"] == "/opt/guest-agent-venv"
        assert (agent["version"], agent["release"]) == ("26.0.0", "2026.2")
        assert agent["unit"]["name"] == "guest-agent.service"
        assert agent["unit"]["enabled"] and agent["unit"]["reads_conf_d"]
        assert [p["name"] for p in rep["database_packages"]] == ["postgresql-15"]
        assert rep["cloud_init"]["installed"]
        assert rep["cloud_init"]["datasources"] == ["ConfigDrive", "OpenStack"]
        assert sorted(k["type"] for k in rep["ssh_host_keys"]) == ["ed25519", "rsa"]
        assert rep["authorized_keys"] == []
    by_name = dict(zip(names, reports, strict=True))
    assert any(f["mountpoint"] == "/boot" for f in by_name["boot"]["filesystems"])
    assert [p["number"] for p in by_name["prep"]["partitions"]] == [1, 2]
    # read-only: bytes and mtimes unchanged
    assert [fingerprint(p) for p in paths] == before


def test_human_output_names_os_agent_and_database(tiny_images):
    proc = run_cli("inspect", str(tiny_images["single"]))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Debian GNU/Linux 12 (bookworm)" in out
    assert "trove 26.0.0" in out and "2026.2" in out
    assert "postgresql-15" in out
    assert "ConfigDrive, OpenStack" in out


@pytest.mark.slow
def test_inspect_dib_built_image(dib_base_image):
    before = fingerprint(dib_base_image)
    proc = run_cli("inspect", "--json", str(dib_base_image))
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["os"]["distro"] == "debian" and rep["os"]["major"] == 12
    assert rep["os"]["arch"] == "x86_64"
    root = [f for f in rep["filesystems"] if f["mountpoint"] == "/"]
    assert root and root[0]["type"] == "ext4" and root[0]["device"] == rep["root"]
    assert rep["packages_total"] > 100
    human = run_cli("inspect", str(dib_base_image))
    assert human.returncode == 0 and "Debian GNU/Linux 12" in human.stdout
    assert fingerprint(dib_base_image) == before
