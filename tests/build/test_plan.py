"""Pure logic of the build: the DIB command line and environment, the plan's
elements and variables, the phase tracker, targets, architectures, the
wheelhouse's platform rules."""
from __future__ import annotations

from pathlib import Path

import pytest

from imagekit import aptsources, recipes
from imagekit.build import builder, dib, environment, wheelhouse
from imagekit.build.plan import BuildPlan, read_public_key
from imagekit.build.progress import PhaseTracker
from imagekit.build.ssh import SshTarget, parse_target
from imagekit.errors import BuildError, UsageError


def _plan(**kw) -> BuildPlan:
    rec = kw.pop("recipe", None) or recipes.resolve("postgresql")
    return BuildPlan(recipe=rec, trove_version="26.0.0", trove_release="2026.2", **kw)


def test_dib_argv():
    job = dib.DibJob(elements=("vm", "debian-minimal"), output="/o/x", compress=False,
                     image_size_gb=4, elements_path=("/e1", "/e2"), env=(("A", "1"),))
    assert job.argv() == ["disk-image-create", "-a", "amd64", "-o", "/o/x", "-t", "qcow2", "-u",
                          "--image-size", "4", "vm", "debian-minimal"]
    assert job.variables() == {"A": "1", "ELEMENTS_PATH": "/e1:/e2"}
    assert job.image_path == "/o/x.qcow2"
    assert "-u" not in dib.DibJob(elements=("vm",), output="/o/y").argv()


def test_environment_mirrors_from_apt_sources_operator_wins():
    mirror = aptsources.distro_mirror()
    env = environment.build_env("debian", {"DIB_RELEASE": "bookworm"}, environ={})
    assert env["DIB_DISTRIBUTION_MIRROR"] == mirror
    assert env["DIB_DEBIAN_SECURITY_MIRROR"] == aptsources.security_mirror()
    assert env["DIB_DEBOOTSTRAP_CACHE"] == "1" and env["DIB_RELEASE"] == "bookworm"
    mine = environment.build_env("debian", {"DIB_RELEASE": "bookworm"},
                                 environ={"DIB_DISTRIBUTION_MIRROR": "http://m.example/debian",
                                          "DIB_RELEASE": "trixie", "http_proxy": "http://p:3128"})
    assert mine["DIB_DISTRIBUTION_MIRROR"] == "http://m.example/debian"
    assert mine["DIB_RELEASE"] == "trixie" and mine["http_proxy"] == "http://p:3128"


def test_ubuntu_target_does_not_get_a_debian_mirror():
    if "debian" not in aptsources.distro_mirror():
        pytest.skip("this host's mirror is not Debian's")
    env = environment.mirror_env("ubuntu", environ={})
    assert "DIB_DISTRIBUTION_MIRROR" not in env and "DIB_DEBIAN_SECURITY_MIRROR" not in env


def test_host_only_variables_do_not_reach_the_chroot():
    env = environment.clean_host_env({"PIP_CERT": "/etc/ssl/x", "PIP_FIND_LINKS": "/opt/wheels",
                                      "REQUESTS_CA_BUNDLE": "/x", "PATH": "/bin", "HOME": "/root"})
    assert env == {"PATH": "/bin", "HOME": "/root"}


def test_local_env_puts_dib_first_on_path():
    job = dib.DibJob(elements=("vm",), output="/o/x", env=(("DIB_RELEASE", "bookworm"),))
    env = dib.local_env(job, "/venv/bin/disk-image-create", {"PATH": "/usr/bin", "PIP_CERT": "x"})
    assert env["PATH"].split(":")[0] == "/venv/bin" and "PIP_CERT" not in env
    assert env["DIB_RELEASE"] == "bookworm"


