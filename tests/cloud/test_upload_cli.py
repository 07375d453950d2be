"""`imagekit upload` and `dbimage-upload` end to end against the devcloud, as
an operator runs them (the real console scripts):

- one golden image to two clouds in one command: one appliance launch (the
  re-target and the checks), the same bytes in both Glances, the -k key read
  from each cloud's Nova; a re-run sends 0 bytes and launches nothing;
- dbimage-upload with the original letters (-d -v -f -k -s -b), dbimagerc
  (DBIMAGE_SOURCE, DBIMAGE_CONTROLLER_IP + ssh key): the version points at the
  uploaded image and is the default, the refused parameter types are loaded
  with trove-manage over a real ssh connection;
- what landed in the image (authorized_keys of -b, the -s command's work, new
  host keys), read from the very files that were uploaded;
- the offline checks stop an upload (exit 4) unless --force.

Appliance launches: 4 (two re-targets, one read-back, one check)."""
from __future__ import annotations

import hashlib
import json
import shlex
import uuid
from pathlib import Path

import pytest

from imagekit import recipes
from imagekit.cloud import naming
from imagekit.cloud.connect import connect, trove_client
from imagekit.tools import qemuimg
from tests.cloud.helpers import devcloud_env_fixture  # noqa: F401 - the fixture
from tests.util import run_cli

pytestmark = pytest.mark.slow


def _sha(path: Path, algo: str = "sha512") -> str:
    return hashlib.new(algo, path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Path:
    """A private copy of a tiny image the 2026.2 agent can run (container style,
    no check errors; a new file: nothing cached from earlier runs)."""
    from tests import imagefactory
    from tests.check.faults import GOOD
    src = imagefactory.cached_images({"good": GOOD})["good"]
    dest = tmp_path_factory.mktemp("golden") / "golden.qcow2"
    dest.write_bytes(src.read_bytes())
    return dest


@pytest.fixture(scope="module")
def keypair(devcloud_env, tmp_path_factory):
    """The same public key as keypair KP in both clouds (keypairs are per user)."""
    import subprocess
    d = tmp_path_factory.mktemp("key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dba@imagekit-test",
                    "-f", str(d / "id")], check=True)
    pub = (d / "id.pub").read_text().strip()
    name = f"kp{uuid.uuid4().hex[:8]}"
    conns = [connect(c) for c in (devcloud_env.admin, devcloud_env.second)]
    for c in conns:
        c.compute.create_keypair(name=name, public_key=pub)
    yield name, pub
    for c in conns:
        c.compute.delete_keypair(name, ignore_missing=True)


def _env(devcloud_env, images: Path, **extra: str) -> dict[str, str]:
    return {"OS_CLIENT_CONFIG_FILE": str(devcloud_env.clouds_yaml), "OS_CLOUD": "",
            "IMAGEKIT_IMAGES_DIR": str(images), "DBIMAGERC": "", **extra}


@pytest.fixture(scope="module")
def two_clouds(devcloud_env, golden, keypair, tmp_path_factory):
    """imagekit upload to both clouds, run twice: (first json, second json, images dir)."""
    images = tmp_path_factory.mktemp("images-two")
    args = ("upload", "-f", str(golden), "-d", "postgresql", "-v", "15", "-k", keypair[0],
            "--os-cloud", devcloud_env.admin, "--os-cloud", devcloud_env.second,
            "--image-tags", "--json")
    runs = []
    for _ in range(2):
        proc = run_cli(*args, env=_env(devcloud_env, images), timeout=1200)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout))
    return runs[0], runs[1], images


