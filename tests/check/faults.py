"""Faults seeded into copies of a good tiny image, each with the one finding
`imagekit check` must report for it (and nothing else).

Most are TinySpec variants (all built in one appliance launch and cached);
the qcow2-level faults are made from the good image with qemu-img; a few are
made through the customization engine (test_engine_faults.py)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from imagekit import paths
from imagekit.engine import Delete, Operation, Plan, run_plan
from imagekit.tools import qemuimg
from tests.imagefactory import TinySpec

AGENT_UNIT = ("[Unit]\nDescription=OpenStack Trove Guest Agent\nAfter=network.target\n"
              "[Service]\nUser={user}\nGroup={user}\nExecStart={exec}\nRestart=always\n"
              "[Install]\nWantedBy=multi-user.target\n")
VENV_AGENT = "/opt/guest-agent-venv/bin/trove-guestagent"


def unit(user: str = "ubuntu", exec_: str = f"{VENV_AGENT} --config-dir=/etc/trove/conf.d"
         ) -> tuple[str, str]:
    return ("/etc/systemd/system/guest-agent.service", AGENT_UNIT.format(user=user, exec=exec_))


FAKE_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
            "-----END OPENSSH PRIVATE KEY-----\n")
PEM_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"
SHADOW_WITH_ROOT_HASH = (
    "root:$6$imagekit$Qf1l0m6w1r1kF5Zb7wW8m1x8cC0oQ2u3K0hZr0Gq9bYV7yQ1n2s3t4u5v6w7x8y9z0:"
    "19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nubuntu:!:19000:0:99999:7:::\n"
    "postgres:*:19000:0:99999:7:::\n")
DOCKER_GROUP = ("root:x:0:\ndaemon:x:1:\nsudo:x:27:ubuntu\nubuntu:x:1000:\npostgres:x:112:\n"
                "docker:x:999:ubuntu\n")
DOCKER_ENABLED = ("/etc/systemd/system/multi-user.target.wants/docker.service",
                  "[Unit]\nDescription=docker stand-in\n[Service]\nExecStart=/bin/true\n")
NETWORKD_BIN = ("/usr/lib/systemd/systemd-networkd", "#!/bin/sh\n# systemd-networkd stand-in\n")
NETWORKD_ENABLED = ("/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
                    "[Unit]\nDescription=systemd-networkd stand-in\n[Service]\nExecStart=/bin/true\n")


def build_record(db: str = "postgresql", version: str = "15", style: str = "container"
                 ) -> tuple[str, str]:
    return ("/etc/imagekit/build.json", json.dumps(
        {"schema": "imagekit.build/1", "recipe": {"db": db, "version": version, "style": style}}))


def db_index(*refs: str) -> tuple[str, str]:
    """imagekit's list of preloaded database images (the tarballs are not needed)."""
    return ("/var/lib/imagekit/db-images/index.json", json.dumps(
        [{"ref": r, "file": r.replace(":", "-") + ".tar", "digest": "sha256:" + "0" * 64,
          "source": "imagekit test stand-in", "arch": "amd64"} for r in refs]))


AGENT_DIR = ("/opt/trove-guestagent", 0o755, 1000, 1000)
# The good image of the 2026.2 agent: docker (enabled, the guest user in its
# group), /opt/trove-guestagent, postgres:15 preloaded, networkd enabled.
GOOD = TinySpec(db_packages=("docker.io",), extra_dirs=(AGENT_DIR,), extra_files=(
    ("/etc/group", DOCKER_GROUP), DOCKER_ENABLED, NETWORKD_BIN, NETWORKD_ENABLED, build_record(),
    db_index("postgres:15")))
# The good image of an Ussuri agent: PostgreSQL from the distribution, enabled.
NATIVE_GOOD = TinySpec(trove_version="13.0.1", extra_files=(
    NETWORKD_BIN, NETWORKD_ENABLED, build_record(style="native")))


def good(*add: tuple[str, str], drop: tuple[str, ...] = (), base: TinySpec = GOOD,
         **changes) -> TinySpec:
    """`base` with files added (replacing those of the same path) or dropped."""
    files = {p: t for p, t in base.extra_files if p not in drop}
    files.update(dict(add))
    return replace(base, extra_files=tuple(files.items()), **changes)


@dataclass(frozen=True)
class Fault:
    spec: TinySpec
    expect: tuple[str, ...]        # finding ids, in order; () = no findings at all


