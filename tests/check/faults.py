"""Faults seeded into copies of a good tiny image, each with the one finding
`imagekit check` must report for it (and nothing else).

Most are TinySpec variants (all built in one appliance launch and cached);
the qcow2-level faults are made from the good image with qemu-img; a few are
made through the customization engine (test_engine_faults.py)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from imagekit.tools import qemuimg
from tests.imagefactory import TinySpec

GOOD = TinySpec()

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


@dataclass(frozen=True)
class Fault:
    spec: TinySpec
    expect: tuple[str, ...]        # finding ids, in order; () = no findings at all


# name -> fault (built by the image factory, checked with default options)
FACTORY: dict[str, Fault] = {
    "good": Fault(GOOD, ()),
    "container-good": Fault(replace(GOOD, db_packages=("docker.io",),
                                    extra_files=(("/etc/group", DOCKER_GROUP), DOCKER_ENABLED)), ()),
    "no-agent": Fault(replace(GOOD, agent=False), ("agent-missing",)),
    "agent-disabled": Fault(replace(GOOD, agent_enabled=False), ("agent-unit-disabled",)),
    "agent-no-conf-d": Fault(replace(GOOD, extra_files=(
        unit(exec_=f"{VENV_AGENT} --config-file=/etc/trove/trove-guestagent.conf"),)),
        ("agent-unit-no-conf-d",)),
    "agent-release-unknown": Fault(replace(GOOD, trove_version="99.0.0"), ("agent-release-unknown",)),
    "agent-release-inconsistent": Fault(replace(GOOD, extra_files=(
        ("/etc/imagekit/guest-agent.json", '{"release": "2025.1", "version": "23.1.0"}\n'),)),
        ("agent-release-inconsistent",)),
    "no-cloud-init": Fault(replace(GOOD, cloud_init=False), ("cloud-init-missing",)),
    "datasources-unset": Fault(replace(GOOD, datasources=()), ("cloud-init-datasources-unset",)),
    "datasources-nocloud": Fault(replace(GOOD, datasources=("NoCloud", "None")),
                                 ("cloud-init-datasources-unusable",)),
    "configdrive-only": Fault(replace(GOOD, datasources=("ConfigDrive",)),
                              ("cloud-init-datasource-mismatch",)),
    "openstack-only": Fault(replace(GOOD, datasources=("OpenStack",)), ()),
    # the agent runs as (and Trove's files would be owned by) a user that does not exist
    "ghost-user": Fault(replace(GOOD, extra_files=(unit(user="trove"),)), ("guest-user-missing",)),
    # the agent runs as daemon, who cannot write conf.d (ubuntu:ubuntu 0775)
    "conf-d-not-writable": Fault(replace(GOOD, extra_files=(unit(user="daemon"),)),
                                 ("conf-d-not-writable",)),
    "baked-guest-info": Fault(replace(GOOD, extra_files=(
        ("/etc/trove/conf.d/guest_info.conf",
         "[DEFAULT]\nguest_id = 4a3f5c4e-0d4b-4d53-9f5a-7e0f1d2c3b4a\ndatastore_manager = postgresql\n"),)),
        ("baked-guest-info",)),
    "baked-guest-id": Fault(replace(GOOD, extra_files=(
        ("/etc/trove/conf.d/trove-guestagent.conf",
         "[DEFAULT]\ncontrol_exchange = trove\nguest_id = 4a3f5c4e-0d4b-4d53\n"),)),
        ("baked-guest-id",)),
    "private-keys": Fault(replace(GOOD, extra_files=(
        ("/home/ubuntu/.ssh/id_rsa", FAKE_KEY), ("/etc/trove/certs/rabbit-client.key", PEM_KEY))),
        ("private-key", "private-key")),
    "root-password": Fault(replace(GOOD, extra_files=(("/etc/shadow", SHADOW_WITH_ROOT_HASH),)),
                           ("password-hash",)),
    "controller-secret": Fault(replace(GOOD, extra_files=(
        ("/etc/trove/conf.d/trove-guestagent.conf",
         "[DEFAULT]\ntransport_url = rabbit://stackrabbit:s3cret@192.0.2.10:5672/\n"
         "control_exchange = trove\n[service_credentials]\nusername = trove\n"
         "password = s3cret\nproject_name = service\n"),)),
        ("controller-secret",)),
    "no-database": Fault(replace(GOOD, db_packages=()), ("runtime-missing",)),
    "mysql-not-enabled": Fault(replace(GOOD, db_packages=("mysql-server",)), ("db-service-disabled",)),
    "docker-disabled": Fault(replace(GOOD, db_packages=("docker.io",),
                                     extra_files=(("/etc/group", DOCKER_GROUP),)),
                             ("docker-disabled",)),
    "docker-group": Fault(replace(GOOD, db_packages=("docker.io",), extra_files=(DOCKER_ENABLED,)),
                          ("docker-group",)),
}


def file_faults(good: Path, folder: Path, elsewhere: Path) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """qcow2-level faults made from the good image: name -> (path, expected ids).
    `elsewhere` is a folder that is not `folder` (for a backing file outside)."""
    import shutil
    import subprocess
    out: dict[str, tuple[Path, tuple[str, ...]]] = {}
    base = folder / "good-copy.qcow2"
    shutil.copyfile(good, base)
    inside = folder / "overlay-inside.qcow2"
    qemuimg.create_overlay(inside, base, "qcow2")
    out["backing-inside"] = (inside, ("image-backing-file",))
    far = elsewhere / "good-elsewhere.qcow2"
    shutil.copyfile(good, far)
    outside = folder / "overlay-outside.qcow2"
    qemuimg.create_overlay(outside, far, "qcow2")
    out["backing-outside"] = (outside, ("image-backing-file",))
    # an external data file (inside the folder, so the guest can still be read)
    datafile = folder / "with-data-file.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-f", "qcow2", "-O", "qcow2", "-o",
                    f"data_file={folder / 'with-data-file.raw'}", str(good), str(datafile)],
                   check=True)
    out["data-file"] = (datafile, ("image-data-file",))
    truncated = folder / "truncated.qcow2"
    with open(good, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(good.stat().st_size // 2))
    out["truncated"] = (truncated, ("image-truncated",))
    corrupt = folder / "corrupt.qcow2"
    shutil.copyfile(good, corrupt)
    with open(corrupt, "r+b") as f:       # incompatible_features bit 1: "corrupt"
        f.seek(72 + 7)
        flags = f.read(1)[0]
        f.seek(72 + 7)
        f.write(bytes([flags | 0x02]))
    out["corrupt"] = (corrupt, ("image-corrupt",))
    blank = folder / "blank.qcow2"
    qemuimg.create(blank, "64M")
    out["blank"] = (blank, ("guest-no-os",))
    return out
