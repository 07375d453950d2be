"""The "done when" of `imagekit check`: the real Trove guest images built by
`imagekit make` (diskimage-builder; cached by recipe hash in
tests/dibimages.py, shared with tests/build) give no errors, and the plain
DIB base image (no guest agent, no database) gives exactly the errors that
say so. All of them in one `imagekit check` call (one launch)."""
from __future__ import annotations

import json

import pytest

from tests import dibimages
from tests.util import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.guestfs]

# the datastores the default (2026.2) agent has managers for and bookworm can build
DBS = ("postgresql", "mariadb")


@pytest.fixture(scope="module")
def report(dib_base_image):
    made = [dibimages.db_image(db) for db in DBS]
    proc = run_cli("check", "--json", *map(str, made), str(dib_base_image))
    assert proc.stdout.strip(), proc.stderr
    assert proc.stderr.count("starting the appliance") == 1
    return proc, json.loads(proc.stdout)["images"]


@pytest.mark.parametrize("index, db", list(enumerate(DBS)))
def test_images_from_make_have_no_errors(report, index, db):
    entry = report[1][index]
    assert entry["guest_checked"]
    errors = [f for f in entry["findings"] if f["severity"] == "error"]
    assert errors == [], errors
    summary = entry["summary"]
    assert summary["agent"]["installed"] and summary["agent"]["enabled"]
    assert summary["agent"]["release"] and summary["style"] == "container"
    assert {"ConfigDrive", "OpenStack"} <= set(summary["cloud_init_datasources"])


def test_the_plain_dib_base_image_lacks_the_agent_and_a_database(report):
    proc, images = report
    assert proc.returncode == 4
    base = images[len(DBS)]
    errors = {f["id"] for f in base["findings"] if f["severity"] == "error"}
    # no agent, no database, and no ubuntu user (cloud-init makes users at boot)
    # ... and no network a Nova instance would bring up (DIB's eth0 stanzas, no ifupdown)
    assert errors == {"agent-missing", "runtime-missing", "guest-user-missing",
                      "network-renderer-unapplied"}
    assert [f["id"] for f in base["findings"] if f["severity"] == "warning"] == \
        ["stale-ifupdown-stanza"]
