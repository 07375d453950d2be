"""`imagekit make` and `dbimage-make` as an operator runs them: bad input, the
remote builder checks against a real sshd on 127.0.0.1, a real DIB failure."""
from __future__ import annotations

import io
import subprocess
import tarfile

import pytest

from imagekit.build.builder import BuildInputs, SshBuilder, _mirror_pairs
from imagekit.build.ssh import parse_target
from tests.build import sshd
from tests.util import run_cli


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = sshd.start(tmp_path_factory.mktemp("sshd"))
    yield s
    sshd.stop(s)


def _make(*args, env=None, program="imagekit", tmp=None):
    extra = ["--output-dir", str(tmp)] if tmp is not None and program == "imagekit" else []
    cmd = ("make", *args, *extra) if program == "imagekit" else args
    return run_cli(*cmd, program=program, env=env, timeout=600,
                   cwd=str(tmp) if tmp is not None else None)


def _no_output(folder):
    return [p.name for p in folder.iterdir() if p.suffix == ".qcow2" or ".partial" in p.name]


# -- bad input --------------------------------------------------------------------
def test_unknown_database(tmp_path):
    r = _make("-d", "oracle", "-I", tmp=tmp_path)
    assert r.returncode == 2 and "unsupported database 'oracle'" in r.stderr
    assert "hint:" in r.stderr


NATIVE_AGENT = ("--trove-release", "ussuri")     # an agent that runs databases from packages


def test_unsupported_version_prints_the_table(tmp_path):
    r = _make("-d", "redis", "-v", "2.8.19", "-I", *NATIVE_AGENT, tmp=tmp_path)
    assert r.returncode == 1
    assert "redis (version 2.8) is not supported for bookworm" in r.stderr
    assert "DATABASE" in r.stderr and "redis-server" in r.stderr


def test_unsupported_source(tmp_path):
    r = _make("-d", "redis", "-e", "-I", *NATIVE_AGENT, tmp=tmp_path)
    assert r.returncode == 1 and "enterprise edition" in r.stderr and "DATABASE" in r.stderr


def test_community_with_enterprise(tmp_path):
    r = _make("-d", "mongodb", "-c", "-e", "-I", tmp=tmp_path)
    assert r.returncode == 2 and "not allowed with argument -c" in r.stderr


