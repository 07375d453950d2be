"""The check rules as pure functions of what was read in a guest (no
appliance): permissions, secrets, passwords, datasources, versions, sizes,
the check table and docs/checks.md."""
from __future__ import annotations

import argparse
import dataclasses
import re

import pytest

from imagekit.check import datastores, findings, offline, render
from imagekit.check.evidence import (
    CONF_D,
    GuestEvidence,
    GuestFile,
    PathStat,
    RuntimeEvidence,
    Space,
)
from imagekit.check.offline import CheckOptions
from imagekit.cli.check import parse_size
from imagekit.guest.facts import Agent, AgentUnit, CloudInit, GuestFacts, Package, Passwd
from tests.util import REPO, run_cli

UNIT = AgentUnit("guest-agent.service", "/etc/systemd/system/guest-agent.service", True,
                 "ubuntu", "/opt/v/bin/trove-guestagent --config-dir=/etc/trove/conf.d", True)
USERS = {"root": Passwd("root", 0, 0, "/root", "/bin/sh"),
         "daemon": Passwd("daemon", 1, 1, "/usr/sbin", "/usr/sbin/nologin"),
         "ubuntu": Passwd("ubuntu", 1000, 1000, "/home/ubuntu", "/bin/sh")}


NETWORKD = "/lib/systemd/systemd-networkd"
NATIVE_RUNTIME = RuntimeEvidence(programs=(NETWORKD,))


def evidence(**changes) -> GuestEvidence:
    """A good native-style guest as the checks see it (an Ussuri agent, which
    runs PostgreSQL from the distribution's package); `changes` replace fields."""
    fact_changes = {k: changes.pop(k) for k in list(changes) if k in
                    {f.name for f in dataclasses.fields(GuestFacts)}}
    facts = GuestFacts(
        agent=Agent(True, "/opt/v", "venv", "13.0.1", "ussuri", UNIT, None),
        packages=(Package("postgresql-15", "15.14-0+deb12u1"), Package("cloud-init", "22.4")),
        database_packages=(Package("postgresql-15", "15.14-0+deb12u1"),),
        cloud_init=CloudInit(True, "22.4", ("ConfigDrive", "OpenStack"), "/etc/cloud/x.cfg"),
        host_keys=(), authorized_keys=(), trove_conf_d=(), users=dict(USERS),
        enabled_units=("guest-agent.service", "postgresql.service", "systemd-networkd.service"))
    facts = dataclasses.replace(facts, **fact_changes)
    base = GuestEvidence(
        facts=facts, shadow={"root": "*", "ubuntu": "!"}, passwd_password={"root": "x"},
        group_members={"root": (), "ubuntu": (), "sudo": ("ubuntu",)},
        group_ids={"root": 0, "ubuntu": 1000, "sudo": 27},
        path_stats={"/": PathStat("/", 0, 0, 0o755, True),
                    "/etc": PathStat("/etc", 0, 0, 0o755, True),
                    "/etc/trove": PathStat("/etc/trove", 1000, 1000, 0o755, True),
                    CONF_D: PathStat(CONF_D, 1000, 1000, 0o775, True)},
        trove_files=(), guest_info=(), private_keys=(),
        root_space=Space(400 << 20, 500 << 20), runtime=NATIVE_RUNTIME)
    return dataclasses.replace(base, **changes)


DOCKER_RUNTIME = RuntimeEvidence(
    build_record={"recipe": {"db": "postgresql", "version": "15", "style": "container"}},
    agent_dir=PathStat("/opt/trove-guestagent", 1000, 1000, 0o755, True),
    programs=(NETWORKD, "/usr/bin/dockerd"), db_images=("postgres:15",),
    db_images_read=("/var/lib/imagekit/db-images/index.json",))


