"""`imagekit flavor upload` and `dbflavor-upload` against the devcloud's
real Nova: created public with the table's values, idempotent, a different
existing flavor reported and left alone, --replace recreates it, --dry-run
changes nothing, overrides are what gets uploaded, and the cloud errors
(unknown cloud, bad credentials with status and request id, unreachable)."""
from __future__ import annotations

import json

import pytest
import yaml

from imagekit import flavors

pytestmark = pytest.mark.slow

SIZES = ("tiny", "small", "medium", "large", "xlarge")


def _nova_flavors(conn, db):
    return {f.name: f for f in conn.compute.flavors(details=True, is_public="None")
            if f.name.startswith(f"{db}-")}


@pytest.fixture
def clean(devcloud, tmp_path):
    """Deletes the <db>-* flavors of the given databases before and after the
    test; gives an env with a private flavor-overrides folder."""
    conn = devcloud.connect()
    used: list[str] = []

    def purge():
        for db in used:
            for f in _nova_flavors(conn, db).values():
                conn.compute.delete_flavor(f.id, ignore_missing=True)

    def use(*dbs: str) -> dict[str, str]:
        used.extend(dbs)
        purge()
        return {"IMAGEKIT_CONFIG_DIR": str(tmp_path / "cfg")}
    yield conn, use
    purge()


def _upload(devcloud, env, *args, program="imagekit"):
    argv = ("flavor", "upload", *args) if program == "imagekit" else args
    return devcloud.run_cli(*argv, program=program, env=env)


def test_upload_twice_changes_nothing(devcloud, clean):
    conn, use = clean
    env = use("redis")
    first = _upload(devcloud, env, "-d", "redis", "--os-cloud", devcloud.cloud, "--json")
    assert first.returncode == 0, first.stderr
    rows = json.loads(first.stdout)
    assert [r["action"] for r in rows] == ["created"] * 5
    made = _nova_flavors(conn, "redis")
    assert sorted(made) == sorted(f"redis-{s}" for s in SIZES)
    for f in flavors.defaults("redis"):
        nf = made[f.name]
        assert (nf.vcpus, nf.ram, nf.disk) == f.values()
        assert nf.is_public and not nf.ephemeral and not nf.swap
    second = _upload(devcloud, env, "-d", "redis", "--os-cloud", devcloud.cloud, "--json")
    assert second.returncode == 0, second.stderr
    assert [r["action"] for r in json.loads(second.stdout)] == ["unchanged"] * 5
    assert {n: f.id for n, f in _nova_flavors(conn, "redis").items()} == \
        {n: f.id for n, f in made.items()}


