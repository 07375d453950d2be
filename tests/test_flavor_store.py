"""The flavor table and the user's overrides (imagekit/flavors.py), and the
show/change commands (imagekit flavor, dbflavor-show, dbflavor-change) that
need no cloud."""
from __future__ import annotations

import json

import pytest
import yaml

from imagekit import flavors
from imagekit.errors import RecipeError, UsageError
from tests.util import run_cli

# dbimage-builder-behaviour.md §4.1, db -> (vcpus, ram, disk) tiny..xlarge
ORIGINAL = {
    "redis": [(2, 2048, 6), (4, 4096, 6), (8, 8192, 6), (16, 16384, 6), (32, 32768, 10)],
    "mariadb": [(2, 2048, 6), (4, 4096, 6), (8, 8192, 6), (16, 16384, 8), (32, 32768, 16)],
    "mysql": [(2, 2048, 6), (4, 4096, 6), (8, 8192, 6), (16, 16384, 8), (32, 32768, 16)],
    "mongodb": [(2, 2048, 6), (4, 2048, 6), (8, 4096, 6), (16, 8192, 8), (32, 16384, 16)],
    "postgresql": [(2, 2048, 6), (4, 4096, 6), (8, 8192, 6), (16, 16384, 8), (32, 32768, 16)],
}


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A private config dir; returns the overrides file path."""
    monkeypatch.setenv("IMAGEKIT_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config" / "flavors.yaml"


def test_predefined_table_is_the_originals():
    tab = flavors.table()
    assert tab.sizes == ("tiny", "small", "medium", "large", "xlarge")
    assert set(tab.databases) == set(ORIGINAL)
    for db, rows in ORIGINAL.items():
        assert [f.values() for f in flavors.defaults(db)] == rows
    assert tab.limits == {"vcpus": (1, 128), "ram": (1024, 262144), "disk": (1, 128)}
    assert flavors.defaults("mysql")[1].name == "mysql-small"


def test_show_filters_by_exact_name(store):
    assert {f.db for f in flavors.current("mysql")} == {"mysql"}
    with pytest.raises(UsageError, match="unknown database 'my'"):
        flavors.current("my")                       # the original matched by prefix
    assert len(flavors.current()) == 25


def test_change_twice_is_stored_once(store):
    flavors.change("mysql", "small", vcpus=6)
    ch = flavors.change("mysql", "small", ram="8192")
    assert ch.action == "stored" and ch.after.values() == (6, 8192, 6)
    data = yaml.safe_load(store.read_text())
    assert data == {"flavors": {"mysql": {"small": {"vcpus": 6, "ram": 8192, "disk": 6}}}}
    assert store.read_text().count("small") == 1    # no YAML alias, no second record
    assert [f.values() for f in flavors.current("mysql") if f.size == "small"] == [(6, 8192, 6)]
    assert flavors.defaults("mysql")[1].values() == (4, 4096, 6)


def test_minus_one_restores_and_removes_the_override(store):
    flavors.change("redis", "xlarge", vcpus=64, disk=20)
    ch = flavors.change("redis", "xlarge", vcpus=-1)
    assert ch.action == "stored" and ch.after.values() == (32, 32768, 20)
    ch = flavors.change("redis", "xlarge", disk="-1")
    assert ch.action == "removed" and not flavors.is_changed(ch.after)
    assert yaml.safe_load(store.read_text()) == {"flavors": {}}


def test_setting_the_default_values_removes_the_override(store):
    flavors.change("mongodb", "small", ram=4096)
    assert flavors.change("mongodb", "small", ram=2048).action == "removed"


def test_no_change_writes_nothing(store):
    assert flavors.change("mysql", "tiny", vcpus=2).action == "unchanged"
    assert not store.exists()


@pytest.mark.parametrize("kw, pattern", [
    ({"vcpus": 0}, r"vCPUs must be between 1 and 128 \(got 0\)"),
    ({"vcpus": 129}, r"vCPUs must be between 1 and 128"),
    ({"ram": 1023}, r"RAM \(MB\) must be between 1024 and 262144"),
    ({"ram": 262145}, r"RAM \(MB\) must be between 1024 and 262144"),
    ({"disk": 0}, r"root disk \(GB\) must be between 1 and 128"),
    ({"disk": 129}, r"root disk \(GB\) must be between 1 and 128"),
    ({"vcpus": "abc"}, r"-c: 'abc' is not a whole number"),
    ({"ram": "2G"}, r"-m: '2G' is not a whole number"),
    ({"disk": "1.5"}, r"-r: '1.5' is not a whole number"),
    ({}, r"nothing to change"),
])
def test_bad_values_are_refused_and_nothing_is_written(store, kw, pattern):
    with pytest.raises(UsageError, match=pattern):
        flavors.change("mysql", "small", **kw)
    assert not store.exists()


def test_range_limits_are_accepted(store):
    assert flavors.change("mysql", "large", vcpus=128, ram=262144, disk=128).action == "stored"
    assert flavors.change("mysql", "large", vcpus=1, ram=1024, disk=1).action == "stored"


def test_unknown_size_and_database(store):
    with pytest.raises(UsageError, match="unknown flavor size 'huge'") as err:
        flavors.change("mysql", "huge", vcpus=2)
    assert "tiny, small, medium, large, xlarge" in err.value.hint
    with pytest.raises(UsageError, match="unknown database 'oracle'"):
        flavors.change("oracle", "small", vcpus=2)


def test_a_broken_overrides_file_is_a_clear_error(store):
    store.parent.mkdir(parents=True)
    store.write_text("flavors:\n  mysql:\n    small: {vcpus: 0}\n")
    with pytest.raises(UsageError, match="cannot use the flavor overrides"):
        flavors.current("mysql")
    store.write_text("flavors:\n  mysql:\n    huge: {vcpus: 2}\n")
    with pytest.raises(UsageError, match="unknown flavor size 'huge'"):
        flavors.current("mysql")


def test_a_broken_table_is_a_recipe_error(tmp_path):
    bad = tmp_path / "flavors.yaml"
    bad.write_text("limits: {vcpus: [1, 128], ram: [1024, 262144], disk: [1, 128]}\n"
                   "sizes: [tiny, small]\nflavors:\n  mysql:\n    tiny: {vcpus: 2, ram: 2048, "
                   "disk: 6}\n")
    with pytest.raises(RecipeError, match="exactly the sizes tiny, small"):
        flavors._load_table(bad)


# --- the commands ---------------------------------------------------------------

def _env(tmp_path):
    return {"IMAGEKIT_CONFIG_DIR": str(tmp_path / "cfg")}


def test_imagekit_flavor_show_json(tmp_path):
    proc = run_cli("flavor", "show", "-d", "mongodb", "--json", env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == [f"mongodb-{s}" for s in flavors.table().sizes]
    assert rows[1]["ram"] == 2048 and rows[1]["changed"] is False


def test_imagekit_flavor_change_then_show(tmp_path):
    env = _env(tmp_path)
    proc = run_cli("flavor", "change", "-d", "postgresql", "-f", "medium", "-c", "12", "-r",
                   "20", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "postgresql-medium: vCPUs 8 -> 12, root disk (GB) 6 -> 20" in proc.stderr
    rows = {r["name"]: r for r in json.loads(run_cli("flavor", "show", "--json", env=env).stdout)}
    assert (rows["postgresql-medium"]["vcpus"], rows["postgresql-medium"]["disk"]) == (12, 20)
    assert rows["postgresql-medium"]["changed"] is True
    assert sum(r["changed"] for r in rows.values()) == 1
    pre = json.loads(run_cli("flavor", "show", "-d", "postgresql", "-p", "--json",
                             env=env).stdout)
    assert pre[2]["vcpus"] == 8


@pytest.mark.parametrize("args, message", [
    (("-c", "many"), "error: -c: 'many' is not a whole number (vCPUs)"),
    (("-m", "512"), "error: mysql-small: RAM (MB) must be between 1024 and 262144 (got 512)"),
])
def test_imagekit_flavor_change_bad_value(tmp_path, args, message):
    proc = run_cli("flavor", "change", "-d", "mysql", "-f", "small", *args, env=_env(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == message
    assert proc.stderr.splitlines()[1].startswith("hint: ")
    assert "Traceback" not in proc.stderr


def test_dbflavor_show_original_columns(tmp_path):
    proc = run_cli("-d", "redis", program="dbflavor-show", env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAME", "FLAVOR", "VCPUS", "MEM(MBs)", "VDISK1(GBs)"]
    assert lines[5].split() == ["redis", "xlarge", "32", "32768", "10"]
    assert len(lines) == 6


def test_dbflavor_change_prints_the_merged_table_and_ignores_s_b(tmp_path):
    env = _env(tmp_path)
    proc = run_cli("-d", "mariadb", "-f", "tiny", "-m", "3072", "-s", "5", "-b", "9",
                   program="dbflavor-change", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "-s is ignored" in proc.stderr and "-b is ignored" in proc.stderr
    assert proc.stdout.splitlines()[1].split() == ["mariadb", "tiny", "2", "3072", "6"]
    again = run_cli("-d", "mariadb", "-f", "tiny", "-m", "4096", program="dbflavor-change",
                    env=env)
    assert again.returncode == 0
    show = run_cli("-d", "mariadb", program="dbflavor-show", env=env).stdout.splitlines()
    assert [ln.split()[1] for ln in show[1:]].count("tiny") == 1   # stored once
    assert show[1].split()[3] == "4096"
    assert run_cli("-d", "mariadb", "-p", program="dbflavor-show",
                   env=env).stdout.splitlines()[1].split()[3] == "2048"


@pytest.mark.parametrize("args, first_line", [
    (("-d", "mysql", "-f", "small"), "error: nothing to change"),
    (("-d", "mysql", "-f", "small", "-c", "x"), "error: -c: 'x' is not a whole number (vCPUs)"),
    (("-d", "mysql", "-f", "huge", "-c", "2"), "error: unknown flavor size 'huge'"),
    (("-d", "sqlite", "-f", "small", "-c", "2"), "error: unknown database 'sqlite'"),
])
def test_dbflavor_change_errors_exit_1(tmp_path, args, first_line):
    proc = run_cli(*args, program="dbflavor-change", env=_env(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == first_line
    assert "Traceback" not in proc.stderr


def test_dbflavor_show_requires_d(tmp_path):
    proc = run_cli(program="dbflavor-show", env=_env(tmp_path))
    assert proc.returncode == 1 and "-d" in proc.stderr
