"""Real builds: Debian bookworm native images for postgresql, mariadb and
redis from the distro source, made by the real `imagekit make` (postgresql
on a builder reached over ssh: an sshd this test starts on 127.0.0.1), cached
by recipe hash (tests/dibimages.py), then read back through imagekit's own
code in one appliance launch: the inspect report and the guest facts."""
from __future__ import annotations

import json
import re

import pytest

from imagekit import recipes, releases, report
from imagekit.guest import facts
from imagekit.guest.image import check_image
from imagekit.guest.session import Appliance
from tests import dibimages

pytestmark = [pytest.mark.slow, pytest.mark.guestfs]

DBS = ("postgresql", "mariadb", "redis")
PIN = releases.lookup(releases.default_series())


@pytest.fixture(scope="module")
def built() -> dict[str, object]:
    """{db: image path}: built unless cached (postgresql through ssh)."""
    return {db: dibimages.db_image(db) for db in DBS}


@pytest.fixture(scope="module")
def seen(built) -> dict[str, dict]:
    """Everything read from the three images, in one appliance launch."""
    result = {}
    checked = {db: check_image(built[db]) for db in DBS}
    with Appliance() as app:
        for db in DBS:
            app.add(checked[db], readonly=True)
        app.launch()
        for i, db in enumerate(DBS):
            guest = app.inspect(i)
            app.mount(guest, readonly=True)
            g = app.g
            rec = recipes.resolve(db)
            result[db] = {
                "report": report.build(app, checked[db], guest),
                "facts": facts.collect(g, guest.root),
                "service_enabled": facts.is_enabled(g, f"{rec.service}.service"),
                "build": json.loads(facts.read_text(g, "/etc/imagekit/build.json") or "{}"),
                "agent_record": json.loads(facts.read_text(g, "/etc/imagekit/guest-agent.json") or "{}"),
                "private_keys": [p for pattern in ("/root/.ssh/id_*", "/home/*/.ssh/id_*",
                                                   "/etc/ssh/ssh_host_*_key", "/etc/ssl/private/*.key")
                                 for p in g.glob_expand(pattern) if not p.endswith(".pub")],
                "sudoers": facts.read_text(g, "/etc/sudoers.d/60_trove_guest"),
                "conf_d_owner": g.lstatns("/etc/trove/conf.d")["st_uid"],
                "logrotate": g.exists("/etc/logrotate.d/guest-agent"),
                "machine_id": facts.read_text(g, "/etc/machine-id"),
                "ca_files": g.glob_expand("/usr/local/share/ca-certificates/*"),
                "pip_ca": g.glob_expand("/tmp/in_target.d*") + g.glob_expand("/tmp/imagekit*"),
                "snakeoil_unit": facts.is_enabled(g, "imagekit-snakeoil-cert.service"),
            }
            app.umount()
    return result


@pytest.mark.parametrize("db", DBS)
def test_database_installed_and_enabled(seen, db):
    rec = recipes.resolve(db)
    rep = seen[db]["report"]
    names = {p["name"]: p["version"] for p in rep["database_packages"]}
    assert rec.pkg in names, f"{rec.pkg} not among {names}"
    installed = {p.name for p in seen[db]["facts"].packages}
    assert set(rec.install) <= installed
    assert seen[db]["service_enabled"], f"{rec.service}.service is not enabled"
    assert rep["os"]["distro"] == "debian" and rep["os"]["major"] == 12
    build = seen[db]["build"]
    assert build["recipe"]["db"] == db and build["recipe"]["version"] == rec.version
    assert build["installed"]["service"] == {"name": rec.service, "enabled": True}
    assert all(build["installed"]["packages"][p] for p in rec.install)
    if db == "postgresql":
        assert names["postgresql-15"].startswith("15.")


@pytest.mark.parametrize("db", DBS)
def test_guest_agent_pinned_and_enabled(seen, db):
    agent = seen[db]["report"]["trove_agent"]
    assert agent["installed"] and agent["kind"] == "venv"
    assert agent["path"] == "/opt/guest-agent-venv"
    assert agent["version"] == PIN.pin and agent["release"] == PIN.series
    assert agent["recorded_release"] == PIN.series
    unit = agent["unit"]
    assert unit["name"] == "guest-agent.service" and unit["enabled"]
    assert unit["user"] == "ubuntu" and unit["reads_conf_d"]
    assert "--config-dir=/etc/trove/conf.d" in unit["exec_start"]
    rec = seen[db]["agent_record"]
    assert (rec["trove_version"], rec["release"], rec["source"]) == (PIN.pin, PIN.series, "pypi")
    users = seen[db]["facts"].users
    assert seen[db]["conf_d_owner"] == users["ubuntu"].uid
    assert "ubuntu ALL=(ALL) NOPASSWD:ALL" in seen[db]["sudoers"]
    assert seen[db]["logrotate"]
    ci = seen[db]["report"]["cloud_init"]
    assert ci["installed"] and ci["datasources"][:2] == ["ConfigDrive", "OpenStack"]


@pytest.mark.parametrize("db", DBS)
def test_no_secrets_baked_in(seen, db):
    assert seen[db]["private_keys"] == []
    assert seen[db]["report"]["ssh_host_keys"] == []
    assert seen[db]["report"]["authorized_keys"] == []
    users = seen[db]["facts"].users
    for name in ("root", "ubuntu"):
        pw = users[name].password
        assert pw.startswith(("!", "*")) or pw == "", f"{name} has a password: {pw[:4]}..."
        assert "$" not in pw, f"{name} has a password hash"
    assert seen[db]["machine_id"] in ("", None)
    assert seen[db]["ca_files"] == [], "the host's CA certificates must not be baked in"
    if any(p.name == "ssl-cert" for p in seen[db]["facts"].packages):
        assert seen[db]["snakeoil_unit"], "each instance must make its own snakeoil key"
    assert seen[db]["pip_ca"] == []


def test_one_image_came_through_ssh(seen):
    """The cached postgresql image was built on a builder reached over ssh."""
    builders = {db: seen[db]["build"]["builder"] for db in DBS}
    assert re.fullmatch(r"\S+@127\.0\.0\.1:\d+", builders[dibimages.SSH_BUILT]), builders
    assert all(b == "this host" for db, b in builders.items() if db != dibimages.SSH_BUILT)


def test_names_and_logs(built):
    for db in DBS:
        base = recipes.resolve(db).image_base
        assert base == f"debian_bookworm_{db}_{recipes.resolve(db).version.replace('.', '_')}"
        log = built[db].with_suffix(".log")
        assert log.is_file() and "Build completed successfully" in log.read_text(errors="replace")