def test_one_golden_image_two_clouds_one_launch(devcloud_env, two_clouds, golden):
    first, _, images = two_clouds
    assert first["launches"] == 1 and len(first["prepared"]) == 1
    prepared = first["prepared"][0]
    out = Path(prepared["path"])
    assert out.parent == images / "retarget" and out.is_file()
    assert sorted(prepared["clouds"]) == sorted([devcloud_env.admin, devcloud_env.second])
    assert _sha(golden, "sha256") != _sha(out, "sha256")          # re-targeted, not the golden
    manifest = Path(prepared["manifest"])
    assert manifest == out.with_name(out.name + ".manifest.json")
    by_cloud = {c["cloud"]: c for c in first["clouds"]}
    assert set(by_cloud) == {devcloud_env.admin, devcloud_env.second}
    for cloud, res in by_cloud.items():
        up = res["upload"]
        assert not up["reused"] and up["bytes_sent"] == out.stat().st_size
        img = connect(cloud).image.get_image(up["image_id"])
        assert img.name == naming.image_name("postgresql", "15")
        assert img.status == "active" and img.hash_value == _sha(out)
        assert set(img.tags) == {"trove", "postgresql", "15"}
        assert (img.disk_format, img.container_format) == ("qcow2", "bare")
        assert (img.os_distro, img.os_version, img.architecture) == ("debian", "12", "x86_64")
        assert img.hw_rng_model == "virtio"
        assert img.properties["imagekit_provenance"] == _sha(manifest, "sha256")
        assert img.visibility == "shared"
        dv = res["datastore_version"]
        assert dv["image_tags"] == ["trove", "postgresql", "15"] and dv["is_default"]


def test_rerun_sends_nothing_and_launches_nothing(two_clouds):
    first, second, _ = two_clouds
    assert second["launches"] == 0
    for a, b in zip(first["clouds"], second["clouds"], strict=True):
        assert b["upload"]["reused"] and b["upload"]["bytes_sent"] == 0
        assert b["upload"]["image_id"] == a["upload"]["image_id"]
        assert b["datastore_version"]["version_id"] == a["datastore_version"]["version_id"]
        assert not b["datastore_version"]["created"] and b["datastore_version"]["changed"] == []
        assert b["parameters"]["created"] == 0 and b["parameters"]["updated"] == 0


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    from tests.build import sshd as sshd_mod
    server = sshd_mod.start(tmp_path_factory.mktemp("sshd"))
    yield server
    sshd_mod.stop(server)


@pytest.fixture(scope="module")
def seed_run(devcloud_env, golden, keypair, sshd, tmp_path_factory):
    """dbimage-upload with the original's options and a dbimagerc."""
    images = tmp_path_factory.mktemp("images-seed")
    stack = devcloud_env.stack
    conf = next(Path(stack.layout.conf).rglob("trove.conf"))
    rc = tmp_path_factory.mktemp("rc") / "dbimagerc"
    manage = shlex.join([str(stack.layout.bin("trove-manage")), "--config-file", str(conf)])
    rc.write_text(
        "# the original's dbimagerc, as a user edits it\n"
        "export DBIMAGE_SOURCE=-lab\n"
        f"export DBIMAGE_CONTROLLER_IP={sshd.host}\n"
        f"export DBIMAGE_CTRL_SSH_PORT={sshd.port}\n"
        f"export DBIMAGE_CTRL_USER={sshd.user}\n"
        f"export DBIMAGE_CTRL_PRIVATE_SSH_KEY={sshd.key}\n"
        f"export DBIMAGE_TROVE_MANAGE='{manage}'\n"
        "export no_proxy=127.0.0.1,localhost\n")
    # -f the original way: a file name in the images folder
    (images / "golden.qcow2").write_bytes(golden.read_bytes())
    cmd = ("echo dba:x:1001:1001::/home/dba:/bin/sh >> /etc/passwd && "
           "echo dba:x:1001: >> /etc/group && mkdir -p /home/dba && chown 1001:1001 /home/dba "
           "&& echo imagekit-was-here > /etc/imagekit-s-test")
    proc = run_cli("-d", "postgresql", "-v", "15", "-f", "golden.qcow2", "-k", keypair[0],
                   "-s", cmd, "-b", "dba", "--os-cloud", devcloud_env.admin,
                   program="dbimage-upload", timeout=1200,
                   env=_env(devcloud_env, images, DBIMAGERC=str(rc),
                            IMAGEKIT_CONFIG_DIR=str(tmp_path_factory.mktemp("config"))))
    assert proc.returncode == 0, proc.stderr
    return proc, images


def test_dbimage_upload_registers_the_default_version(devcloud_env, seed_run):
    proc, images = seed_run
    assert "dbName=postgresql" in proc.stdout and "dibUser=dba" in proc.stdout
    conn = connect(devcloud_env.admin)
    name = naming.image_name("postgresql", "15", source="-lab")    # DBIMAGE_SOURCE from dbimagerc
    imgs = list(conn.image.images(name=name))
    assert len(imgs) == 1 and imgs[0].status == "active"
    (out,) = (images / "retarget").glob("*.qcow2")
    assert imgs[0].hash_value == _sha(out)
    tc = trove_client(conn)
    ds = tc.datastores.get("postgresql")
    version = tc.datastore_versions.get("postgresql", "15")
    assert ds.default_version == version.id
    assert tc.mgmt_ds_versions.get(version.id).image == imgs[0].id
    # the recipe's registered package for the image's style (container: docker.io)
    want = recipes.resolve("postgresql", "15", style="container").pkg
    assert tc.mgmt_ds_versions.get(version.id).packages == [want]


