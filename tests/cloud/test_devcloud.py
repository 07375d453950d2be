"""`imagekit devcloud` against itself: the session's devcloud answers with
real Keystone tokens in two projects, `up` is idempotent and restarts what
died on kept state, `down` signals only processes it started, a taken port
is refused before anything starts."""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest
import yaml

from imagekit.cloud import devcloud as dc
from imagekit.cloud.devcloud import procs
from imagekit.cloud.devcloud.layout import Layout, Ports
from imagekit.errors import UsageError


@pytest.mark.slow
def test_two_clouds_with_their_own_projects(devcloud):
    data = yaml.safe_load(devcloud.clouds_yaml.read_text())
    assert set(data["clouds"]) == {devcloud.cloud, devcloud.second_cloud}
    assert stat.S_IMODE(devcloud.clouds_yaml.stat().st_mode) == 0o600
    first, second = devcloud.connect(), devcloud.connect(devcloud.second_cloud)
    assert first.current_project_id != second.current_project_id
    services = {s.type for s in first.identity.services()}
    assert {"identity", "image", "compute", "database"} <= services
    service_project = first.identity.find_project(devcloud.service_project)
    trove_user = first.identity.find_user("trove")
    assert service_project is not None and trove_user is not None
    assert list(devcloud.trove().datastores.list()) is not None


@pytest.mark.slow
def test_up_again_reuses_the_running_stack(devcloud):
    opts = dc.Options(state_dir=devcloud.layout.state_dir, venv=devcloud.layout.venv)
    t0 = time.monotonic()
    again = dc.up(opts)
    assert time.monotonic() - t0 < 10
    assert not again.started
    assert again.ports == devcloud.ports and again.password == devcloud.password


@pytest.mark.slow
def test_cli_up_status_on_the_running_stack(devcloud):
    state = str(devcloud.layout.state_dir)
    up = devcloud.run_cli("devcloud", "up", "--state-dir", state)
    assert up.returncode == 0, up.stderr
    assert up.stdout.strip().splitlines()[-1] == str(devcloud.clouds_yaml)
    assert "already running" in up.stderr
    st = devcloud.run_cli("devcloud", "status", "--state-dir", state, "--json")
    assert st.returncode == 0, st.stderr
    report = json.loads(st.stdout)
    assert report["running"] is True
    assert {s["name"]: s["port"] for s in report["services"] if s["port"]} == devcloud.ports.as_dict()
    assert {s["name"] for s in report["services"]} >= {"rabbitmq", "conductor", "taskmanager"}
    http = [s for s in report["services"] if s["name"] in ("keystone", "glance", "nova", "trove")]
    assert len(http) == 4 and all(s["http"] and s["http"] < 500 for s in http)
    assert all(s["running"] for s in report["services"])


@pytest.mark.slow
def test_killed_service_is_restarted_on_kept_state(devcloud):
    conn = devcloud.connect()
    name = devcloud.unique("keep-")
    flavor = conn.compute.create_flavor(name=name, ram=1024, vcpus=1, disk=1)
    try:
        lay = devcloud.layout
        pid = procs.read_pid(lay.pidfile("nova"))
        os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while procs.is_ours(pid, lay.process_name("nova")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not dc.status(dc.Options(state_dir=lay.state_dir, venv=lay.venv)).running
        again = dc.up(dc.Options(state_dir=lay.state_dir, venv=lay.venv))
        assert again.started and again.ports == devcloud.ports
        conn = devcloud.connect()
        assert conn.compute.find_flavor(name).id == flavor.id
    finally:
        devcloud.connect().compute.delete_flavor(flavor.id, ignore_missing=True)


@pytest.mark.slow
def test_a_second_devcloud_is_isolated_and_down_purge_removes_it(devcloud, tmp_path):
    """Another fresh devcloud next to the session's (from the init snapshot when
    there is one): its own keys, password and catalog; a token of one is
    refused by the other; `down --purge` stops exactly its four processes."""
    import urllib.error
    import urllib.request

    state = tmp_path / "other"
    up = devcloud.run_cli("devcloud", "up", "--state-dir", str(state), "--ports", "auto",
                          "--fresh", env={"IMAGEKIT_DEVCLOUD_VENV": str(devcloud.layout.venv)})
    assert up.returncode == 0, up.stderr
    other_yaml = up.stdout.strip().splitlines()[-1]
    other = yaml.safe_load(open(other_yaml))["clouds"]["devcloud"]["auth"]
    mine = yaml.safe_load(devcloud.clouds_yaml.read_text())["clouds"]["devcloud"]["auth"]
    assert other["password"] != mine["password"] and other["auth_url"] != mine["auth_url"]
    lay = Layout(state, devcloud.layout.venv)
    assert (lay.data / "keystone-fernet-keys" / "1").read_bytes() != \
        (devcloud.layout.data / "keystone-fernet-keys" / "1").read_bytes()
    try:
        from imagekit.cloud.connect import connect
        os.environ["OS_CLIENT_CONFIG_FILE"] = other_yaml
        try:
            conn = connect("devcloud")
            token = conn.session.get_token()
            urls = {e.url for e in conn.identity.endpoints()}
        finally:
            os.environ["OS_CLIENT_CONFIG_FILE"] = str(devcloud.clouds_yaml)
        assert other["auth_url"] in urls
        assert not any(f":{port}/" in u + "/" for u in urls
                       for port in devcloud.ports.as_dict().values())
        req = urllib.request.Request(devcloud.url("keystone") + "/v3/users",
                                     headers={"X-Auth-Token": token})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=30)
        assert refused.value.code == 401
        pids = {s: procs.read_pid(lay.pidfile(s)) for s in ("keystone", "glance", "nova",
                                                             "trove")}
        assert all(procs.is_ours(p, lay.process_name(s)) for s, p in pids.items())
    finally:
        down = devcloud.run_cli("devcloud", "down", "--state-dir", str(state), "--purge")
    assert down.returncode == 0, down.stderr
    assert not any(os.path.exists(f"/proc/{p}") and procs.is_ours(p, lay.process_name(s))
                   for s, p in pids.items())
    assert not (state / "data").exists() and not (state / "clouds.yaml").exists()
    assert dc.status(dc.Options(state_dir=devcloud.layout.state_dir,
                                venv=devcloud.layout.venv)).running