def test_plan_elements_and_variables():
    p = _plan()
    assert p.elements("amd64") == ("vm", "debian-minimal", "imagekit-initramfs-once",
                                   "imagekit-guest-agent", "imagekit-database", "imagekit-manifest")
    assert p.elements("ppc64el")[-1] == "imagekit-ppc64el-kernel"
    assert _plan(extra_elements=("my-el",)).elements("amd64")[-1] == "my-el"
    v = p.variables(arch="amd64", wheelhouse="/w", record="/r.json", package=None)
    assert v["DIB_RELEASE"] == "bookworm" and v["IMAGEKIT_DB_PACKAGES"] == "postgresql-15 postgresql-client-15"
    assert v["IMAGEKIT_DB_INSTALL_KIND"] == "distro" and v["IMAGEKIT_DB_SERVICE"] == "postgresql"
    assert v["DIB_CLOUD_INIT_DATASOURCES"] == "ConfigDrive, OpenStack"
    assert v["IMAGEKIT_TROVE_VERSION"] == "26.0.0" and v["IMAGEKIT_GUEST_USER"] == "ubuntu"
    assert "IMAGEKIT_DB_REPO_LINE" not in v and "IMAGEKIT_AUTHORIZED_KEY" not in v
    c = _plan(recipe=recipes.resolve("postgresql", "16", community=True, release="noble"))
    assert c.elements("amd64")[1] == "ubuntu-minimal"
    cv = c.variables(arch="amd64", wheelhouse="/w", record="/r", package=None)
    assert cv["IMAGEKIT_DB_INSTALL_KIND"] == "repo"
    assert cv["IMAGEKIT_DB_REPO_LINE"].endswith("noble-pgdg main")
    assert cv["IMAGEKIT_DB_REPO_KEY_FPR"] == "B97B0AFCAA1A47F044F244A07FCC7D46ACCC4CF8"
    x = _plan(recipe=recipes.resolve("redis", community=True, release="xenial"))
    xv = x.variables(arch="amd64", wheelhouse="/w", record="/r", package=None)
    assert (xv["IMAGEKIT_DB_INSTALL_KIND"], xv["IMAGEKIT_DB_SOURCE_BUILD"]) == ("source", "redis-src")
    k = _plan(recipe=recipes.resolve("mysql", style="container"))
    kv = k.variables(arch="amd64", wheelhouse="/w", record="/r", package=None)
    assert kv["IMAGEKIT_DB_INSTALL_KIND"] == "container" and kv["IMAGEKIT_DOCKER_IMAGE"] == "mysql:8.4"


def test_every_recipe_has_its_elements_scripts():
    root = Path(__file__).resolve().parents[2] / "elements" / "imagekit-database"
    builds = {r.source_build.build for db, rel, src, ver, *_ in recipes.supported_rows() if src != "container"
              for r in [recipes.resolve(db, ver, release=rel, community=src == "community",
                                        enterprise=src == "enterprise")] if r.source_build}
    for b in builds:
        assert (root / "install.d" / "imagekit-source-builds" / f"{b}.sh").is_file()
    tunings = {t for db in recipes.databases() for t in recipes.table()["databases"][db]["tuning"]}
    script = (root / "post-install.d" / "60-imagekit-database-service").read_text()
    for t in tunings:
        assert f"{t})" in script, f"tuning {t} has no case in the element"


def test_record_and_summary():
    p = _plan(build_only=True)
    rec = p.record(arch="amd64", builder="this host", dib_version="3.43.0",
                   elements=p.elements("amd64"), wheelhouse_files=126)
    assert rec["schema"] == "imagekit.build/1" and rec["recipe"]["pkg"] == "postgresql-15"
    assert rec["guest"]["trove_version"] == "26.0.0" and rec["image"] == "debian_bookworm_postgresql_15"
    rows = dict(p.summary())
    assert rows["upload"].startswith("no (-I")
    assert p.image_path.name == "debian_bookworm_postgresql_15.qcow2"
    assert p.log_path.name == "debian_bookworm_postgresql_15.log"


def test_public_key_rules(tmp_path):
    pub = tmp_path / "k.pub"
    pub.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB dba@example\n")
    assert read_public_key(str(pub)).startswith("ssh-ed25519 ")
    priv = tmp_path / "k"
    priv.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(UsageError, match="private key"):
        read_public_key(str(priv))
    with pytest.raises(UsageError, match="no such public key file"):
        read_public_key(str(tmp_path / "missing.pub"))


