"""Recipe resolution: every row of recipes/databases.yaml, the original's
rules (x.y.z -> x.y, exact match, first entry = default, -c with -e refused,
the table on a miss) and -p packages."""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from imagekit import recipes
from imagekit.errors import UsageError

FLAG = {"distro": {}, "community": {"community": True}, "enterprise": {"enterprise": True}}


def _rows():
    return [r for r in recipes.supported_rows() if r[2] != "container"]


@pytest.mark.parametrize("row", _rows(), ids=lambda r: "-".join(r[:4]))
def test_every_row_resolves_by_version(row):
    db, release, source, version, pkg, _ = row
    rec = recipes.resolve(db, version, release=release, **FLAG[source])
    assert (rec.db, rec.version, rec.source, rec.release, rec.pkg) == (db, version, source, release, pkg)
    assert rec.service
    assert rec.install or rec.source_build
    if source != "distro":
        assert rec.repo or rec.source_build, "community/enterprise rows come from a vendor"
    if rec.repo:
        assert "{" not in rec.repo.line() and rec.repo.key_fingerprint
    suffix = {"distro": "", "community": "_c", "enterprise": "_e"}[source]
    distro = recipes.release_info(release)["distro"]
    assert rec.image_base == f"{distro}_{release}_{db}_{version.replace('.', '_')}{suffix}"


@pytest.mark.parametrize("row", [r for r in recipes.supported_rows() if r[2] == "container"],
                         ids=lambda r: f"{r[0]}-{r[3]}")
def test_every_container_row(row):
    db, _, _, version, image, _ = row
    rec = recipes.resolve(db, version, style="container")
    assert rec.style == "container" and rec.docker_image == image
    assert rec.install == ("docker.io",) and rec.image_base.endswith("_container")


def test_first_entry_is_the_default():
    seen = set()
    for db, release, source, version, _, note in recipes.supported_rows():
        if source == "container" or (db, release, source) in seen:
            continue
        seen.add((db, release, source))
        assert note.startswith("default")
        assert recipes.resolve(db, release=release, **FLAG[source]).version == version


def test_the_original_xenial_table():
    """§3 of the reference: the 2017 rows, with their registered packages and source tarballs."""
    x = dict(release="xenial")
    assert recipes.resolve("mysql", **x).pkg == "mysql-server"
    assert recipes.resolve("postgresql", **x).pkg == "postgresql-9.5"
    assert recipes.resolve("postgresql", community=True, **x).pkg == "postgresql-9.6"
    assert recipes.resolve("redis", **x).version == "3.0"
    r = recipes.resolve("redis", community=True, **x)
    assert (r.version, r.pkg, r.source_build.url.rsplit("/", 1)[1]) == ("3.2", "redis-tools", "redis-3.2.8.tar.gz")
    m = recipes.resolve("mongodb", community=True, **x)
    assert (m.pkg, "mongodb-src-r3.4.4" in m.source_build.url) == ("python-pymongo-doc", True)
    assert recipes.resolve("mongodb", enterprise=True, **x).pkg == "mongodb-enterprise"
    assert recipes.resolve("mariadb", community=True, **x).version == "10.1"
    # the original's consequences: no distro mariadb/mongodb, no -c mysql, -e only for mongodb
    for db, flags in (("mariadb", {}), ("mongodb", {}), ("mysql", {"community": True}),
                      ("redis", {"enterprise": True}), ("postgresql", {"enterprise": True})):
        with pytest.raises(recipes.RecipeMiss):
            recipes.resolve(db, release="xenial", **flags)


def test_current_rows_cover_every_database():
    for release in ("bookworm", "jammy", "noble"):
        for db in ("mariadb", "mysql", "postgresql", "redis", "mongodb"):
            found = [r for r in recipes.supported_rows(db) if r[1] == release]
            assert found, f"{db} has no row for {release}"


def test_default_is_bookworm_distro():
    r = recipes.resolve("postgresql")
    assert (r.release, r.distro, r.source, r.version, r.pkg) == \
        ("bookworm", "debian", "distro", "15", "postgresql-15")
    assert r.image_base == "debian_bookworm_postgresql_15"


def test_version_is_cut_to_x_y():
    assert recipes.cut_version("1.2.7") == "1.2"
    assert recipes.cut_version("10.11.6") == "10.11"
    assert recipes.cut_version("15") == "15"
    assert recipes.cut_version("3.2") == "3.2"
    assert recipes.resolve("redis", "7.0.15").version == "7.0"
    assert recipes.resolve("mariadb", "10.11.6").version == "10.11"
    assert recipes.resolve("postgresql", "15.8.1").version == "15"


