"""The cloud-aware checks against the devcloud (a real Keystone, Glance, Nova
and Trove API): the controller's release, the image's visibility to Trove's
service project, the datastore version's tags and image, and its flavors.
One appliance launch for the module (the API on a running Appliance), and
one CLI call that needs no launch at all."""
from __future__ import annotations

import json
import shutil
import time
import uuid

import pytest

from imagekit.check import CheckOptions, run_checks
from imagekit.guest.session import Appliance

pytestmark = [pytest.mark.slow, pytest.mark.guestfs]


def ids(findings) -> list[str]:
    return [f.id for f in findings]


@pytest.fixture(scope="module")
def world(devcloud, fault_images, tmp_path_factory):
    """A unique copy of the good container-style image (its own sha512: the
    datastore names here are unique, not databases the native checks know),
    uploaded private to the admin project; a datastore whose version selects images by a unique tag;
    a launched Appliance with the copy attached. Cleaned up afterwards."""
    conn = devcloud.connect()
    trove = devcloud.trove()
    folder = tmp_path_factory.mktemp("cloud-check")
    image = folder / "good-unique.qcow2"
    shutil.copyfile(fault_images["container-good"], image)
    with open(image, "ab") as f:                 # trailing bytes: same guest, own checksum
        f.write(uuid.uuid4().bytes * 256)
    uid = uuid.uuid4().hex[:8]
    tag, ds = f"ck{uid}", f"ck{uid}"
    created = []

    def upload(name: str, visibility: str, tags: list[str]):
        img = conn.image.create_image(name=name, filename=str(image), disk_format="qcow2",
                                      container_format="bare", visibility=visibility, tags=tags,
                                      allow_duplicates=True, wait=True)
        created.append(img.id)
        return conn.image.get_image(img.id)

    own = upload(f"check-{uid}-own", "private", [])
    time.sleep(1.1)                              # created_at has one-second steps
    tagged = upload(f"check-{uid}-tagged", "public", ["trove", tag])
    trove.mgmt_ds_versions.create("1.0", ds, "postgresql", "", image_tags=["trove", tag],
                                  active="true", default="false", version="1.0")
    small = conn.compute.create_flavor(name=f"check-{uid}-small", ram=512, vcpus=1, disk=1)
    big = conn.compute.create_flavor(name=f"check-{uid}-big", ram=512, vcpus=1, disk=2000)
    app = Appliance()
    try:
        run_checks(image, app=app)               # adds the image and launches, once
        yield {"conn": conn, "trove": trove, "image": image, "app": app, "own": own,
               "tagged": tagged, "upload": upload, "tag": tag, "ds": ds, "small": small,
               "big": big, "service": devcloud.service_project}
    finally:
        app.close()
        for v in trove.mgmt_ds_versions.list():
            if v.datastore_name == ds:
                trove.mgmt_ds_versions.delete(v.id)
        for d in trove.datastores.list():
            if d.name == ds:
                trove.datastores.delete(d.id)
        for i in created:
            conn.image.delete_image(i, ignore_missing=True)
        for fl in (small, big):
            conn.compute.delete_flavor(fl, ignore_missing=True)


def check(world, **opts):
    return run_checks(world["image"], app=world["app"], conn=world["conn"],
                      options=CheckOptions(style="container", **opts))


def test_release_stated_matches_or_not(world):
    assert ids(check(world, trove_release="2026.2", glance_image=world["tagged"].id)) == []
    found = check(world, trove_release="epoxy", glance_image=world["tagged"].id)
    assert ids(found) == ["trove-release-mismatch"]
    assert "2025.1" in found[0].message and "2026.2" in found[0].message
    assert "--trove-release 2025.1" in found[0].fix


def test_release_unknown_when_nobody_says(world):
    stated = world["conn"].config.config.get("trove_release")
    found = ids(check(world, glance_image=world["tagged"].id))
    assert found == ([] if stated else ["trove-release-unknown"])


def test_private_image_of_another_project_is_not_visible_to_trove(world):
    found = check(world, trove_release="2026.2", glance_image=world["own"].id)
    assert ids(found) == ["glance-image-not-visible"]
    assert "private" in found[0].message


