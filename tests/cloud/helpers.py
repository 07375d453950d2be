"""Helpers of the upload/registration tests, on top of the `devcloud` session
fixture (tests/cloud/conftest.py): the cloud names to use, a clouds.yaml with
two extra entries (Trove's service project, and wrong credentials), and a way
to kill and restart one of the devcloud's services (only the pid the devcloud
recorded, after checking it is still the process it started)."""
from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml


@dataclass(frozen=True)
class DevcloudEnv:
    stack: Any
    clouds_yaml: Path
    admin: str            # admin project
    second: str           # a second project with its own admin user
    service: str          # Trove's service project (user trove)
    bad: str              # the admin user with a wrong password


def write_clouds_yaml(stack: Any, dest: Path) -> DevcloudEnv:
    data = yaml.safe_load(Path(stack.clouds_yaml).read_text())
    clouds = data["clouds"]
    admin, second = stack.clouds[0], stack.clouds[1]
    base = clouds[admin]
    clouds[f"{admin}-service"] = {**base, "auth": {**base["auth"], "username": "trove",
                                                   "project_name": "service"}}
    clouds[f"{admin}-bad"] = {**base, "auth": {**base["auth"], "password": "wrong-password"}}
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    dest.chmod(0o600)
    return DevcloudEnv(stack, dest, admin, second, f"{admin}-service", f"{admin}-bad")


@pytest.fixture(scope="session", name="devcloud_env")
def devcloud_env_fixture(devcloud, tmp_path_factory) -> Iterator[DevcloudEnv]:
    """The devcloud with OS_CLIENT_CONFIG_FILE pointing at a clouds.yaml that
    also has `<name>-service` and `<name>-bad`."""
    env = write_clouds_yaml(devcloud, tmp_path_factory.mktemp("clouds") / "clouds.yaml")
    mp = pytest.MonkeyPatch()
    mp.setenv("OS_CLIENT_CONFIG_FILE", str(env.clouds_yaml))
    mp.delenv("OS_CLOUD", raising=False)
    try:
        yield env
    finally:
        mp.undo()


def kill_service(stack: Any, service: str, sig: int = signal.SIGKILL) -> int:
    """Signal the devcloud's recorded gunicorn master of `service` (its
    process group: master and worker) and wait until it is gone."""
    from imagekit.cloud.devcloud import procs
    lay = stack.layout
    name = lay.process_name(service)
    pid = procs.read_pid(lay.pidfile(service))
    assert pid is not None and procs.is_ours(pid, name), f"{service} is not running as recorded"
    os.killpg(pid, sig)
    deadline = time.monotonic() + 15
    while procs.is_ours(pid, name):
        assert time.monotonic() < deadline, f"{service} (pid {pid}) survived signal {sig}"
        time.sleep(0.05)
    return pid


def restart(stack: Any) -> Any:
    """Start what is missing again (the devcloud's own idempotent `up`)."""
    from imagekit.cloud import devcloud
    return devcloud.up(devcloud.Options(state_dir=stack.layout.state_dir,
                                        venv=stack.layout.venv, ports=stack.ports,
                                        cloud_name=stack.cloud_name))