def test_exact_match_only():
    with pytest.raises(recipes.RecipeMiss):
        recipes.resolve("redis", "7")          # 7.0 is in the table, 7 is not
    with pytest.raises(recipes.RecipeMiss):
        recipes.resolve("mariadb", "10.1")     # 10.11 must not match 10.1
    with pytest.raises(recipes.RecipeMiss):
        recipes.resolve("postgresql", "14")    # bookworm ships 15


def test_miss_carries_the_supported_table():
    with pytest.raises(recipes.RecipeMiss) as exc:
        recipes.resolve("redis", "2.8")
    assert "redis (version 2.8) is not supported for bookworm" in exc.value.message
    assert exc.value.table.splitlines()[0].split()[:4] == ["DATABASE", "RELEASE", "SOURCE", "VERSION"]
    assert "redis-server" in exc.value.table


def test_community_with_enterprise_is_refused():
    with pytest.raises(UsageError, match="cannot be used together"):
        recipes.resolve("mongodb", community=True, enterprise=True)


def test_unknown_database_and_release():
    with pytest.raises(UsageError, match="unsupported database 'oracle'"):
        recipes.resolve("oracle")
    with pytest.raises(UsageError, match="unknown release 'trusty'"):
        recipes.resolve("redis", release="trusty")


def test_container_style_refuses_editions():
    with pytest.raises(UsageError):
        recipes.resolve("postgresql", style="container", community=True)


def test_vendor_repo_expands_release():
    r = recipes.resolve("postgresql", "16", community=True, release="noble")
    assert r.repo.line() == "deb https://apt.postgresql.org/pub/repos/apt noble-pgdg main"
    assert r.image_base == "ubuntu_noble_postgresql_16_c"
    e = recipes.resolve("mongodb", enterprise=True)
    assert e.image_base.endswith("_e") and "bookworm/mongodb-enterprise/7.0" in e.repo.line()


# -- -p packages ------------------------------------------------------------------
def _deb(tmp: Path, name: str = "mydb-server") -> Path:
    root = tmp / "debroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\n"
        "Description: test\n")
    out = tmp / f"{name}_1.0_all.deb"
    subprocess.run(["dpkg-deb", "-b", "--root-owner-group", str(root), str(out)], check=True,
                   capture_output=True)
    return out


def _tar(tmp: Path, name: str, members: dict[str, str], mode: str = "w:gz") -> Path:
    out = tmp / name
    with tarfile.open(out, mode) as tf:
        for path, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o755
            tf.addfile(info, io.BytesIO(data))
    return out


def test_p_deb(tmp_path):
    deb = _deb(tmp_path)
    r = recipes.resolve("postgresql", "15", package=deb)
    assert r.user_package.kind == "deb" and r.install_kind == "deb"
    assert r.install == () and r.pkg == "postgresql-15" and r.service == "postgresql"
    assert r.image_base == "debian_bookworm_postgresql_15"


def test_p_tar_with_setup_sh(tmp_path):
    for name, mode in (("db.tgz", "w:gz"), ("db.tar", "w"), ("db.tar.bz2", "w:bz2"), ("db.bz2", "w:bz2")):
        tgz = _tar(tmp_path, name, {"setup.sh": "#!/bin/sh\necho ok\n", "bin/x": "x"}, mode)
        r = recipes.resolve("redis", "6.2", package=tgz)
        assert r.user_package.kind == "tar" and r.install_kind == "tar"
        assert r.version == "6.2"              # a version outside the table: the user's package
        assert r.pkg == "redis-tools"          # the substitute registered with Trove


def test_p_needs_v(tmp_path):
    with pytest.raises(UsageError, match="-p <package> needs -v"):
        recipes.resolve("postgresql", package=_deb(tmp_path))


def test_p_bad_type(tmp_path):
    bad = tmp_path / "db.zip"
    bad.write_bytes(b"PK\x03\x04")
    with pytest.raises(UsageError, match="unsupported package type"):
        recipes.resolve("postgresql", "15", package=bad)
    fake = tmp_path / "fake.deb"
    fake.write_text("not a deb")
    with pytest.raises(UsageError, match="not a Debian package"):
        recipes.resolve("postgresql", "15", package=fake)
    with pytest.raises(UsageError, match="no such file"):
        recipes.resolve("postgresql", "15", package=tmp_path / "missing.deb")


