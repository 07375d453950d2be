"""`imagekit verify` on real boots: the image `imagekit make -d postgresql -I`
builds becomes an ACTIVE, HEALTHY Trove instance in the devcloud (real
Keystone, Glance, Nova API, Trove API, taskmanager, conductor, RabbitMQ;
the VM is the devcloud's local compute, a stand-in for nova-compute) and
answers a query; copies of it seeded with one fault each (through the
engine) fail at their phase, with their reason. Each case is one real boot
under qemu (TCG here: 4-6 min each).

Read back independently of verify: the query's answer comes from psql; what
is left afterwards is read from the process table, the compute folder,
Glance and Trove's management API."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from imagekit.engine.plan import DbImageOp, Delete, Plan, WriteFile
from imagekit.engine.runner import run_plan
from imagekit.verify.runner import VerifyOptions, verify

pytestmark = [pytest.mark.slow, pytest.mark.guestfs]

TIMEOUT = 1200.0


@pytest.fixture(scope="module")
def pg_image() -> Path:
    from tests import dibimages
    return dibimages.db_image("postgresql")


def _verify(devcloud, image: Path):
    return verify(VerifyOptions(image=image, datastore="postgresql", version="15",
                                cloud=devcloud.cloud_name, state_dir=devcloud.layout.state_dir,
                                timeout=TIMEOUT))


def _qemus(state_dir: Path) -> list[int]:
    """qemu processes whose command line names a file of this devcloud."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "qemu-system" in cmd and str(state_dir) in cmd:
            out.append(int(pid))
    return out


def _nothing_left(devcloud, before_images: set[str]) -> None:
    state = devcloud.layout.state_dir
    assert _qemus(state) == []
    compute = state / "compute"
    assert not compute.exists() or list(compute.iterdir()) == []
    conn = devcloud.connect()
    images = {i.id for i in conn.image.images()}
    assert images <= before_images, f"images left behind: {images - before_images}"
    trove = devcloud.trove()
    assert [i.id for i in trove.instances.list()] == []
    names = [v.name for v in trove.mgmt_ds_versions.list()]
    assert not [n for n in names if "imagekit-verify" in n], names


def _seeded(src: Path, dest: Path, *ops) -> Path:
    run_plan(src, Plan.of(*ops, network=False), dest, mode="standalone")
    return dest


def test_make_image_becomes_active_and_answers(devcloud, pg_image):
    before = {i.id for i in devcloud.connect().image.images()}
    size, mtime = pg_image.stat().st_size, pg_image.stat().st_mtime_ns
    res = _verify(devcloud, pg_image)
    assert res.ok, f"{res.stalled}: {res.error} ({res.hint})"
    reached = {p.id: p.seconds for p in res.phases}
    assert all(v is not None for v in reached.values()), reached
    assert reached["api-active"] >= reached["prepare-received"] >= reached["vm-started"]
    assert res.query and "42" in res.query
    assert (pg_image.stat().st_size, pg_image.stat().st_mtime_ns) == (size, mtime)
    _nothing_left(devcloud, before)


AGENT_WANTS = "/etc/systemd/system/multi-user.target.wants/guest-agent.service"
FAULTS = {
    # name: (operations seeded with the engine, the phase it stalls before, words of the reason)
    "agent-unit-disabled": ((Delete(path=AGENT_WANTS),), "agent-started", "never started"),
    "docker-missing": ((Delete(path="/etc/systemd/system/multi-user.target.wants/docker.service"),
                        Delete(path="/etc/systemd/system/sockets.target.wants/docker.socket"),
                        Delete(path="/usr/sbin/dockerd")),
                       "agent-connected", "docker"),
    "no-manager": ((WriteFile(path="/etc/trove/conf.d/zz-seeded.conf",
                              content=b"[DEFAULT]\ndatastore_manager = redis\n"),),
                   "agent-connected", "redis"),
    "bus-nowhere": ((WriteFile(path="/etc/trove/conf.d/zz-seeded.conf",
                               content=b"[DEFAULT]\ntransport_url = rabbit://nobody:none@10.0.2.2:9/\n"),),
                    "agent-connected", "bus"),
    "db-image-missing": ((Delete(path="/var/lib/imagekit/db-images"),
                          Delete(path="/var/lib/docker/image"),
                          Delete(path="/var/lib/docker/overlay2")),
                         "database-answers", "image"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_seeded_fault_fails_at_its_phase(devcloud, pg_image, tmp_path, fault):
    ops, phase, words = FAULTS[fault]
    image = _seeded(pg_image, tmp_path / f"{fault}.qcow2", *ops)
    before = {i.id for i in devcloud.connect().image.images()}
    res = _verify(devcloud, image)
    assert not res.ok
    assert res.stalled == phase, (res.stalled, res.error, res.hint)
    text = f"{res.error} {res.hint}".lower()
    assert words in text, text
    assert res.hint
    _nothing_left(devcloud, before)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_db_image_of_another_architecture_is_refused_and_nothing_written(tiny_copy, tmp_path):
    """Bad input: a ppc64le database image for an x86_64 image. One line naming
    both architectures; no output image; the source unchanged."""
    from imagekit.errors import ImagekitError
    from tests.dbimage.archives import docker_archive
    src = tiny_copy("single")
    before = src.read_bytes()
    archive = docker_archive(tmp_path / "ppc.tar", arch="ppc64le", tags=["postgres:15"])
    out = tmp_path / "out.qcow2"
    with pytest.raises(ImagekitError) as err:
        run_plan(src, Plan.of(DbImageOp(spec=str(archive), db="postgresql", version="15"),
                              network=False), out, mode="standalone")
    assert "ppc64le" in err.value.message and "amd64" in err.value.message, err.value.message
    assert not out.exists()
    assert src.read_bytes() == before