def test_refused_parameters_loaded_over_ssh(devcloud_env, seed_run):
    proc, _ = seed_run
    assert "with trove-manage on" in proc.stderr and "not loaded" not in proc.stderr
    from imagekit.cloud import params
    tc = trove_client(connect(devcloud_env.admin))
    version = tc.datastore_versions.get("postgresql", "15")
    have = params.existing(tc, version.id)
    rules = params.load_rules(params.rules_file("postgresql", "15"))
    assert set(have) == {p.name for p in rules}
    assert have["autovacuum"]["type"] == "boolean"


def test_what_landed_in_the_uploaded_images(two_clouds, seed_run, keypair, golden):
    """One read-only launch over the golden image and both uploaded files."""
    from imagekit.guest.session import Appliance
    (a,) = (two_clouds[2] / "retarget").glob("*.qcow2")
    (b,) = (seed_run[1] / "retarget").glob("*.qcow2")
    pub = keypair[1]
    with Appliance() as app:
        for p in (golden, a, b):
            app.g.add_drive_opts(str(p), format="qcow2", readonly=True)
        app.g.launch()
        g = app.g

        def read(dev: str, path: str) -> bytes:
            g.mount_ro(dev, "/")
            try:
                return g.read_file(path) if g.is_file(path) else b""
            finally:
                g.umount_all()

        def host_keys(dev: str) -> dict[str, bytes]:
            g.mount_ro(dev, "/")
            try:
                return {f: g.read_file(f"/etc/ssh/{f}") for f in g.ls("/etc/ssh")
                        if f.startswith("ssh_host_") and f.endswith(".pub")}
            finally:
                g.umount_all()

        golden_keys = host_keys("/dev/sda1")
        # the two-cloud image: the Nova key for the default guest user
        assert pub.encode() in read("/dev/sdb1", "/home/ubuntu/.ssh/authorized_keys")
        assert pub.encode() not in read("/dev/sda1", "/home/ubuntu/.ssh/authorized_keys")
        new_keys = host_keys("/dev/sdb1")
        assert golden_keys and set(new_keys) == set(golden_keys)
        assert all(new_keys[k] != golden_keys[k] for k in golden_keys)
        assert read("/dev/sdb1", "/etc/machine-id").strip() == b""
        # the dbimage-upload image: -s ran, -b got the key
        assert read("/dev/sdc1", "/etc/imagekit-s-test") == b"imagekit-was-here\n"
        assert pub.encode() in read("/dev/sdc1", "/home/dba/.ssh/authorized_keys")
        g.mount_ro("/dev/sdc1", "/")
        uid = int(next(ln.split(":")[2] for ln in g.cat("/etc/passwd").splitlines()
                       if ln.startswith("dba:")))
        assert g.lstatns("/home/dba/.ssh/authorized_keys")["st_uid"] == uid
        assert g.is_file("/etc/imagekit/manifest.json")
        g.umount_all()


def test_check_errors_stop_the_upload_unless_forced(devcloud_env, golden, tmp_path):
    """An overlay (backing file beside it) is refused by the checks: Glance would
    store one file without its backing data."""
    overlay = golden.parent / f"overlay-{uuid.uuid4().hex[:6]}.qcow2"
    qemuimg.create_overlay(overlay, golden, "qcow2")
    try:
        proc = run_cli("upload", "--as-is", "-f", str(overlay), "-d", "postgresql", "-v", "15",
                       "--os-cloud", devcloud_env.admin, "--no-register",
                       env=_env(devcloud_env, tmp_path), timeout=900)
        assert proc.returncode == 4, proc.stderr
        assert "image-backing-file" in proc.stderr and "nothing was uploaded" in proc.stderr
        assert "--force" in proc.stderr
        conn = connect(devcloud_env.admin)
        assert not [i for i in conn.image.images() if i.size == overlay.stat().st_size]
    finally:
        overlay.unlink(missing_ok=True)