def docker_evidence(**changes) -> GuestEvidence:
    """A good guest of the 2026.2 agent: docker, the agent's user in its group,
    /opt/trove-guestagent, postgres:15 preloaded, networkd enabled."""
    good = dict(
        agent=Agent(True, "/opt/v", "venv", "26.0.0", "2026.2", UNIT, None),
        packages=(Package("docker.io", "20.10.24"), Package("cloud-init", "22.4")),
        database_packages=(),
        enabled_units=("guest-agent.service", "docker.service", "systemd-networkd.service"),
        group_members={"root": (), "ubuntu": (), "sudo": ("ubuntu",), "docker": ("ubuntu",)},
        group_ids={"root": 0, "ubuntu": 1000, "sudo": 27, "docker": 999},
        runtime=DOCKER_RUNTIME)
    return evidence(**{**good, **changes})


def ids(ev: GuestEvidence, **opts) -> list[str]:
    return [f.id for f in offline.run(ev, CheckOptions(**opts))]


def test_the_good_guest_has_no_findings():
    assert ids(evidence()) == []
    assert ids(docker_evidence()) == []


def test_check_table_ids_are_stable_kebab_case_and_documented():
    for c in findings.CHECKS.values():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", c.id), c.id
        assert c.title and c.why and c.fix
    text = (REPO / "docs" / "checks.md").read_text()
    assert text == render.checks_markdown(), \
        "docs/checks.md is stale: python -m imagekit.check.render > docs/checks.md"


def test_every_id_the_checks_can_emit_is_in_the_table():
    source = "\n".join(p.read_text() for p in (REPO / "imagekit" / "check").glob("*.py"))
    emitted = set(re.findall(r'found\(\s*"([a-z0-9-]+)"', source))
    assert emitted and emitted <= set(findings.CHECKS), emitted - set(findings.CHECKS)


@pytest.mark.parametrize("stats, user, ok", [
    ({}, "ubuntu", True),
    ({CONF_D: PathStat(CONF_D, 0, 0, 0o755, True)}, "ubuntu", False),          # root's
    ({CONF_D: PathStat(CONF_D, 0, 1000, 0o775, True)}, "ubuntu", True),        # via group
    ({CONF_D: PathStat(CONF_D, 0, 27, 0o775, True)}, "ubuntu", True),          # supplementary
    ({"/etc/trove": PathStat("/etc/trove", 0, 0, 0o700, True)}, "ubuntu", False),  # no search
    ({CONF_D: PathStat(CONF_D, 0, 0, 0o700, True)}, "root", True),
    ({CONF_D: PathStat(CONF_D, 1000, 1000, 0o575, True)}, "ubuntu", False),    # owner w off
])
def test_conf_d_writable(stats, user, ok):
    ev = evidence(path_stats={**evidence().path_stats, **stats})
    assert offline.can_write_dir(ev, USERS[user])[0] is ok
    got = ids(ev, guest_user=user)
    assert got == ([] if ok else ["conf-d-not-writable"])


def test_secrets_and_guest_ids_in_agent_config():
    assert offline.secrets_in("[DEFAULT]\ntransport_url = rabbit://u:pw@h:5672/\n") == \
        ["transport_url with a password"]
    assert offline.secrets_in("transport_url = rabbit://h:5672/\n") == []
    assert offline.secrets_in("[service_credentials]\npassword = x\n") == \
        ["[service_credentials] password"]
    assert offline.secrets_in("[service_credentials]\npassword =\n") == []
    assert offline.secrets_in("[DEFAULT]\nnova_proxy_admin_pass = x\n") == ["nova_proxy_admin_pass"]
    assert offline.secrets_in("[database]\nconnection = mysql+pymysql://r:p@h/trove\n") == \
        ["[database] connection with a password"]
    assert offline.guest_id_in("[DEFAULT]\n# guest_id = x\nguest_id=\n") is False
    assert offline.guest_id_in("[DEFAULT]\nguest_id = 42\n") is True


def test_controller_secret_is_a_warning_with_allow_baked_config():
    ev = evidence(trove_files=(GuestFile(f"{CONF_D}/trove-guestagent.conf",
                                         "[DEFAULT]\ntransport_url = rabbit://a:b@c/\n"),))
    strict = offline.run(ev, CheckOptions())
    lax = offline.run(ev, CheckOptions(allow_baked_config=True))
    assert [(f.id, f.severity) for f in strict] == [("controller-secret", findings.Severity.ERROR)]
    assert [(f.id, f.severity) for f in lax] == [("controller-secret", findings.Severity.WARNING)]


