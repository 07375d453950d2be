"""`imagekit upload` / `dbimage-upload` refusing bad input before any
appliance launch: usage errors, an unknown cloud, wrong credentials (the
HTTP status and Keystone's request id), a keypair the cloud does not have."""
from __future__ import annotations

import re

import pytest

from tests.cloud.helpers import devcloud_env_fixture  # noqa: F401 - the fixture
from tests.util import run_cli


def _cli(env, *args, program="imagekit"):
    prefix = ("upload",) if program == "imagekit" else ()
    return run_cli(*prefix, *args, program=program,
                   env={"OS_CLIENT_CONFIG_FILE": str(env.clouds_yaml), "OS_CLOUD": ""},
                   timeout=300)


def test_help_exits_zero_for_both_names():
    for program, args in (("imagekit", ("upload", "--help")), ("dbimage-upload", ("--help",))):
        proc = run_cli(*args, program=program)
        assert proc.returncode == 0, proc.stderr
        for opt in ("-f", "-d", "-v", "-c", "-e", "-k", "-s", "-b", "--os-cloud"):
            assert re.search(rf"(^|[\s\[,]){opt}[\s,\]]", proc.stdout), (program, opt)


@pytest.mark.parametrize("args, needle", [
    (("-d", "postgresql", "-v", "15"), "-f IMAGE must be specified"),
    (("-f", "x.qcow2", "-v", "15"), "-d DB must be specified"),
    (("-f", "x.qcow2", "-d", "postgresql"), "-v VERSION must be specified"),
    (("-f", "x.qcow2", "-d", "postgresql", "-v", "1..5"), "is not a database version"),
    (("-f", "x.qcow2", "-d", "postgresql", "-v", "15", "--as-is", "-k", "key"), "--as-is"),
])
def test_usage_errors_exit_2(args, needle):
    proc = run_cli("upload", *args)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr


def test_edition_flags_are_exclusive():
    proc = run_cli("-d", "postgresql", "-v", "15", "-f", "x.qcow2", "-c", "-e",
                   program="dbimage-upload")
    assert proc.returncode == 1 and "not allowed with argument" in proc.stderr  # the original's 1


def test_seed_usage_errors_exit_1():
    proc = run_cli("-d", "postgresql", "-f", "x.qcow2", program="dbimage-upload")
    assert proc.returncode == 1 and "-v VERSION must be specified" in proc.stderr


def test_missing_image_file(tmp_path):
    proc = run_cli("upload", "-f", str(tmp_path / "nope.qcow2"), "-d", "postgresql", "-v", "15")
    assert proc.returncode == 1 and "nope.qcow2" in proc.stderr


@pytest.mark.slow
def test_unknown_cloud(devcloud_env, tiny_images):
    proc = _cli(devcloud_env, "-f", str(tiny_images["single"]), "-d", "postgresql", "-v", "15",
                "--os-cloud", "no-such-cloud")
    assert proc.returncode == 3, proc.stderr
    assert "unknown cloud 'no-such-cloud'" in proc.stderr
    assert devcloud_env.admin in proc.stderr          # the known clouds are listed
    assert "starting the appliance" not in proc.stderr


@pytest.mark.slow
def test_bad_credentials_show_status_and_request_id(devcloud_env, tiny_images):
    proc = _cli(devcloud_env, "-f", str(tiny_images["single"]), "-d", "postgresql", "-v", "15",
                "--os-cloud", devcloud_env.admin, "--os-cloud", devcloud_env.bad)
    assert proc.returncode == 3, proc.stderr
    assert "refused the credentials" in proc.stderr
    assert re.search(r"HTTP 401, request req-[0-9a-f-]{36}", proc.stderr), proc.stderr
    assert "starting the appliance" not in proc.stderr


@pytest.mark.slow
def test_unknown_keypair_lists_the_cloud_keypairs(devcloud_env, tiny_images):
    proc = _cli(devcloud_env, "-d", "postgresql", "-v", "15", "-f", str(tiny_images["single"]),
                "-k", "no-such-key", "--os-cloud", devcloud_env.admin, program="dbimage-upload")
    assert proc.returncode == 3, proc.stderr
    assert "has no keypair 'no-such-key'" in proc.stderr and "its keypairs:" in proc.stderr
    assert "dbName=postgresql" in proc.stdout          # the original's variable echo