def _sleeper(*extra: str, ignore_term: bool = False) -> subprocess.Popen:
    """A process in its own session; returns once it is ready (SIGTERM
    ignored already when asked)."""
    code = ("import signal, sys, time\n"
            + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
            + "print('ready', flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, *extra], start_new_session=True,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_stop_refuses_a_pid_that_is_not_ours(tmp_path):
    other = _sleeper()
    try:
        pidfile = tmp_path / "nova.pid"
        pidfile.write_text(f"{other.pid}\n")
        assert procs.stop(pidfile, "imagekit-devcloud-nova-deadbeef") == "not ours"
        time.sleep(0.2)
        assert other.poll() is None, "a process that was not ours got signalled"
    finally:
        other.kill()
        other.wait()


def test_stop_terminates_then_kills_our_process_group(tmp_path):
    name = "imagekit-devcloud-nova-deadbeef"
    polite, stubborn = _sleeper(name), _sleeper(name + "x", ignore_term=True)
    try:
        pidfile = tmp_path / "a.pid"
        pidfile.write_text(f"{polite.pid}\n")
        assert procs.stop(pidfile, name) == "stopped"
        assert not os.path.exists(f"/proc/{polite.pid}")     # gone (and reaped by stop)
        pidfile.write_text(f"{stubborn.pid}\n")
        t0 = time.monotonic()
        assert procs.stop(pidfile, name + "x", timeout=1) == "killed"
        assert 1 <= time.monotonic() - t0 < 5
        assert not os.path.exists(f"/proc/{stubborn.pid}")
        assert not pidfile.exists()
    finally:
        for p in (polite, stubborn):
            if os.path.exists(f"/proc/{p.pid}"):
                p.kill()
                p.wait()


@pytest.mark.slow
def test_a_taken_port_is_refused_before_anything_starts(devcloud, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        free = Ports.free()
        ports = Ports(taken, free.glance, free.nova, free.trove)
        opts = dc.Options(state_dir=tmp_path / "dc", venv=devcloud.layout.venv, ports=ports)
        with pytest.raises(dc.DevcloudError, match=f"keystone {taken}") as err:
            dc.up(opts)
        assert "--ports auto" in err.value.hint
    lay = Layout(opts.state_dir, opts.venv)
    assert not any(lay.pidfile(s).exists() for s in ("keystone", "glance", "nova", "trove"))


def test_ports_parse():
    assert Ports.parse("5001,9293,8775,8780") == Ports(5001, 9293, 8775, 8780)
    for bad in ("5000,9292", "a,b,c,d", "5000,5000,8774,8779", "0,1,2,3"):
        with pytest.raises(UsageError):
            Ports.parse(bad)


def test_cli_bad_ports_is_a_usage_error(tmp_path):
    from tests.util import run_cli
    proc = run_cli("devcloud", "up", "--state-dir", str(tmp_path), "--ports", "1,2")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: bad --ports value '1,2'")
    assert "Traceback" not in proc.stderr


def test_status_of_a_devcloud_that_never_ran(tmp_path):
    from tests.util import run_cli
    proc = run_cli("devcloud", "status", "--state-dir", str(tmp_path / "none"), "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["running"] is False and report["clouds_yaml"] is None
