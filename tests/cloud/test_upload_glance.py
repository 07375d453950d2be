"""imagekit.cloud.glance against the devcloud's real Glance: tags, properties
and hash read back, re-upload sends 0 bytes, sharing with Trove's service
project, Glance's 415, and a Glance server killed mid-upload."""
from __future__ import annotations

import hashlib
import os
import signal
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from imagekit.cloud import glance
from imagekit.cloud.connect import connect
from imagekit.errors import CloudError
from imagekit.tools import qemuimg
from tests.cloud import helpers
from tests.cloud.helpers import devcloud_env_fixture  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def blob(tmp_path_factory) -> Path:
    """A real qcow2 of ~24 MiB of random data (big enough to be killed mid-way)."""
    d = tmp_path_factory.mktemp("blob")
    raw = d / "random.raw"
    raw.write_bytes(os.urandom(24 << 20))
    out = d / "blob.qcow2"
    qemuimg.convert(raw, out, src_format="raw")
    raw.unlink()
    return out


def _spec(path: Path, *, visibility: str = "auto") -> glance.ImageUpload:
    tag = f"t{uuid.uuid4().hex[:8]}"   # unique per test: no cross-talk between tests
    props = glance.image_properties(provenance="ab" * 32, os_distro="debian", os_version="12",
                                    architecture="x86_64")
    return glance.ImageUpload(path=path, name=f"imagekit-test-{tag}", tags=("trove", tag, "15"),
                              properties=props, visibility=visibility, min_disk_gb=1)


def _sha512(path: Path) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


def test_upload_reads_back_and_reuse_sends_nothing(devcloud_env, blob):
    conn = connect(devcloud_env.admin)
    spec = _spec(blob)
    first = glance.upload(conn, spec, cloud=devcloud_env.admin)
    try:
        assert not first.reused and first.bytes_sent == blob.stat().st_size
        img = conn.image.get_image(first.image_id)
        assert img.status == "active"
        assert img.name == spec.name
        assert set(img.tags) == set(spec.tags)
        assert (img.disk_format, img.container_format) == ("qcow2", "bare")
        assert img.hash_algo == "sha512" and img.hash_value == _sha512(blob) == first.sha512
        assert img.os_distro == "debian" and img.os_version == "12"
        assert img.architecture == "x86_64" and img.hw_rng_model == "virtio"
        assert img.properties[glance.PROVENANCE_KEY] == "ab" * 32
        assert img.min_disk == 1
        # uploaded from the admin project: shared with Trove's service project, accepted
        service = conn.identity.find_project("service").id
        assert img.visibility == "shared" and first.shared_with == service
        assert conn.image.get_member(service, img).status == "accepted"

        sent: list[int] = []
        again = glance.upload(conn, spec, cloud=devcloud_env.admin, on_bytes=sent.append)
        assert again.reused and again.bytes_sent == 0 and not sent
        assert again.image_id == first.image_id
        same = [i for i in conn.image.images(tag=spec.tags[1])]
        assert [i.id for i in same] == [first.image_id]
    finally:
        conn.image.delete_image(first.image_id, ignore_missing=True)


def test_private_in_the_service_project(devcloud_env, tiny_images):
    conn = connect(devcloud_env.service)
    spec = _spec(tiny_images["single"])
    res = glance.upload(conn, spec, cloud=devcloud_env.service)
    try:
        img = conn.image.get_image(res.image_id)
        assert img.visibility == "private" and res.shared_with is None
        assert img.owner == conn.current_project_id
    finally:
        conn.image.delete_image(res.image_id, ignore_missing=True)


def test_content_not_matching_disk_format_is_415_explained(devcloud_env, tmp_path):
    conn = connect(devcloud_env.admin)
    raw = tmp_path / "not-a-qcow2.qcow2"
    raw.write_bytes(os.urandom(1 << 20))
    spec = _spec(raw)
    with pytest.raises(CloudError) as exc:
        glance.upload(conn, spec, cloud=devcloud_env.admin)
    err = exc.value
    assert err.status == 415 and err.request_id
    assert "HTTP 415" in err.message and "disk_format 'qcow2'" in err.message
    assert "qemu-img info" in err.hint
    # the refused upload leaves no queued image behind
    assert [i.id for i in conn.image.images(tag=spec.tags[1])] == []


def test_glance_killed_mid_upload_leaves_nothing_and_rerun_succeeds(devcloud_env, blob):
    conn = connect(devcloud_env.admin)
    spec = _spec(blob)
    killed: list[int] = []

    def kill_glance(sent: int) -> None:
        if sent >= (4 << 20) and not killed:
            killed.append(helpers.kill_service(devcloud_env.stack, "glance", signal.SIGKILL))

    with pytest.raises(CloudError) as exc:
        glance.upload(conn, spec, cloud=devcloud_env.admin, on_bytes=kill_glance)
    assert killed, "the upload finished before Glance could be killed"
    assert "broke after" in exc.value.message and "run the same command again" in exc.value.hint

    helpers.restart(devcloud_env.stack)
    conn = connect(devcloud_env.admin)
    half = [i for i in conn.image.images(tag=spec.tags[1])]
    assert half and all(i.status in glance.LEFTOVER_STATES for i in half)

    res = glance.upload(conn, spec, cloud=devcloud_env.admin)
    try:
        assert not res.reused and set(res.leftovers_removed) == {i.id for i in half}
        left = [(i.id, i.status) for i in conn.image.images(tag=spec.tags[1])]
        assert left == [(res.image_id, "active")]
    finally:
        conn.image.delete_image(res.image_id, ignore_missing=True)


def test_same_size_other_content_is_not_reused(devcloud_env, blob, tmp_path):
    """Reuse is decided by the sha512, not by name or size."""
    conn = connect(devcloud_env.admin)
    spec = _spec(blob)
    first = glance.upload(conn, spec, cloud=devcloud_env.admin)
    other = tmp_path / "other.qcow2"
    data = bytearray(blob.read_bytes())
    data[-4096] ^= 0xFF                   # a byte of guest data: still a valid qcow2
    other.write_bytes(bytes(data))
    try:
        second = glance.upload(conn, replace(spec, path=other), cloud=devcloud_env.admin)
        assert not second.reused and second.image_id != first.image_id
        assert second.sha512 == _sha512(other) != first.sha512
    finally:
        for i in conn.image.images(tag=spec.tags[1]):
            conn.image.delete_image(i.id, ignore_missing=True)


def test_private_outside_the_service_project_is_refused(devcloud_env, tiny_images):
    conn = connect(devcloud_env.admin)
    spec = _spec(tiny_images["single"], visibility="private")
    with pytest.raises(CloudError) as exc:
        glance.upload(conn, spec, cloud=devcloud_env.admin)
    assert "not Trove's service project" in exc.value.message
    assert [i.id for i in conn.image.images(tag=spec.tags[1])] == []


def test_unknown_service_project(devcloud_env, tiny_images):
    conn = connect(devcloud_env.admin)
    spec = replace(_spec(tiny_images["single"]), service_project="no-such-project")
    with pytest.raises(CloudError) as exc:
        glance.upload(conn, spec, cloud=devcloud_env.admin)
    assert "does not exist" in exc.value.message and "--service-project" in exc.value.hint
