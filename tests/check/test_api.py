"""The Python API upload uses: check_images / run_checks on an Appliance that
is already running (no second launch), the options the CLI maps to, and
the rendering of the results. One launch for the whole module."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from imagekit.check import CheckOptions, Severity, check_images, render, run_checks
from imagekit.errors import ApplianceError
from imagekit.guest.session import Appliance
from tests.check import faults

pytestmark = pytest.mark.guestfs

NAMES = ("good", "openstack-only", "configdrive-only", "ghost-user", "controller-secret",
         "container-good", "native-good")


@pytest.fixture(scope="module")
def session(fault_images):
    paths = {n: fault_images[n] for n in NAMES}
    app = Appliance()
    # not launched yet: check_images adds the images and launches it (once)
    first = check_images(list(paths.values()), app=app)
    launched_in = app.launch_seconds
    yield app, paths, dict(zip(NAMES, first, strict=True))
    assert app.launch_seconds == launched_in and len(app.drives) == len(NAMES)
    app.close()


def ids(findings) -> list[str]:
    return [f.id for f in findings]


def test_first_pass_launches_once_and_matches_the_cli(session):
    app, _, first = session
    assert app.launched
    for name, res in first.items():
        assert ids(res.findings) == list(faults.FACTORY[name].expect), name
        assert res.guest_checked
    assert app.g.mounts() == []          # nothing left mounted


@pytest.mark.parametrize("name, kwargs, expect", [
    ("native-good", {"db": "mariadb"}, ["db-package-missing"]),
    ("native-good", {"db": "postgresql", "version": "16"}, ["db-version-mismatch"]),
    ("native-good", {"db": "postgresql", "version": "15"}, []),
    ("native-good", {"style": "container"}, ["docker-missing"]),
    ("container-good", {"style": "native"}, ["native-db-with-docker-agent"]),
    ("good", {"db": "postgresql", "version": "15"}, []),
    ("good", {"db": "mariadb", "version": "10.11"}, ["db-image-missing"]),      # -d/-v decide
    ("good", {"db": "redis"}, ["datastore-without-manager"]),
    ("configdrive-only", {"options": CheckOptions(config_drive=True)}, []),
    ("openstack-only", {"options": CheckOptions(config_drive=True)},
     ["cloud-init-datasource-mismatch"]),
    ("ghost-user", {"options": CheckOptions(guest_user="ubuntu")}, ["agent-unit-user-missing"]),
    ("good", {"options": CheckOptions(min_free=10 << 30)}, ["root-fs-low-space"]),
    ("controller-secret", {"allow_baked_config": True}, ["controller-secret"]),
])
def test_run_checks_on_the_running_appliance(session, name, kwargs, expect):
    app, paths, _ = session
    found = run_checks(paths[name], app=app, **kwargs)
    assert ids(found) == expect
    assert app.g.mounts() == []


def test_allow_baked_config_downgrades_secrets_to_warnings(session):
    app, paths, first = session
    lax = run_checks(paths["controller-secret"], app=app, allow_baked_config=True)
    assert [f.severity for f in lax] == [Severity.WARNING]
    assert [f.severity for f in first["controller-secret"].findings] == [Severity.ERROR]


def test_a_drive_attached_under_another_path(session):
    app, paths, _ = session
    # e.g. upload's overlay: the file checks use the path, the guest checks the drive
    drive = NAMES.index("ghost-user")
    assert ids(run_checks(paths["good"], app=app, drive=drive)) == ["guest-user-missing"]


def test_an_image_not_attached_to_the_running_appliance_is_refused(session, fault_images):
    app, _, _ = session
    with pytest.raises(ApplianceError, match="not attached"):
        run_checks(fault_images["no-agent"], app=app)


def test_render_table_and_plain_lines(session):
    _, _, first = session
    results = list(first.values())
    buf = io.StringIO()
    render.render(results, Console(file=buf, force_terminal=True, width=220))
    table = buf.getvalue()
    assert "cloud-init-datasource-mismatch" in table and "guest-user-missing" in table
    assert "severity" in table and "fix" in table
    buf = io.StringIO()
    render.render(results, Console(file=buf, force_terminal=False, width=100))
    plain = buf.getvalue()
    assert "  error: controller-secret: " in plain and "    fix: " in plain
    assert "\x1b[" not in plain
    data = render.to_json(results)
    assert data["errors"] == 3 and data["warnings"] == 0 and not data["ok"]