def _tgz(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_p_needs_v_and_a_good_package(tmp_path):
    tgz = _tgz(tmp_path / "db.tgz", {"setup.sh": "#!/bin/sh\n"})
    r = _make("-d", "redis", "-p", str(tgz), "-I", *NATIVE_AGENT, tmp=tmp_path)
    assert r.returncode == 2 and "-p <package> needs -v" in r.stderr
    zipf = tmp_path / "db.zip"
    zipf.write_bytes(b"PK\x03\x04")
    r = _make("-d", "redis", "-v", "7.0", "-p", str(zipf), "-I", *NATIVE_AGENT, tmp=tmp_path)
    assert r.returncode == 2 and "unsupported package type" in r.stderr
    bad = _tgz(tmp_path / "nosetup.tgz", {"install.sh": "#!/bin/sh\n"})
    r = _make("-d", "redis", "-v", "7.0", "-p", str(bad), "-I", *NATIVE_AGENT, tmp=tmp_path)
    assert r.returncode == 2 and "no setup.sh at its root" in r.stderr
    assert _no_output(tmp_path) == []


def test_dry_run_with_a_key_and_a_package_refused_for_containers(tmp_path):
    tgz = _tgz(tmp_path / "pg-src.tgz", {"setup.sh": "#!/bin/sh\n"})
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    r = _make("-d", "postgresql", "-k", str(tmp_path / "k.pub"), "-I", "--dry-run", tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "postgresql 15 (distro" in r.stdout and "authorized key" in r.stdout
    assert "debian_bookworm_postgresql_15_container.qcow2" in r.stdout
    # -p is a native package: the 2026.2 agent runs the database's docker image
    r = _make("-d", "postgresql", "-v", "15", "-p", str(tgz), "-I", "--dry-run", tmp=tmp_path)
    assert r.returncode == 2 and "-p installs a database package" in r.stderr
    r = _make("-d", "postgresql", "-k", str(tmp_path / "k"), "-I", "--dry-run", tmp=tmp_path)
    assert r.returncode == 2 and "is a private key" in r.stderr


# -- the style follows the agent's release ----------------------------------------------
def test_default_style_is_what_the_agent_runs(tmp_path):
    r = _make("-d", "postgresql", "-I", "--dry-run", tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    style = next(line for line in r.stdout.splitlines() if line.startswith("style"))
    assert "container" in style and "postgres:15" in style
    assert "image built from bookworm's postgresql-15" in r.stdout
    r = _make("-d", "mariadb", "-I", "--dry-run", "--trove-release", "2025.1", tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "docker image mariadb:10.11" in r.stdout and "trove 23.1.0 (2025.1)" in r.stdout
    r = _make("-d", "mysql", "-I", "--dry-run", tmp=tmp_path)     # no distro build: a pull
    assert r.returncode == 0 and "docker image mysql:8.4" in r.stdout
    assert "pulled from a registry" in r.stdout


@pytest.mark.parametrize("args, reason", [
    (("-d", "postgresql", "--style", "native"),
     "the 2026.2 guest agent runs postgresql only as a docker container; --style native "
     "cannot work"),
    (("-d", "redis"), "the 2026.2 guest agent has no redis manager"),
    (("-d", "mongodb", "--trove-release", "victoria"), "the victoria guest agent has no mongodb manager"),
    (("-d", "postgresql", "--style", "container", "--trove-release", "ussuri"),
     "the ussuri guest agent runs postgresql from packages in the image"),
    (("-d", "postgresql", "--release", "jammy"), "needs Python >=3.11; jammy has Python 3.10"),
], ids=["native-on-docker-agent", "no-redis-manager", "no-mongodb-manager",
        "container-on-native-agent", "python"])
def test_what_the_agent_cannot_run_is_refused_with_the_table(tmp_path, args, reason):
    r = _make(*args, "-I", "--dry-run", tmp=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and reason in errors[0], r.stderr
    assert "hint: " in r.stderr
    assert "SERIES" in r.stderr and "victoria" in r.stderr and "docker postgres" in r.stderr
    assert r.stdout == "" and _no_output(tmp_path) == []


def test_table():
    r = run_cli("make", "--table", "-d", "postgresql")
    assert r.returncode == 0 and r.stdout.splitlines()[0].startswith("DATABASE")
    recipes_part, releases_part = r.stdout.split("\n\n")
    assert all(line.startswith(("DATABASE", "postgresql")) for line in recipes_part.splitlines())
    rows = {line.split()[0]: line for line in releases_part.splitlines()}
    assert rows["SERIES"].split() == ["SERIES", "TROVE", "PYTHON", "POSTGRESQL", "OTHER", "MANAGERS"]
    assert "docker postgres" in rows["2026.2"] and ">=3.11" in rows["2026.2"]
    assert "native" in rows["ussuri"] and "docker" not in rows["ussuri"]


# -- dbimage-make -------------------------------------------------------------------
def test_dbimage_make_help_and_options():
    r = run_cli("--help", program="dbimage-make")
    assert r.returncode == 0
    for opt in ("-d DB", "-v VERSION", "-c", "-e", "-k KEY", "-i HOST", "-b USER", "-p PKG", "-I"):
        assert opt in r.stdout
    assert "--release" not in r.stdout          # exactly the original options
    r = run_cli("-d", "redis", "-x", program="dbimage-make")
    assert r.returncode == 1


def test_dbimage_make_miss_and_variables(tmp_path):
    env = {"IMAGEKIT_IMAGES_DIR": str(tmp_path)}
    r = run_cli("-d", "mariadb", "-v", "5.5.60", "-I", program="dbimage-make", env=env)
    assert r.returncode == 1
    assert "dbName=mariadb" in r.stdout and "dbVersion=5.5.60" in r.stdout
    assert "uploadImage=no" in r.stdout
    assert "mariadb (version 5.5) is not supported as a container image" in r.stderr
    assert "DATABASE" in r.stderr
    r = run_cli("-d", "mysql", "-c", "-e", program="dbimage-make", env=env)
    assert r.returncode == 1 and "not allowed with argument -c" in r.stderr
    assert list(tmp_path.iterdir()) == []


# -- builders -----------------------------------------------------------------------
def test_unreachable_builder(tmp_path):
    port = sshd.free_port()
    env = {"IMAGEKIT_IMAGES_DIR": str(tmp_path)}
    r = _make("-d", "postgresql", "-I", "-i", f"127.0.0.1:{port}", env=env, tmp=tmp_path)
    assert r.returncode == 5
    assert f"cannot reach the builder ubuntu@127.0.0.1:{port}" in r.stderr and "hint:" in r.stderr
    assert _no_output(tmp_path) == []
    r = run_cli("-d", "postgresql", "-I", "-i", f"127.0.0.1:{port}", program="dbimage-make", env=env)
    assert r.returncode == 4


def test_builder_of_another_architecture(server, tmp_path):
    r = _make("-d", "postgresql", "-I", "-i", server.target, "--arch", "ppc64el",
              env=server.env(), tmp=tmp_path)
    assert r.returncode == 5, r.stderr
    assert f"the builder {server.user}@127.0.0.1:{server.port} is x86_64 (amd64), " \
           "but a ppc64el image was asked for" in r.stderr
    assert "--cross" in r.stderr
    assert _no_output(tmp_path) == []


def test_ssh_builder_reads_the_builders_apt_sources(server):
    target = parse_target(server.target, None, server.env())
    b = SshBuilder(target)
    try:
        assert b.ssh.run(["uname", "-m"]).stdout.decode().strip() == "x86_64"
        assert b._remote_mirrors() == _mirror_pairs(None)
        # argv lists are quoted for the remote shell: nothing is interpreted
        out = b.ssh.run(["echo", "a b", "$HOME", ";", "id"]).stdout.decode()
        assert out.strip() == "a b $HOME ; id"
    finally:
        b.ssh.close()


@pytest.mark.slow
def test_dib_failure_leaves_no_image(tmp_path):
    """A real DIB run that fails (an element whose root.d hook exits 1)."""
    el = tmp_path / "elements" / "imagekit-test-fail" / "root.d"
    el.mkdir(parents=True)
    (el / "01-fail").write_text("#!/bin/bash\necho 'imagekit-test-fail: failing on purpose'\nexit 3\n")
    (el / "01-fail").chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    loops_before = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    env = {"ELEMENTS_PATH": str(tmp_path / "elements"), "DBIMAGE_MYELEMENTS": "imagekit-test-fail"}
    r = _make("-d", "redis", "-I", "--no-compress", env=env, tmp=out)
    assert r.returncode == 5, r.stderr
    assert "imagekit-test-fail: failing on purpose" in r.stderr      # the log's last lines
    assert "diskimage-builder (exit" in r.stderr and "full log:" in r.stderr
    failed = out / "debian_bookworm_redis_7_0.failed.log"
    assert str(failed) in r.stderr and failed.is_file()
    assert _no_output(out) == []
    assert not (out / "debian_bookworm_redis_7_0.log").exists()
    loops_after = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    assert loops_after == loops_before


def test_ssh_builder_checks_stages_and_cleans_up(server, tmp_path):
    """The remote path without DIB: check (DIB installed into a venv there if
    missing), one-transfer staging, clean-up of the build folder."""
    target = parse_target(server.target, None, server.env())
    wh = tmp_path / "wheelhouse"
    wh.mkdir()
    (wh / "trove-26.0.0-py3-none-any.whl").write_bytes(b"w" * 4096)
    pkg = tmp_path / "mydb_1.0_all.deb"
    pkg.write_bytes(b"!<arch>\ndebian-binary   ")
    with SshBuilder(target) as b:
        info = b.check()
        assert (info.machine, info.arch, info.local) == ("x86_64", "amd64", False)
        assert info.dib.endswith("/disk-image-create") and info.free_gb > 0
        staged = b.stage(BuildInputs(record={"schema": "imagekit.build/1"}, wheelhouse=wh,
                                     package=pkg))
        root = staged.root
        assert root.startswith(info.home + "/.cache/imagekit/builds/build-")
        got = b.ssh.run(["cat", staged.record]).stdout.decode()
        assert '"schema": "imagekit.build/1"' in got
        mode = b.ssh.run(["stat", "-c", "%a", f"{staged.elements}/imagekit-guest-agent/install.d/"
                          "55-imagekit-guest-agent"]).stdout.decode().strip()
        assert mode == "755"
        assert b.ssh.run(["stat", "-c", "%s", f"{staged.wheelhouse}/trove-26.0.0-py3-none-any.whl"]
                         ).stdout.decode().strip() == "4096"
        assert staged.package == f"{root}/package/mydb_1.0_all.deb"
        assert staged.output == f"{root}/out/image"
    with SshBuilder(target) as again:
        assert again.ssh.run(["test", "-e", root], check=False).returncode == 1


def _dib_state() -> tuple[list[str], list[str]]:
    mounts = [ln.split()[1] for ln in open("/proc/mounts") if "/dib_build." in ln or "/dib_image." in ln]
    loops = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout.splitlines()
    return mounts, [ln for ln in loops if "dib_image." in ln]


def _interrupt_when_in_chroot(cmd, env, out, timeout=900):
    """Start a real build, SIGTERM it once DIB works inside the chroot."""
    import os
    import signal
    import time
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            logs = list(out.glob(".*.log.partial-*"))
            if logs and "Running /tmp/in_target.d/" in logs[0].read_text(errors="replace"):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(1)
        else:
            raise AssertionError("the build never reached pre-install.d")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


@pytest.mark.slow
@pytest.mark.parametrize("where", ["local", "ssh"])
def test_interrupted_build_leaves_nothing(where, server, tmp_path):
    """SIGTERM in the middle of a real build (in the chroot, with /proc, /dev
    and the apt cache mounted): the build stops, DIB's mounts and loop devices
    go, no image and no partial file stays, and (over ssh) the build folder
    on the builder goes too."""
    from tests.util import BIN
    out = tmp_path / "out"
    out.mkdir()
    before = _dib_state()
    cmd = [str(BIN / "imagekit"), "make", "-d", "redis", "-I", "--no-compress", "--output-dir", str(out)]
    env = {}
    if where == "ssh":
        cmd += ["-i", server.target]
        env = server.env()
    rc, err = _interrupt_when_in_chroot(cmd, env, out)
    assert rc == 130, err
    assert "interrupted" in err
    assert _dib_state() == before
    assert _no_output(out) == [] and not list(out.glob(".*partial*"))
    assert (out / "debian_bookworm_redis_7_0.failed.log").is_file()
    if where == "ssh":
        assert _remote_builds() == [], "the build still runs on the builder"


def _remote_builds() -> list[int]:
    """PIDs of disk-image-create runs staged by the ssh builder (its build
    folders are build-<12 hex>; this host's are build-<8 random>)."""
    import re
    from pathlib import Path
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
            env = (d / "environ").read_bytes()
        except OSError:
            continue
        if b"disk-image-create" in cmd and re.search(rb"/builds/build-[0-9a-f]{12}/", env):
            found.append(int(d.name))
    return found