@pytest.mark.parametrize("field, bad", [("*", False), ("!", False), ("!$6$x$y", False),
                                        ("!!", False), ("$6$salt$hash", True), ("", True)])
def test_password_fields(field, bad):
    got = ids(evidence(shadow={"root": field, "ubuntu": "!"}))
    assert got == (["password-hash"] if bad else [])


def test_password_hash_in_passwd_itself():
    assert ids(evidence(shadow={}, passwd_password={"root": "$1$x$y"})) == ["password-hash"]


@pytest.mark.parametrize("sources, config_drive, expect", [
    (("ConfigDrive", "OpenStack"), False, []),
    (("ConfigDrive", "OpenStack"), True, []),
    (("OpenStack", "None"), False, []),
    (("ConfigDrive",), False, ["cloud-init-datasource-mismatch"]),
    (("ConfigDrive",), True, []),
    (("OpenStack",), True, ["cloud-init-datasource-mismatch"]),
    (("NoCloud", "None"), False, ["cloud-init-datasources-unusable"]),
    ((), False, ["cloud-init-datasources-unusable"]),
    (None, False, ["cloud-init-datasources-unset"]),
])
def test_datasources_fit_the_cloud(sources, config_drive, expect):
    ev = evidence(cloud_init=CloudInit(True, "22.4", sources, "/etc/cloud/cloud.cfg"))
    assert ids(ev, config_drive=config_drive) == expect


def test_agent_release_rules():
    unknown = evidence(agent=Agent(True, "/opt/v", "venv", None, None, UNIT, None))
    assert ids(unknown) == ["agent-release-unknown"]
    recorded = evidence(agent=Agent(True, "/opt/v", "venv", None, "ussuri", UNIT, "ussuri"))
    assert ids(recorded) == []
    stale = evidence(agent=Agent(True, "/opt/v", "venv", "13.0.1", "ussuri", UNIT, "train"))
    assert ids(stale) == ["agent-release-inconsistent"]
    unit_only = evidence(agent=Agent(True, None, None, None, None, UNIT, None))
    assert ids(unit_only) == ["agent-missing"]


@pytest.mark.parametrize("pkg, wanted, ok", [
    (Package("postgresql-15", "15.14-0+deb12u1"), "15", True),
    (Package("postgresql-15", "15.14-0+deb12u1"), "16", False),
    (Package("mariadb-server", "1:10.11.14-0+deb12u2"), "10.11", True),
    (Package("mariadb-server", "1:10.11.14-0+deb12u2"), "10.1", False),
    (Package("mysql-server-8.0", "8.0.39-0ubuntu0.22.04.1"), "8.0", True),
    (Package("redis-server", "5:7.0.15-1~deb12u5"), "7.0", True),
])
def test_database_version_matching(pkg, wanted, ok):
    assert datastores.version_matches(pkg, wanted) is ok


def test_style_is_told_from_the_image_or_given():
    docker = (Package("docker.io", "20.10"),)
    assert offline.resolve_style(evidence(), CheckOptions()) == "native"
    assert offline.resolve_style(evidence(packages=docker), CheckOptions()) == "container"
    assert offline.resolve_style(evidence(packages=()), CheckOptions()) is None
    assert offline.resolve_style(evidence(), CheckOptions(style="container")) == "container"
    assert ids(evidence(), db="postgresql", version="15") == []
    assert ids(evidence(), db="mariadb") == ["db-package-missing"]


def test_root_in_the_docker_group_is_not_needed():
    root_unit = dataclasses.replace(UNIT, user="root")
    ev = docker_evidence(agent=Agent(True, "/opt/v", "venv", "26.0.0", "2026.2", root_unit, None),
                         group_members={"root": (), "ubuntu": (), "docker": ()})
    assert ids(ev, guest_user="ubuntu") == []


@pytest.mark.parametrize("text, size", [("256M", 256 << 20), ("1G", 1 << 30), ("1.5GiB", 3 << 29),
                                        ("100", 100), ("2 MB", 2_000_000)])
