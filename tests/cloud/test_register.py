"""imagekit.cloud.trove and .params against the devcloud's real Trove API:
the datastore version points at the uploaded image and is the default,
re-registering edits instead of duplicating, Trove's own 'already exists',
configuration parameters through the API with the refused types reported,
and those loaded with trove-manage on a (local) controller."""
from __future__ import annotations

import json
import shlex
import uuid
from pathlib import Path

import pytest

from imagekit.cloud import glance, params, trove
from imagekit.cloud.connect import connect, trove_client
from imagekit.cloud.controller import Controller
from imagekit.errors import CloudError
from tests.cloud.helpers import devcloud_env_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cloud(devcloud_env, tiny_images):
    """(conn, trove client, two uploaded image ids), images deleted afterwards."""
    conn = connect(devcloud_env.admin)
    tc = trove_client(conn)
    ids = []
    tag = f"r{uuid.uuid4().hex[:8]}"
    for layout in ("single", "prep"):
        spec = glance.ImageUpload(
            path=tiny_images[layout], name=f"imagekit-test-{tag}-{layout}",
            tags=("trove", tag, layout),
            properties=glance.image_properties(provenance="cd" * 32, os_distro="debian",
                                               os_version="12", architecture="x86_64"))
        ids.append(glance.upload(conn, spec, cloud=devcloud_env.admin).image_id)
    yield conn, tc, ids, tag
    for i in ids:
        conn.image.delete_image(i, ignore_missing=True)


@pytest.fixture
def datastore(cloud):
    """A unique datastore name, removed with its versions afterwards."""
    _, tc, _, _ = cloud
    name = f"pg{uuid.uuid4().hex[:8]}"
    yield name
    for v in tc.mgmt_ds_versions.list():
        if v.datastore_name == name:
            tc.mgmt_ds_versions.delete(v.id)
    for d in tc.datastores.list():
        if d.name == name:
            tc.datastores.delete(d.id)


def _versions(tc, ds: str) -> list:
    return [v for v in tc.mgmt_ds_versions.list() if v.datastore_name == ds]


def test_version_points_at_the_image_and_is_default(devcloud_env, cloud, datastore):
    conn, tc, (img1, img2), _ = cloud
    spec = trove.VersionSpec(datastore, "15", "postgresql", image_id=img1,
                             packages=("postgresql-15",))
    reg = trove.register(tc, spec, cloud=devcloud_env.admin)
    assert reg.created and reg.is_default and reg.image_id == img1
    # read back through the public API, as a user would see it
    ds = tc.datastores.get(datastore)
    assert ds.default_version == reg.version_id
    public = tc.datastore_versions.get(datastore, "15")
    assert public.id == reg.version_id and public.active
    mgmt = tc.mgmt_ds_versions.get(reg.version_id)
    assert mgmt.image == img1 and mgmt.datastore_manager == "postgresql"
    assert mgmt.packages == ["postgresql-15"]

    again = trove.register(tc, spec, cloud=devcloud_env.admin)
    assert not again.created and again.changed == () and again.version_id == reg.version_id

    moved = trove.register(tc, trove.VersionSpec(datastore, "15", "postgresql", image_id=img2,
                                                 packages=("postgresql-15",)),
                           cloud=devcloud_env.admin)
    assert moved.changed == ("image",) and moved.version_id == reg.version_id
    assert tc.mgmt_ds_versions.get(reg.version_id).image == img2
    assert len(_versions(tc, datastore)) == 1

    rows = trove.listing(tc, conn, cloud=devcloud_env.admin, datastore=datastore)
    assert [(r.version, r.default, r.image_id, r.image_status) for r in rows] == \
        [("15", True, img2, "active")]


def test_duplicate_version(devcloud_env, cloud, datastore):
    _, tc, (img1, _), _ = cloud
    spec = trove.VersionSpec(datastore, "16", "postgresql", image_id=img1)
    trove.create_version(tc, spec, cloud=devcloud_env.admin)
    with pytest.raises(CloudError) as exc:
        trove.create_version(tc, spec, cloud=devcloud_env.admin)
    assert exc.value.status == 400 and exc.value.request_id
    assert "already exists" in exc.value.message and "edits an existing version" in exc.value.hint
    reg = trove.register(tc, spec, cloud=devcloud_env.admin)
    assert not reg.created and len(_versions(tc, datastore)) == 1


