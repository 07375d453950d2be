"""The database images built from Debian packages (--db-image distro), built
for real (cached between runs: IMAGEKIT_TEST_DBIMAGE_CACHE, default
~/.cache/imagekit/test-images/db-images), then checked without imagekit:
unpacked with tar and started in a chroot the way the Trove agent starts the
container (uid 1001, empty PGDATA, POSTGRES_PASSWORD, the agent's hba_file),
and queried with the host's own psql."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from imagekit import dbimage
from tests.dbimage import imagerun

pytestmark = pytest.mark.slow

UID = GID = 1001


def _cache() -> Path:
    return Path(os.environ.get("IMAGEKIT_TEST_DBIMAGE_CACHE")
                or "~/.cache/imagekit/test-images/db-images").expanduser()


@pytest.fixture(scope="module")
def postgres_image():
    if os.geteuid() != 0:
        pytest.skip("needs root (chroot and mounts to run the image)")
    return dbimage.build_distro("postgresql", "15", cache_root=_cache())


@pytest.fixture
def unpacked(postgres_image, tmp_path):
    img = imagerun.unpack(postgres_image.archive, tmp_path)
    yield img
    shutil.rmtree(tmp_path / "rootfs", ignore_errors=True)


def test_record(postgres_image):
    assert postgres_image.ref == "postgres:15"
    assert postgres_image.arch == "amd64"
    assert postgres_image.source.startswith("distro: debian bookworm postgresql-15 15.")
    assert postgres_image.digest.startswith("sha256:")
    assert postgres_image.size == postgres_image.archive.stat().st_size
    again = dbimage.resolve("distro", db="postgresql", version="15", cache_root=_cache())
    assert again == postgres_image          # the second request comes from the cache


def test_image_config(unpacked):
    c = unpacked.config
    assert unpacked.repo_tags == ["postgres:15"]
    assert unpacked.arch == "amd64"
    assert c["Entrypoint"] == ["docker-entrypoint.sh"]
    assert c["Cmd"] == ["postgres"]
    assert "5432/tcp" in c["ExposedPorts"]
    assert unpacked.env["PATH"].startswith("/usr/lib/postgresql/15/bin:")
    r = unpacked.rootfs
    assert (r / "usr/local/bin/docker-entrypoint.sh").stat().st_mode & 0o111
    assert "database:x:1001:1001:" in (r / "etc/passwd").read_text()
    docs = [p for d in ("usr/share/man", "usr/share/doc") for p in (r / d).rglob("*")
            if p.is_file() and not p.is_symlink() and p.name != "copyright"]
    assert not docs
    assert not list((r / "var/lib/apt/lists").glob("*Packages*"))


@pytest.mark.parametrize("uid", [1001, 2345], ids=["agent-uid", "uid-without-passwd-entry"])
def test_postgres_starts_as_agent_does(unpacked, tmp_path, uid):
    """docker run --user 1001:1001 -e POSTGRES_PASSWORD -e PGDATA=<empty>, the
    agent's volumes and hba_file; host psql answers with the password."""
    img = unpacked
    UID = GID = uid
    port = imagerun.free_port()
    etc = imagerun.owned_dir(tmp_path / "etc-postgresql", UID, GID, 0o755)
    lib = imagerun.owned_dir(tmp_path / "var-lib-postgresql", UID, GID, 0o755)
    imagerun.owned_dir(lib / "data" / "pgdata", UID, GID)     # the agent makes it, empty
    sock = imagerun.owned_dir(tmp_path / "socket", UID, GID, 0o755)
    hba = etc / "pg_hba.conf"       # what the agent's apply_access_rules writes, in short
    hba.write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    os.chown(hba, UID, GID)
    binds = {"/etc/postgresql": etc, "/var/lib/postgresql": lib,
             "/var/lib/postgresql/data": lib / "data", "/run/postgresql": sock}
    entry = img.config["Entrypoint"]
    log = tmp_path / "postgres.log"
    proc = imagerun.start(
        img, [*entry, "postgres", "-c", "listen_addresses=127.0.0.1", "-p", str(port),
              "-k", "/var/run/postgresql", "-c", "hba_file=/etc/postgresql/pg_hba.conf"],
        binds=binds, user=f"{UID}:{GID}", log=log,
        env={"POSTGRES_PASSWORD": "s3cret-pw", "PGDATA": "/var/lib/postgresql/data/pgdata"})
    try:
        def psql(password: str, sql: str = "SELECT 1") -> subprocess.CompletedProcess:
            return subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                   "-d", "postgres", "-tAc", sql], capture_output=True, text=True,
                                  env={**os.environ, "PGPASSWORD": password}, timeout=30)
        imagerun.wait_for(lambda: psql("s3cret-pw").stdout.strip() == "1",
                          what="postgres", log=log)
        bad = psql("wrong")
        assert bad.returncode != 0 and "password authentication failed" in bad.stderr
        # initialised by the entrypoint as uid 1001, in the agent's PGDATA
        pgdata = lib / "data" / "pgdata"
        assert (pgdata / "PG_VERSION").read_text().strip() == "15"
        assert pgdata.stat().st_uid == UID
        assert "host all all all scram-sha-256" in (pgdata / "pg_hba.conf").read_text()
        assert psql("s3cret-pw", "SHOW lc_messages").stdout.strip() == "en_US.utf8"
        # the socket is on the host's directory (the agent's /var/lib/postgresql-socket)
        assert (sock / f".s.PGSQL.{port}").exists()
        # what the agent runs with docker exec: its health check, psql, pg_ctl
        ready = imagerun.exec_in(img, ["pg_isready", "-U", "postgres", "-p", str(port)],
                                 binds=binds, user=f"{UID}:{GID}")
        assert ready.returncode == 0, ready.stdout + ready.stderr
        q = imagerun.exec_in(img, ["psql", "-U", "postgres", "-p", str(port), "-tAc",
                                   "SELECT current_user"], binds=binds, user=f"{UID}:{GID}")
        assert q.stdout.strip() == "postgres", q.stderr
        rl = imagerun.exec_in(img, ["pg_ctl", "reload", "-D", "/var/lib/postgresql/data/pgdata"],
                              binds=binds, user=f"{UID}:{GID}")
        assert rl.returncode == 0, rl.stdout + rl.stderr
    finally:
        imagerun.stop(proc)
    assert proc.returncode is not None
    # a restart finds the database and does not initialise it again
    log2 = tmp_path / "postgres2.log"
    proc = imagerun.start(
        img, [*entry, "postgres", "-c", "listen_addresses=127.0.0.1", "-p", str(port),
              "-k", "/var/run/postgresql", "-c", "hba_file=/etc/postgresql/pg_hba.conf"],
        binds=binds, user=f"{UID}:{GID}", log=log2,
        env={"POSTGRES_PASSWORD": "other", "PGDATA": "/var/lib/postgresql/data/pgdata"})
    try:
        imagerun.wait_for(lambda: "skipping initialization" in log2.read_text(errors="replace")
                          and psql("s3cret-pw").stdout.strip() == "1", what="restart", log=log2)
    finally:
        imagerun.stop(proc)


