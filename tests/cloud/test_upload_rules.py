"""Configuration-parameter rules come from the image's own Trove tree when it
has them (trove/templates/<db>/validation-rules.json of the guest agent: the
rules of exactly the agent's release), else from recipes/validation-rules.
Appliance launches: 2 (the tiny image with rules, cached; its check)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from imagekit.cloud import params
from imagekit.cloud.connect import connect, trove_client
from tests import imagefactory
from tests.cloud.helpers import devcloud_env_fixture  # noqa: F401 - the fixture
from tests.util import run_cli

pytestmark = pytest.mark.slow

SITE = "opt/guest-agent-venv/lib/python3.11/site-packages"
RULES = {"configuration-parameters": [
    {"name": "imagekit_image_int", "restart_required": False, "type": "integer", "min": 1,
     "max": 9},
    {"name": "imagekit_image_string", "restart_required": True, "type": "string"},
    {"name": "imagekit_image_flag", "restart_required": False, "type": "boolean"},
]}


@pytest.fixture(scope="module")
def image_with_rules(tmp_path_factory) -> Path:
    from tests.check.faults import GOOD  # an image the 2026.2 agent can run
    spec = replace(GOOD, extra_files=GOOD.extra_files + (
        (f"{SITE}/trove/templates/postgresql/validation-rules.json", json.dumps(RULES)),))
    cached = imagefactory.cached_images({"rules": spec})["rules"]
    dest = tmp_path_factory.mktemp("rules") / "with-rules.qcow2"
    dest.write_bytes(cached.read_bytes())
    return dest


def test_rules_from_the_images_trove_tree(devcloud_env, image_with_rules, tmp_path):
    proc = run_cli("upload", "--as-is", "-f", str(image_with_rules), "-d", "postgresql",
                   "-v", "15", "--os-cloud", devcloud_env.admin, "--no-default", "--json",
                   env={"OS_CLIENT_CONFIG_FILE": str(devcloud_env.clouds_yaml), "OS_CLOUD": "",
                        "IMAGEKIT_IMAGES_DIR": str(tmp_path), "DBIMAGE_CONTROLLER_IP": ""},
                   timeout=900)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    (cloud,) = out["clouds"]
    p = cloud["parameters"]
    assert p["total"] == 3 and Path(p["rules"]).name.endswith(".rules.json")
    assert json.loads(Path(p["rules"]).read_text()) == RULES
    assert [r["name"] for r in p["not_loaded"]] == ["imagekit_image_flag"]
    assert "refused by the API and not loaded" in proc.stderr      # reported, not dropped
    tc = trove_client(connect(devcloud_env.admin))
    have = params.existing(tc, cloud["datastore_version"]["version_id"])
    assert have["imagekit_image_int"] == {"type": "integer", "restart_required": False,
                                          "min": 1, "max": 9}
    assert have["imagekit_image_string"]["restart_required"] is True
    assert "imagekit_image_flag" not in have