def test_register_by_image_tags(devcloud_env, cloud, datastore):
    _, tc, (img1, _), tag = cloud
    spec = trove.VersionSpec(datastore, "15", "postgresql", image_tags=("trove", tag, "single"),
                             default=False)
    reg = trove.register(tc, spec, cloud=devcloud_env.admin)
    mgmt = tc.mgmt_ds_versions.get(reg.version_id)
    assert not mgmt.image and sorted(mgmt.image_tags) == sorted(spec.image_tags)
    assert not reg.is_default
    with pytest.raises(CloudError) as exc:   # Trove checks that an image carries the tags
        trove.register(tc, trove.VersionSpec(datastore, "17", "postgresql",
                                             image_tags=("trove", "no-such-tag")),
                       cloud=devcloud_env.admin)
    assert exc.value.status == 400


def test_parameters_through_the_api_and_refused_types_reported(devcloud_env, cloud, datastore):
    _, tc, (img1, _), _ = cloud
    reg = trove.register(tc, trove.VersionSpec(datastore, "15", "postgresql", image_id=img1),
                         cloud=devcloud_env.admin)
    rules = params.rules_file("postgresql", "15")
    rule_list = params.load_rules(rules)
    res = params.sync_parameters(tc, version_id=reg.version_id, datastore=datastore,
                                 version="15", rules=rules, cloud=devcloud_env.admin)
    assert res.total == len(rule_list) > 100
    have = params.existing(tc, reg.version_id)
    accepted = {p.name for p in rule_list if p.kind in ("string", "integer")}
    assert accepted and set(res.created) == accepted == set(have)
    kinds = {r.kind for r in res.refused}
    assert kinds == {"boolean", "float", "integer without min and max"}
    assert {r.name for r in res.refused} == {p.name for p in rule_list} - accepted
    assert all("data_type" in r.reason or "max_size" in r.reason or r.reason for r in res.refused)
    assert res.not_loaded == res.refused and "refused by the API and not loaded" in res.summary()
    saved = json.loads(res.refused_file.read_text())["configuration-parameters"]
    assert {p["name"] for p in saved} == {r.name for r in res.refused}
    # the public view of a loaded parameter
    shown = tc.configuration_parameters.get_parameter_by_version(reg.version_id, "archive_command")
    assert shown.type == "string"

    again = params.sync_parameters(tc, version_id=reg.version_id, datastore=datastore,
                                   version="15", rules=rules, cloud=devcloud_env.admin)
    assert again.created == () and again.updated == () and set(again.unchanged) == accepted


def test_refused_types_loaded_with_trove_manage(devcloud_env, cloud, datastore, tmp_path):
    _, tc, (img1, _), _ = cloud
    reg = trove.register(tc, trove.VersionSpec(datastore, "15", "postgresql", image_id=img1),
                         cloud=devcloud_env.admin)
    lay = devcloud_env.stack.layout
    conf = next(Path(lay.conf).rglob("trove.conf"))
    ctl = Controller.from_env({
        "DBIMAGE_CONTROLLER_IP": "localhost",
        "DBIMAGE_TROVE_MANAGE": shlex.join([str(lay.bin("trove-manage")), "--config-file",
                                            str(conf)])})
    assert ctl is not None and ctl.local
    rules = params.rules_file("redis", "7.0")
    res = params.sync_parameters(tc, version_id=reg.version_id, datastore=datastore,
                                 version="15", rules=rules, cloud=devcloud_env.admin,
                                 controller=ctl)
    assert res.refused and set(res.via_controller) == {r.name for r in res.refused}
    assert res.not_loaded == ()
    have = params.existing(tc, reg.version_id)
    assert have["appendonly"]["type"] == "boolean"
    assert set(have) == {p.name for p in params.load_rules(rules)}


def test_no_controller_without_the_variable():
    assert Controller.from_env({}) is None
    c = Controller.from_env({"DBIMAGE_CONTROLLER_IP": "10.0.0.5", "DBIMAGE_CTRL_PASSWD": "x",
                             "DBIMAGE_TROVE_MANAGE": "sudo trove-manage"})
    assert c.trove_manage == ("sudo", "trove-manage") and not c.local and c.user == "ubuntu"
