"""The `devcloud` session fixture: one real local Trove control plane
(Keystone, Glance, Nova API, Trove API; `imagekit devcloud`) for every cloud
test of the session, on fresh state and free ports, stopped at the end.

    def test_x(devcloud):
        conn = devcloud.connect()                  # cloud devcloud.cloud (admin project)
        conn2 = devcloud.connect(devcloud.second_cloud)
        tc = devcloud.trove()                      # python-troveclient v1 client
        proc = devcloud.run_cli("flavor", "upload", "-d", "mysql", "--os-cloud", devcloud.cloud)

While the fixture is active OS_CLIENT_CONFIG_FILE points at its clouds.yaml
(OS_CLOUD is unset), so in-process calls and subprocesses find the clouds.
When a test that uses it fails, the report shows the tails of the services'
logs (server-side tracebacks, the reason behind a 500 or a 415).

Registered for the whole suite by tests/conftest.py (tests/cloud and
tests/check share the one devcloud of a session).

Knobs: IMAGEKIT_DEVCLOUD_VENV (the services' venv, shared between sessions;
installed on first use), IMAGEKIT_DEVCLOUD_START_TIMEOUT."""
from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import pytest

from imagekit.cloud import devcloud as dc
from imagekit.cloud.devcloud.layout import SERVICES
from imagekit.cloud.devcloud.procs import read_tail
from imagekit.cloud.devcloud.services import SERVICE_PROJECT
from tests.util import run_cli as _run_cli

_ACTIVE: list[Devcloud] = []


@dataclass(frozen=True)
class Devcloud(dc.Stack):
    """The session's running devcloud: a devcloud Stack (layout, ports,
    password, cloud_name, clouds, clouds_yaml, url()) plus test helpers."""

    service_project = SERVICE_PROJECT      # Trove's service project (users glance, nova, trove)

    @property
    def cloud(self) -> str:
        """The admin project's cloud name."""
        return self.clouds[0]

    @property
    def second_cloud(self) -> str:
        """A second project with its own admin user, in the same Keystone."""
        return self.clouds[1]

    @property
    def env(self) -> dict[str, str]:
        """Environment for subprocesses: finds the clouds, no proxy for loopback."""
        no_proxy = ",".join(x for x in (os.environ.get("no_proxy"), "127.0.0.1,localhost") if x)
        return {"OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml), "no_proxy": no_proxy,
                "NO_PROXY": no_proxy}

    def connect(self, cloud: str | None = None) -> Any:
        from imagekit.cloud.connect import connect
        return connect(cloud or self.cloud)

    def trove(self, cloud: str | None = None) -> Any:
        from imagekit.cloud.connect import trove_client
        return trove_client(self.connect(cloud))

    def unique(self, prefix: str = "t") -> str:
        """A name no other test (or earlier session) uses."""
        return f"{prefix}{uuid.uuid4().hex[:8]}"

    def run_cli(self, *args: str, program: str = "imagekit", env: dict | None = None,
                **kw: Any) -> subprocess.CompletedProcess:
        """The real console script, with this devcloud's clouds.yaml."""
        return _run_cli(*args, program=program, env={**self.env, **(env or {})}, **kw)

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        for svc in SERVICES:
            log = self.layout.log(svc)
            parts.append(f"--- {log} (last {lines} lines)\n{read_tail(log, lines)}")
        return "\n".join(parts)


@pytest.fixture(scope="session")
def devcloud(tmp_path_factory) -> Iterator[Devcloud]:
    state = tmp_path_factory.mktemp("devcloud")
    opts = dc.Options(state_dir=state, auto_ports=True, fresh=True)
    try:
        stack = dc.up(opts)
    except dc.DevcloudError as exc:
        dc.down(opts)
        pytest.fail(f"the devcloud did not start: {exc}\n{exc.details}\n"
                    f"hint: {exc.hint}", pytrace=False)
    cloud = Devcloud(**{f.name: getattr(stack, f.name) for f in fields(stack)})
    mp = pytest.MonkeyPatch()
    for key, value in cloud.env.items():
        mp.setenv(key, value)
    mp.delenv("OS_CLOUD", raising=False)
    _ACTIVE.append(cloud)
    try:
        yield cloud
    finally:
        _ACTIVE.remove(cloud)
        mp.undo()
        dc.down(opts)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and _ACTIVE and "devcloud" in getattr(item, "fixturenames", ()):
        report.sections.append(("devcloud service logs", _ACTIVE[-1].log_tails()))
    return report