def test_a_different_flavor_is_reported_then_replaced(devcloud, clean):
    conn, use = clean
    env = use("mongodb")
    odd = conn.compute.create_flavor(name="mongodb-small", vcpus=4, ram=8192, disk=6,
                                     is_public=True)
    proc = _upload(devcloud, env, "-d", "mongodb", "--os-cloud", devcloud.cloud)
    assert proc.returncode == 3, proc.stderr
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert err == ["error: 1 existing flavor(s) differ from the table and were left alone: "
                   f"mongodb-small in '{devcloud.cloud}' (ram 8192 (table 2048))"]
    assert "--replace" in proc.stderr
    now = _nova_flavors(conn, "mongodb")
    assert now["mongodb-small"].id == odd.id and now["mongodb-small"].ram == 8192
    assert len(now) == 5                                    # the other four were created

    dry = _upload(devcloud, env, "-d", "mongodb", "--os-cloud", devcloud.cloud, "--replace",
                  "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert {r["flavor"]: r["action"] for r in json.loads(dry.stdout)}["mongodb-small"] == \
        "would replace"
    assert _nova_flavors(conn, "mongodb")["mongodb-small"].id == odd.id

    rep = _upload(devcloud, env, "-d", "mongodb", "--os-cloud", devcloud.cloud, "--replace",
                  "--json")
    assert rep.returncode == 0, rep.stderr
    actions = {r["flavor"]: r["action"] for r in json.loads(rep.stdout)}
    assert actions.pop("mongodb-small") == "replaced"
    assert set(actions.values()) == {"unchanged"}
    new = _nova_flavors(conn, "mongodb")["mongodb-small"]
    assert new.id != odd.id and new.ram == 2048 and new.is_public


def test_dry_run_creates_nothing(devcloud, clean):
    conn, use = clean
    env = use("postgresql")
    proc = _upload(devcloud, env, "-d", "postgresql", "--os-cloud", devcloud.cloud,
                   "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [r["action"] for r in json.loads(proc.stdout)] == ["would create"] * 5
    assert _nova_flavors(conn, "postgresql") == {}


def test_overrides_are_uploaded_to_two_clouds_by_dbflavor_upload(devcloud, clean):
    conn, use = clean
    env = use("mariadb")
    change = devcloud.run_cli("flavor", "change", "-d", "mariadb", "-f", "large", "-c", "24",
                              "-m", "20480", env=env)
    assert change.returncode == 0, change.stderr
    proc = _upload(devcloud, {**env, "OS_CLOUD": devcloud.second_cloud}, "-d", "mariadb",
                   "-s", "3", program="dbflavor-upload")
    assert proc.returncode == 0, proc.stderr
    assert "-s is ignored" in proc.stderr
    assert f"connecting to cloud '{devcloud.second_cloud}'" in proc.stderr
    large = _nova_flavors(conn, "mariadb")["mariadb-large"]
    assert (large.vcpus, large.ram, large.disk) == (24, 20480, 8)
    both = _upload(devcloud, env, "-d", "mariadb", "--os-cloud", devcloud.cloud,
                   "--os-cloud", devcloud.second_cloud, "--json")
    assert both.returncode == 0, both.stderr
    rows = json.loads(both.stdout)
    assert {r["cloud"] for r in rows} == {devcloud.cloud, devcloud.second_cloud}
    assert {r["action"] for r in rows} == {"unchanged"}


def test_unknown_cloud_name(devcloud, tmp_path):
    proc = devcloud.run_cli("flavor", "upload", "-d", "mysql", "--os-cloud", "nosuch")
    assert proc.returncode == 3
    line = proc.stderr.splitlines()[0]
    assert line.startswith("error: unknown cloud 'nosuch' (known clouds: "
                           f"{devcloud.cloud}, {devcloud.second_cloud}; read ")
    assert str(devcloud.clouds_yaml) in line
    assert proc.stderr.splitlines()[1].startswith("hint: ")


def _clouds_yaml_with(devcloud, tmp_path, **auth) -> str:
    data = yaml.safe_load(devcloud.clouds_yaml.read_text())
    entry = data["clouds"][devcloud.cloud]
    entry["auth"].update(auth)
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_bad_credentials_show_status_and_request_id(devcloud, tmp_path):
    env = {"OS_CLIENT_CONFIG_FILE": _clouds_yaml_with(devcloud, tmp_path, password="wrong")}
    proc = devcloud.run_cli("flavor", "upload", "-d", "mysql", "--os-cloud", devcloud.cloud,
                            env=env)
    assert proc.returncode == 3
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("error: "))
    assert "refused the credentials of user 'admin'" in line
    assert "(HTTP 401, request req-" in line
    rid = line.split("request ")[-1].rstrip(")")
    assert rid in devcloud.layout.log("keystone").read_text()   # the server's own id


def test_unreachable_keystone_names_the_url(devcloud, tmp_path):
    env = {"OS_CLIENT_CONFIG_FILE": _clouds_yaml_with(devcloud, tmp_path,
                                                      auth_url="http://127.0.0.1:1/v3")}
    proc = devcloud.run_cli("flavor", "upload", "-d", "mysql", "--os-cloud", devcloud.cloud,
                            env=env)
    assert proc.returncode == 3
    assert "error: cloud 'devcloud': cannot reach Keystone at http://127.0.0.1:1/v3" in \
        proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_db_is_refused_before_contacting_a_cloud(devcloud):
    proc = devcloud.run_cli("flavor", "upload", "-d", "oracle", "--os-cloud", "nosuch")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown database 'oracle'")
    proc = devcloud.run_cli("-d", "oracle", program="dbflavor-upload")
    assert proc.returncode == 1