def test_p_tar_without_setup_sh(tmp_path):
    tgz = _tar(tmp_path, "db.tgz", {"install.sh": "#!/bin/sh\n", "sub/setup.sh": "#!/bin/sh\n"})
    with pytest.raises(UsageError, match="no setup.sh at its root"):
        recipes.resolve("redis", "7.0", package=tgz)
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(UsageError, match="not a readable tar"):
        recipes.resolve("redis", "7.0", package=broken)


# -- the release x datastore table (recipes/trove-releases.yaml) --------------------------
def test_the_2026_2_agent_runs_mysql_mariadb_postgresql_in_docker():
    from imagekit import releases
    info = releases.release_datastores("2026.2")
    assert info.trove_version == "26.0.0" and info.runtime == "docker"
    assert sorted(info.managers) == ["mariadb", "mysql", "postgresql"]
    assert info.docker_images == {"mariadb": "mariadb", "mysql": "mysql", "postgresql": "postgres"}
    assert info.python_requires == ">=3.11" and info.agent_dir == "/opt/trove-guestagent"
    assert releases.release_datastores(None) == info           # the default series
    assert releases.release_datastores("26.0.0") == info       # a version names its series


def test_victoria_is_the_first_docker_agent_and_ussuri_the_last_native_one():
    from imagekit import releases
    infos = releases.all_release_datastores()
    assert [i.series for i in infos if i.runtime == "native"] == \
        ["ocata", "pike", "queens", "rocky", "stein", "train", "ussuri"]
    victoria = releases.release_datastores("victoria")
    assert victoria.runtime == "docker" and victoria.major == 14
    assert not victoria.has_manager("redis") and victoria.docker_image("postgresql") == "postgres"
    ussuri = releases.release_datastores("ussuri")
    assert ussuri.runtime == "native" and ussuri.has_manager("redis") and ussuri.has_manager("mongodb")
    assert ussuri.docker_image("postgresql") is None and ussuri.agent_dir == "~"
    for i in infos:       # every row says where its facts come from
        assert i.checked or i.series in ("ocata", "queens", "rocky"), i
        assert i.python_requires or i.pythons


def test_container_default_is_the_distro_buildable_version_named_after_the_agents_image():
    pg = recipes.resolve("postgresql", trove_release="2026.2")
    assert (pg.style, pg.runtime, pg.version) == ("container", "docker", "15")
    assert (pg.db_image_name, pg.db_image_ref, pg.distro_build) == ("postgres", "postgres:15",
                                                                    "postgresql-15")
    assert pg.manager == "postgresql" and pg.as_dict()["db_image_name"] == "postgres"
    ma = recipes.resolve("mariadb", trove_release="2026.2")
    assert (ma.version, ma.db_image_ref, ma.distro_build) == ("10.11", "mariadb:10.11", "mariadb-server")
    pull = recipes.resolve("postgresql", "17", trove_release="2026.2")
    assert pull.db_image_ref == "postgres:17" and pull.distro_build is None
    # without a distro-built version for the release the first entry stays the default
    assert recipes.resolve("postgresql", release="noble", style="container").version == "17"
    # no release named: the table's default style (native), as before
    assert recipes.resolve("postgresql").style == "native"
    assert recipes.resolve("postgresql", trove_release="ussuri").style == "native"


def test_what_an_agent_cannot_run_is_a_miss_with_the_release_table():
    recipes.check_agent_runs("postgresql", None, "2026.2")
    recipes.check_agent_runs("redis", "native", "ussuri")
    for db, style, series, text in [
            ("redis", None, "2026.2", "has no redis manager"),
            ("postgresql", "native", "2026.2", "runs postgresql only as a docker container"),
            ("mariadb", "container", "train", "from packages in the image")]:
        with pytest.raises(recipes.RecipeMiss, match=text) as exc:
            recipes.check_agent_runs(db, style, series)
        assert exc.value.table.startswith("SERIES")
    with pytest.raises(recipes.RecipeMiss, match="needs Python >=3.11"):
        recipes.check_agent_runs("postgresql", None, "2026.2", release="jammy")
    with pytest.raises(UsageError, match="-p installs a database package"):
        recipes.resolve("postgresql", "15", package="x.deb", trove_release="2026.2")