def test_sizes(text, size):
    assert parse_size(text) == size


def test_bad_size_is_a_usage_error():
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size("lots")
    proc = run_cli("check", "--min-free", "lots", "x.qcow2")
    assert proc.returncode == 2 and "not a size" in proc.stderr


def test_version_without_datastore_is_a_usage_error(tmp_path):
    proc = run_cli("check", "-v", "8.4", str(tmp_path / "x.qcow2"))
    assert proc.returncode == 2 and "needs -d" in proc.stderr


def test_unknown_trove_release_is_refused_before_any_work(tmp_path):
    proc = run_cli("check", "--trove-release", "nosuch", str(tmp_path / "x.qcow2"))
    assert proc.returncode == 2 and "unknown Trove release" in proc.stderr


def test_missing_image_is_an_error_not_a_finding(tmp_path):
    proc = run_cli("check", str(tmp_path / "missing.qcow2"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "missing.qcow2" in proc.stderr


# -- what the agent's release runs, the network ---------------------------------------------
PG = (Package("postgresql-15", "15.14-0+deb12u1"),)


def test_native_database_with_a_docker_agent():
    # the image `make demo` built: agent 26, PostgreSQL from the distribution, no docker
    ev = docker_evidence(packages=PG, enabled_units=("guest-agent.service", "postgresql.service",
                                                     "systemd-networkd.service"),
                         runtime=dataclasses.replace(DOCKER_RUNTIME, programs=(NETWORKD,)))
    got = offline.run(ev, CheckOptions())
    assert [f.id for f in got] == ["native-db-with-docker-agent"]
    assert "no docker and postgresql-15" in got[0].message and "2026.2" in got[0].message
    # told native on purpose: the same
    assert ids(docker_evidence(), style="native") == ["native-db-with-docker-agent"]
    # nothing at all: runtime-missing says it
    assert ids(docker_evidence(packages=(), runtime=dataclasses.replace(
        DOCKER_RUNTIME, programs=(NETWORKD,)))) == ["runtime-missing"]


def test_native_service_enabled_beside_docker_is_a_warning():
    ev = docker_evidence(packages=docker_evidence().facts.packages + PG,
                         enabled_units=docker_evidence().facts.enabled_units + ("postgresql.service",))
    got = offline.run(ev, CheckOptions())
    assert [(f.id, f.severity) for f in got] == [("native-db-enabled-beside-docker",
                                                  findings.Severity.WARNING)]
    ev = docker_evidence(packages=docker_evidence().facts.packages + PG)   # installed, not enabled
    assert ids(ev) == []


@pytest.mark.parametrize("where", ["-d", "build.json", "guest_info"])
def test_datastore_without_manager(where):
    if where == "-d":
        ev, opts = docker_evidence(), {"db": "redis"}
    elif where == "build.json":
        ev, opts = docker_evidence(runtime=dataclasses.replace(
            DOCKER_RUNTIME, build_record={"recipe": {"db": "mongodb", "version": "7.0"}})), {}
    else:
        ev = docker_evidence(runtime=dataclasses.replace(DOCKER_RUNTIME, build_record=None),
                             trove_files=(GuestFile(f"{CONF_D}/guest_info.conf",
                                                    "[DEFAULT]\ndatastore_manager = cassandra\n"),),
                             guest_info=())
        opts = {}
    got = [f for f in offline.run(ev, CheckOptions(**opts)) if f.id != "db-package-missing"]
    assert [f.id for f in got] == ["datastore-without-manager"], got
    assert "mariadb, mysql, postgresql only" in got[0].message
    # the ussuri agent has a redis manager
    assert "datastore-without-manager" not in ids(evidence(), db="redis")


def test_guest_agent_folder():
    missing = docker_evidence(runtime=dataclasses.replace(DOCKER_RUNTIME, agent_dir=None))
    got = offline.run(missing, CheckOptions())
    assert [f.id for f in got] == ["guest-agent-folder"]
    assert "--mkdir /opt/trove-guestagent --chown ubuntu:ubuntu:/opt/trove-guestagent" in got[0].fix
    roots = docker_evidence(runtime=dataclasses.replace(
        DOCKER_RUNTIME, agent_dir=PathStat("/opt/trove-guestagent", 0, 0, 0o755, True)))
    assert ids(roots) == ["guest-agent-folder"]
    assert ids(evidence()) == []        # the ussuri agent writes its markers into ~


IFUPDOWN = ("/sbin/ifup", "/sbin/ifdown", "/sbin/ifquery", "/etc/network/interfaces")


@pytest.mark.parametrize("programs, units, renderers, expect", [
    ((NETWORKD,), ("systemd-networkd.service",), None, []),
    ((NETWORKD,), (), None, ["network-renderer-unapplied"]),           # what make demo built
    ((), (), None, ["network-renderer-unapplied"]),                    # no renderer at all
    (IFUPDOWN + (NETWORKD,), (), None, []),                            # eni comes first
    (("/sbin/ifup", "/sbin/ifdown", NETWORKD), (), None, ["network-renderer-unapplied"]),  # busybox
    (("/usr/sbin/netplan", NETWORKD), (), None, []),
    (IFUPDOWN + (NETWORKD,), (), ("networkd", "eni"), ["network-renderer-unapplied"]),
    (IFUPDOWN, (), ("networkd", "eni"), []),                           # networkd not available
])
def test_network_renderer(programs, units, renderers, expect):
    ev = evidence(enabled_units=("guest-agent.service", "postgresql.service", *units),
                  runtime=RuntimeEvidence(programs=programs, renderers=renderers))
    assert ids(ev) == expect


def test_stale_ifupdown_stanzas_warn_unless_ifupdown_is_used():
    stanzas = (("/etc/network/interfaces.d/eth0", ("eth0",)),
               ("/etc/network/interfaces.d/eth1", ("eth1",)),
               ("/etc/network/interfaces", ("lo",)))
    ev = evidence(runtime=RuntimeEvidence(programs=(NETWORKD,), eni_stanzas=stanzas))
    got = offline.run(ev, CheckOptions())
    assert [(f.id, f.severity) for f in got] == [("stale-ifupdown-stanza", findings.Severity.WARNING)]
    assert "--delete /etc/network/interfaces.d/eth0 --delete /etc/network/interfaces.d/eth1" in got[0].fix
    used = evidence(runtime=RuntimeEvidence(programs=IFUPDOWN, eni_stanzas=stanzas))
    assert ids(used) == []


def test_db_image_missing_error_or_warning_with_a_registry():
    empty = docker_evidence(runtime=dataclasses.replace(DOCKER_RUNTIME, db_images=()))
    got = offline.run(empty, CheckOptions())
    assert [(f.id, f.severity) for f in got] == [("db-image-missing", findings.Severity.ERROR)]
    assert got[0].message.startswith("postgres:15 ([postgresql] docker_image postgres, version 15")
    conf = GuestFile(f"{CONF_D}/trove-guestagent.conf",
                     "[DEFAULT]\ncontainer_registry = registry.example:5000\n")
    got = offline.run(dataclasses.replace(empty, trove_files=(conf,)), CheckOptions())
    assert [(f.id, f.severity) for f in got] == [("db-image-missing", findings.Severity.WARNING)]
    # -v and a docker_image override in the agent's configuration decide the ref
    override = GuestFile(f"{CONF_D}/trove-guestagent.conf",
                         "[postgresql]\ndocker_image = quay.io/openstack.trove/postgres\n")
    ev = docker_evidence(trove_files=(override,))
    assert ids(ev) == ["db-image-missing"]
    ev = docker_evidence(trove_files=(override,), runtime=dataclasses.replace(
        DOCKER_RUNTIME, db_images=("quay.io/openstack.trove/postgres:16",)))
    assert ids(ev, db="postgresql", version="16") == []
    # docker's own store counts, with its docker.io/library/ names
    from imagekit.check.evidence import normal_ref
    assert normal_ref("docker.io/library/postgres:15") == "postgres:15"
    assert normal_ref("postgres") == "postgres:latest"