MY_CNF = """[client]
port = {port}
socket = /var/run/mysqld/mysqld.sock
[mysqld]
port = {port}
bind-address = 127.0.0.1
basedir = /usr
datadir = /var/lib/mysql/data
tmpdir = /var/tmp
pid_file = /var/run/mysqld/mysqld.pid
socket = /var/run/mysqld/mysqld.sock
skip-external-locking = 1
innodb_buffer_pool_size = 32M
innodb_log_file_size = 8M
default_storage_engine = innodb
!includedir /etc/mysql/conf.d/
"""


@pytest.fixture(scope="module")
def mariadb_image():
    if os.geteuid() != 0:
        pytest.skip("needs root (chroot and mounts to run the image)")
    return dbimage.build_distro("mariadb", "10.11", cache_root=_cache())


def test_mariadb_starts_as_agent_does(mariadb_image, tmp_path):
    """The agent's mariadb container: --user 1001:1001, MYSQL_ROOT_PASSWORD,
    its my.cnf and command of options, its healthcheck.sh call; host mariadb
    client answers as root with the password."""
    import signal
    assert mariadb_image.ref == "mariadb:10.11"
    assert mariadb_image.source.startswith("distro: debian bookworm mariadb-server 1:10.11.")
    img = imagerun.unpack(mariadb_image.archive, tmp_path)
    uid = 1001
    port = imagerun.free_port()
    etc = imagerun.owned_dir(tmp_path / "etc-mysql", uid, uid, 0o755)
    imagerun.owned_dir(etc / "conf.d", uid, uid, 0o755)
    imagerun.owned_dir(etc / "mariadb.conf.d", uid, uid, 0o755)
    (etc / "my.cnf").write_text(MY_CNF.format(port=port))
    lib = imagerun.owned_dir(tmp_path / "var-lib-mysql", uid, uid, 0o755)
    imagerun.owned_dir(lib / "data", uid, uid, 0o755)
    sock = imagerun.owned_dir(tmp_path / "mysqld-socket", uid, uid, 0o755)
    binds = {"/etc/mysql": etc, "/var/lib/mysql": lib, "/run/mysqld": sock}
    env = {"MYSQL_ROOT_PASSWORD": "r00t-pw", "MYSQL_INITDB_SKIP_TZINFO": "1",
           "MARIADB_AUTO_UPGRADE": "1"}
    command = ["--defaults-file=/etc/mysql/my.cnf", "--ignore-db-dir=lost+found",
               "--ignore-db-dir=conf.d", "--datadir=/var/lib/mysql/data"]
    healthcheck = ["healthcheck.sh", "--defaults-file", "/var/lib/mysql/data/.my-healthcheck.cnf",
                   "--connect", "--innodb_initialized"]

    def sql(password: str, q: str = "SELECT 1") -> subprocess.CompletedProcess:
        return subprocess.run(["mariadb", "--no-defaults", "-h", "127.0.0.1", "-P", str(port),
                               "-uroot", f"-p{password}", "-N", "-B", "-e", q],
                              capture_output=True, text=True, timeout=30)

    try:
        log = tmp_path / "mariadb.log"
        proc = imagerun.start(img, [*img.config["Entrypoint"], *command], binds=binds,
                              user=f"{uid}:{uid}", env=env, log=log)
        imagerun.wait_for(lambda: sql("r00t-pw").stdout.strip() == "1", timeout=120,
                          what="mariadb", log=log)
        assert sql("wrong").returncode != 0
        assert (lib / "data" / "mysql").is_dir()
        assert (lib / "data" / "mysql").stat().st_uid == uid
        # the agent's health check, run inside the image like docker does
        hc = imagerun.exec_in(img, healthcheck, binds=binds, user=f"{uid}:{uid}")
        assert hc.returncode == 0, hc.stdout + hc.stderr
        # the agent connects as root through the socket on the host's directory
        s = subprocess.run(["mariadb", "--no-defaults", "-S", str(sock / "mysqld.sock"), "-uroot",
                            "-pr00t-pw", "-N", "-B", "-e", "SELECT CURRENT_USER()"],
                           capture_output=True, text=True, timeout=30)
        assert s.stdout.strip() == "root@localhost", s.stderr
        imagerun.stop(proc, signal.SIGTERM)
        # restart after a restore-like loss of the healthcheck file: auto-upgrade makes it again
        (lib / "data" / ".my-healthcheck.cnf").unlink()
        log2 = tmp_path / "mariadb2.log"
        proc = imagerun.start(img, [*img.config["Entrypoint"], *command], binds=binds,
                              user=f"{uid}:{uid}", env=env, log=log2)
        imagerun.wait_for(lambda: sql("r00t-pw").stdout.strip() == "1", timeout=120,
                          what="mariadb restart", log=log2)
        hc = imagerun.exec_in(img, healthcheck, binds=binds, user=f"{uid}:{uid}")
        assert hc.returncode == 0, hc.stdout + hc.stderr + log2.read_text()
    finally:
        imagerun.stop(proc, signal.SIGTERM)
        shutil.rmtree(tmp_path / "rootfs", ignore_errors=True)