# name -> fault (built by the image factory, checked with default options)
FACTORY: dict[str, Fault] = {
    "good": Fault(GOOD, ()),
    "container-good": Fault(GOOD, ()),
    "native-good": Fault(NATIVE_GOOD, ()),
    "no-agent": Fault(good(agent=False), ("agent-missing",)),
    "agent-disabled": Fault(good(agent_enabled=False), ("agent-unit-disabled",)),
    "agent-no-conf-d": Fault(good(
        unit(exec_=f"{VENV_AGENT} --config-file=/etc/trove/trove-guestagent.conf")),
        ("agent-unit-no-conf-d",)),
    "agent-release-unknown": Fault(good(trove_version="99.0.0"), ("agent-release-unknown",)),
    "agent-release-inconsistent": Fault(good(
        ("/etc/imagekit/guest-agent.json", '{"release": "2025.1", "version": "23.1.0"}\n')),
        ("agent-release-inconsistent",)),
    "no-cloud-init": Fault(good(cloud_init=False), ("cloud-init-missing",)),
    "datasources-unset": Fault(good(datasources=()), ("cloud-init-datasources-unset",)),
    "datasources-nocloud": Fault(good(datasources=("NoCloud", "None")),
                                 ("cloud-init-datasources-unusable",)),
    "configdrive-only": Fault(good(datasources=("ConfigDrive",)),
                              ("cloud-init-datasource-mismatch",)),
    "openstack-only": Fault(good(datasources=("OpenStack",)), ()),
    # the agent runs as (and Trove's files would be owned by) a user that does not exist
    "ghost-user": Fault(good(unit(user="trove")), ("guest-user-missing",)),
    # the agent runs as daemon, who cannot write conf.d (ubuntu:ubuntu 0775)
    "conf-d-not-writable": Fault(good(unit(user="daemon"), base=NATIVE_GOOD),
                                 ("conf-d-not-writable",)),
    "baked-guest-info": Fault(good(
        ("/etc/trove/conf.d/guest_info.conf",
         "[DEFAULT]\nguest_id = 4a3f5c4e-0d4b-4d53-9f5a-7e0f1d2c3b4a\ndatastore_manager = postgresql\n")),
        ("baked-guest-info",)),
    "baked-guest-id": Fault(good(
        ("/etc/trove/conf.d/trove-guestagent.conf",
         "[DEFAULT]\ncontrol_exchange = trove\nguest_id = 4a3f5c4e-0d4b-4d53\n")),
        ("baked-guest-id",)),
    "private-keys": Fault(good(
        ("/home/ubuntu/.ssh/id_rsa", FAKE_KEY), ("/etc/trove/certs/rabbit-client.key", PEM_KEY)),
        ("private-key", "private-key")),
    "root-password": Fault(good(("/etc/shadow", SHADOW_WITH_ROOT_HASH)), ("password-hash",)),
    "controller-secret": Fault(good(
        ("/etc/trove/conf.d/trove-guestagent.conf",
         "[DEFAULT]\ntransport_url = rabbit://stackrabbit:s3cret@192.0.2.10:5672/\n"
         "control_exchange = trove\n[service_credentials]\nusername = trove\n"
         "password = s3cret\nproject_name = service\n")),
        ("controller-secret",)),
    "no-database": Fault(good(db_packages=()), ("runtime-missing",)),
    "mysql-not-enabled": Fault(good(base=NATIVE_GOOD, db_packages=("mysql-server",)),
                               ("db-service-disabled",)),
    "docker-disabled": Fault(good(drop=(DOCKER_ENABLED[0],)), ("docker-disabled",)),
    "docker-group": Fault(good(drop=("/etc/group",)), ("docker-group",)),
    # -- what the agent's release runs, and the network --------------------------------------
    # what `make demo` built: agent 26, PostgreSQL from the distribution, no docker
    "native-db-docker-agent": Fault(good(build_record(style="native"),
                                         db_packages=("postgresql-15",)),
                                    ("native-db-with-docker-agent",)),
    "native-beside-docker": Fault(good(db_packages=("docker.io", "postgresql-15")),
                                  ("native-db-enabled-beside-docker",)),
    "datastore-without-manager": Fault(good(build_record("redis", "7.0")),
                                       ("datastore-without-manager",)),
    "agent-folder-missing": Fault(good(extra_dirs=()), ("guest-agent-folder",)),
    "agent-folder-root": Fault(good(extra_dirs=(("/opt/trove-guestagent", 0o755, 0, 0),)),
                               ("guest-agent-folder",)),
    "network-unapplied": Fault(good(drop=(NETWORKD_ENABLED[0],)), ("network-renderer-unapplied",)),
    "stale-ifupdown": Fault(good(("/etc/network/interfaces.d/eth0",
                                  "auto eth0\niface eth0 inet dhcp\n")),
                            ("stale-ifupdown-stanza",)),
    "db-image-missing": Fault(good(db_index("mariadb:10.11")), ("db-image-missing",)),
}