LOG = """\
2026-11-22 02:36:47.358 | INFO diskimage_builder.block_device.blockdevice [-] Wrote final block device config
2026-11-22 02:36:50.896 | Running hooks from /tmp/dib_build.x/hooks/root.d
2026-11-22 02:36:51.001 | dib-run-parts Running /tmp/dib_build.x/hooks/root.d/08-debootstrap
2026-11-22 02:38:06.325 | Running hooks from /tmp/dib_build.x/hooks/extra-data.d
2026-11-22 02:38:06.758 | dib-run-parts Running /tmp/in_target.d/pre-install.d/00-disable-apt-recommends
2026-11-22 02:38:18.414 | dib-run-parts Running /tmp/in_target.d/install.d/00-baseline-environment
2026-11-22 02:38:21.785 | dib-run-parts Running /tmp/in_target.d/install.d/55-imagekit-guest-agent
2026-11-22 02:39:41.769 | dib-run-parts Running /tmp/in_target.d/post-install.d/00-package-installs
2026-11-22 02:39:43.044 | INFO diskimage_builder.block_device.blockdevice [-] create() called
2026-11-22 02:39:52.234 | dib-run-parts Running /tmp/in_target.d/finalise.d/50-bootloader
2026-11-22 02:39:55.000 | dib-run-parts Running /tmp/dib_build.x/hooks/cleanup.d/99-clean-up-cache
2026-11-22 02:39:56.761 | Converting image using qemu-img convert
2026-11-22 02:39:57.989 | Build completed successfully
"""


def test_phase_tracker_follows_the_log():
    t = PhaseTracker()
    changes = [t.feed(line) for line in LOG.splitlines()]
    started = [s for _, s in changes if s]
    assert started == ["root", "extra-data", "pre-install", "install", "post-install",
                       "block-device", "finalise", "cleanup", "convert"]
    assert t.phases["install"].hook == "55-imagekit-guest-agent"
    assert t.done and all(p.started is not None and p.ended is not None for p in t.phases.values())
    assert changes[-1][0] == "convert"


def test_targets():
    t = parse_target("root@127.0.0.1:2222", "ubuntu", {})
    assert (t.user, t.host, t.port, t.label) == ("root", "127.0.0.1", 2222, "root@127.0.0.1:2222")
    t = parse_target("builder.example", "dib", {"DBIMAGE_DIB_SSH_PORT": "2200"})
    assert (t.user, t.host, t.port) == ("dib", "builder.example", 2200)
    assert parse_target("[::1]:22", None, {}).host == "::1"
    assert parse_target("h", None, {"DBIMAGE_DIB_PASSWD": "pw"}).use_password
    with pytest.raises(UsageError, match="no such key file"):
        parse_target("h", None, {"DBIMAGE_DIB_PRIVATE_SSH_KEY": "/nonexistent/key"})
    with pytest.raises(UsageError):
        parse_target("a b", None, {})
    with pytest.raises(UsageError, match="out of range"):
        parse_target("h:70000", None, {})
    assert SshTarget("h", "u").label == "u@h"


def test_architectures():
    assert builder.check_arch("b", "x86_64", None, False) == "amd64"
    assert builder.check_arch("b", "ppc64le", "ppc64le", False) == "ppc64el"
    assert builder.check_arch("b", "x86_64", "ppc64el", True) == "ppc64el"
    with pytest.raises(BuildError, match="is x86_64 \\(amd64\\), but a ppc64el image"):
        builder.check_arch("b", "x86_64", "ppc64el", False)
    with pytest.raises(BuildError, match="not supported"):
        builder.check_arch("b", "s390x", None, False)
    with pytest.raises(BuildError, match="unknown architecture"):
        builder.normalize_arch("sparc")


def test_wheelhouse_platform_rules():
    assert wheelhouse.python_ok(">=3.11", "3.11") and not wheelhouse.python_ok(">=3.11", "3.10")
    assert wheelhouse.python_ok(">= 3.9, <4", "3.12") and wheelhouse.python_ok(None, "3.5")
    args = wheelhouse._platform_args("3.12", "ppc64el", "noble")
    assert "--only-binary=:all:" in args and "manylinux_2_39_ppc64le" in args
    assert "manylinux_2_40_ppc64le" not in args and "cp312" in args
    assert wheelhouse.requirement("pypi", "26.0.0") == "trove==26.0.0"
    with pytest.raises(BuildError, match="not a trove source tree"):
        wheelhouse.requirement("/nonexistent", "26.0.0")