def test_the_glance_copy_is_found_by_checksum(world):
    # no --glance-image: the newest active image with the file's size and sha512
    # is the public tagged one (uploaded after the private one)
    found = check(world, trove_release="2026.2")
    assert ids(found) == []


def test_shared_but_not_accepted_is_not_visible(world):
    conn, img = world["conn"], world["own"]
    service = conn.identity.find_project(world["service"])
    conn.image.update_image(img, visibility="shared")
    conn.image.add_member(img, member_id=service.id)
    try:
        found = check(world, trove_release="2026.2", glance_image=img.id)
        assert ids(found) == ["glance-image-not-visible"]
        assert "pending" in found[0].message
    finally:
        conn.image.remove_member(service.id, img)
        conn.image.update_image(img, visibility="private")


def test_datastore_version_tags_select_exactly_one_image(world):
    assert ids(check(world, trove_release="2026.2", db=world["ds"], version="1.0",
                     glance_image=world["tagged"].id)) == []


def test_datastore_version_missing(world):
    found = check(world, trove_release="2026.2", db=world["ds"], version="9.9",
                  glance_image=world["tagged"].id)
    assert ids(found) == ["datastore-version-missing"]


def test_two_images_with_the_tags_are_ambiguous(world):
    extra = world["upload"](f"check-{world['tag']}-second", "public", ["trove", world["tag"]])
    try:
        found = check(world, trove_release="2026.2", db=world["ds"], version="1.0",
                      glance_image=world["tagged"].id)
        assert ids(found) == ["datastore-tags-ambiguous"]
        assert extra.id in found[0].message          # the newest wins
    finally:
        world["conn"].image.delete_image(extra, ignore_missing=True)


def test_no_active_image_with_the_tags(world):
    conn, tagged = world["conn"], world["tagged"]
    conn.image.deactivate_image(tagged)
    try:
        found = check(world, trove_release="2026.2", db=world["ds"], version="1.0",
                      glance_image=tagged.id)
        assert ids(found) == ["datastore-tags-no-image"]
    finally:
        conn.image.reactivate_image(tagged)


def test_flavors_smaller_than_the_image(world):
    conn, tagged = world["conn"], world["tagged"]
    conn.image.update_image(tagged, min_disk=1000)   # between our two flavors
    try:
        found = check(world, trove_release="2026.2", db=world["ds"], version="1.0",
                      glance_image=tagged.id)
        assert ids(found) == ["flavor-too-small"]
        assert world["small"].name in found[0].message and world["big"].name not in found[0].message
        assert "1000 GB" in found[0].message
    finally:
        conn.image.update_image(tagged, min_disk=0)


def test_version_naming_a_deleted_image(world):
    conn, trove = world["conn"], world["trove"]
    doomed = world["upload"](f"check-{world['tag']}-doomed", "public", [])
    trove.mgmt_ds_versions.create("2.0", world["ds"], "postgresql", doomed.id, active="true",
                                  default="false", version="2.0")
    conn.image.delete_image(doomed)
    found = check(world, trove_release="2026.2", db=world["ds"], version="2.0",
                  glance_image=world["tagged"].id)
    assert ids(found) == ["datastore-image-missing"]
    assert doomed.id in found[0].message


def test_cli_with_a_cloud_and_no_launch(devcloud, file_fault_images):
    # an image whose backing file lies elsewhere is never opened: no appliance
    # launch, and the cloud checks still run
    path, _ = file_fault_images["backing-outside"]
    proc = devcloud.run_cli("check", "--json", "--os-cloud", devcloud.cloud, str(path))
    assert proc.returncode == 4, proc.stderr
    assert "starting the appliance" not in proc.stderr
    report = json.loads(proc.stdout)
    entry = report["images"][0]
    assert [f["id"] for f in entry["findings"]][0] == "image-backing-file"
    assert entry["summary"]["cloud"] == devcloud.cloud
    assert "connecting to cloud" in proc.stderr