# The good image in the other layouts (PReP + root on p2, separate /boot, LVM,
# xfs, ppc64le), built in the same launch as the faults.
LAYOUTS: dict[str, TinySpec] = {
    **{f"good-{lay}": replace(GOOD, layout=lay) for lay in ("prep", "boot", "lvm", "xfs")},
    "good-ppc64le": replace(GOOD, layout="prep", arch="ppc64le"),
}


FILE_FAULTS = {"backing-inside": ("image-backing-file",), "backing-outside": ("image-backing-file",),
               "data-file": ("image-data-file",), "truncated": ("image-truncated",),
               "corrupt": ("image-corrupt",), "blank": ("guest-no-os",)}


def _make_file_faults(good: Path, folder: Path, elsewhere: Path) -> None:
    import shutil
    import subprocess
    base = folder / "good-copy.qcow2"
    shutil.copyfile(good, base)
    qemuimg.create_overlay(folder / "backing-inside.qcow2", base, "qcow2")
    far = elsewhere / "good-elsewhere.qcow2"
    shutil.copyfile(good, far)
    qemuimg.create_overlay(folder / "backing-outside.qcow2", far, "qcow2")
    # an external data file (inside the folder, so the guest can still be read)
    subprocess.run(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2", "-o",
                    f"data_file={folder / 'data-file.raw'}", str(good),
                    str(folder / "data-file.qcow2")], check=True)
    with open(good, "rb") as src, open(folder / "truncated.qcow2", "wb") as dst:
        dst.write(src.read(good.stat().st_size // 2))
    corrupt = folder / "corrupt.qcow2"
    shutil.copyfile(good, corrupt)
    with open(corrupt, "r+b") as f:       # incompatible_features bit 1: "corrupt"
        f.seek(72 + 7)
        flags = f.read(1)[0]
        f.seek(72 + 7)
        f.write(bytes([flags | 0x02]))
    qemuimg.create(folder / "blank.qcow2", "64M")


def file_faults(good: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """qcow2-level faults made from the good image: name -> (path, expected ids).
    Made once and kept beside the tiny images (the files keep their identity,
    so their inspection stays cached); never modify them."""
    import fcntl
    import shutil
    root = paths.cache_dir() / "test-images"
    folder = root / f"check-file-faults-{good.stem}"
    done = folder / "complete"
    with open(root / f"check-file-faults-{good.stem}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            elsewhere = root / f"check-file-faults-{good.stem}-elsewhere"
            for d in (folder, elsewhere):
                shutil.rmtree(d, ignore_errors=True)
                d.mkdir()
            _make_file_faults(good, folder, elsewhere)
            done.write_text("")
    return {name: (folder / f"{name}.qcow2", expect) for name, expect in FILE_FAULTS.items()}


# -- faults seeded through the customization engine ---------------------------------------------
@dataclass(frozen=True)
class EngineFault:
    operations: tuple[Operation, ...]
    expect: tuple[str, ...]


ENGINE: dict[str, EngineFault] = {
    # no /etc/trove/conf.d (the factory always makes it)
    "conf-d-deleted": EngineFault((Delete(path="/etc/trove/conf.d"),), ("conf-d-missing",)),
    # the agent's code stays, its unit and the enabling symlink go
    "unit-deleted": EngineFault((Delete(path="/etc/systemd/system/guest-agent.service"),
                                 Delete(path="/etc/systemd/system/*.wants/guest-agent.service")),
                                ("agent-unit-missing",)),
}


def engine_fault_images(good: Path) -> dict[str, Path]:
    """The engine faults: run_plan on the good image (one launch per plan),
    cached beside the tiny images by the good image's name and the plan."""
    out = {}
    for name, fault in ENGINE.items():
        key = hashlib.sha256(f"{good.name}|{fault.operations!r}".encode()).hexdigest()[:16]
        target = paths.cache_dir() / "test-images" / f"check-engine-{name}-{key}.qcow2"
        if not target.exists():
            tmp = target.with_name(f"building-{target.name}")
            run_plan(good, Plan.of(*fault.operations), tmp)
            tmp.replace(target)
            tmp.with_name(tmp.name + ".manifest.json").unlink(missing_ok=True)
        out[name] = target
    return out
