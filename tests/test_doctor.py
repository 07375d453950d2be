"""`imagekit doctor`'s checks for `imagekit verify`: what is missing, each
with its one-line fix, and KVM or TCG for the VMs without a probe launch.
Fast: nothing is launched (the backend's probe is replaced by a failing stub)."""
from __future__ import annotations

import json
import os

import pytest

from imagekit import doctor
from imagekit.guest import backend


@pytest.fixture
def host(tmp_path, monkeypatch):
    """An empty cache and devcloud state folder; a probe launch fails the test."""
    monkeypatch.setenv("IMAGEKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("IMAGEKIT_DEVCLOUD_DIR", str(tmp_path / "devcloud"))
    monkeypatch.delenv("IMAGEKIT_BACKEND", raising=False)
    monkeypatch.setattr(backend, "_kvm_usable", lambda: None)      # as if /dev/kvm worked
    monkeypatch.setattr(backend, "cache_key", lambda: "test-host")

    def no_probe():
        raise AssertionError("doctor probed KVM")
    monkeypatch.setattr(backend, "probe_kvm", no_probe)
    return tmp_path


def _cache_verdict(host, accel: str) -> None:
    (host / "cache").mkdir(parents=True, exist_ok=True)
    (host / "cache" / "backend.json").write_text(json.dumps({"test-host": {
        "accel": accel, "reason": f"{accel.upper()} because of a test", "source": "probe"}}))


def _by_name(checks):
    return {c.name: c for c in checks}


def _without(monkeypatch, *names: str) -> None:
    """Programs `names` are not on this host (neither in the venv nor on PATH)."""
    real = doctor._find_program
    monkeypatch.setattr(doctor, "_find_program", lambda n: None if n in names else real(n))


def test_no_launch_does_not_probe_and_says_so(host):
    vms = doctor.check_vm_accel(launch=False)
    assert vms.status == "warn" and not vms.required
    assert "not known yet" in vms.detail
    assert "without --no-launch" in vms.fix


def test_cached_verdict_is_reported_without_a_launch(host):
    _cache_verdict(host, "kvm")
    vms = doctor.check_vm_accel(launch=False)
    assert vms.status == "ok"
    assert vms.detail.startswith("x86_64 guests: KVM")
    assert "ppc64le guests: TCG" in vms.detail


def test_forced_tcg_needs_no_verdict(host, monkeypatch):
    monkeypatch.setenv("IMAGEKIT_BACKEND", "tcg")
    vms = doctor.check_vm_accel(launch=False)
    assert vms.status == "ok" and "x86_64 guests: TCG" in vms.detail


def test_the_devcloud_recorded_choice_wins(host):
    _cache_verdict(host, "kvm")
    (host / "devcloud").mkdir()
    (host / "devcloud" / "state.json").write_text(json.dumps({"accel": "tcg"}))
    vms = doctor.check_vm_accel(launch=False)
    assert vms.detail.startswith("x86_64 guests: TCG (recorded by the devcloud")


def test_verify_can_run_when_everything_is_there(host, monkeypatch):
    _cache_verdict(host, "tcg")
    monkeypatch.setattr(doctor, "_find_program", lambda n: f"/usr/bin/{n}")
    monkeypatch.setattr(doctor, "check_rabbitmq", lambda: [
        doctor.Check("rabbitmq-server", "ok", "x", required=False)])
    summary = _by_name(doctor.check_verify(launch=False))["imagekit verify"]
    assert (summary.status, summary.detail) == ("ok", "can run here (VMs with TCG)")


def test_missing_tools_say_how_to_install_them(host, monkeypatch):
    _cache_verdict(host, "tcg")
    _without(monkeypatch, "qemu-system-x86_64", "qemu-system-ppc64", "genisoimage", "psql",
             "mariadb", "mysql")
    checks = _by_name(doctor.check_verify(launch=False))
    assert checks["qemu-system-x86_64"].status == "fail"
    assert checks["qemu-system-x86_64"].fix.startswith("apt-get install qemu-system-x86")
    assert checks["genisoimage"].status == "fail"
    # optional: a warning, not a failure
    for name, package in (("qemu-system-ppc64", "qemu-system-ppc"), ("psql", "postgresql-client"),
                          ("mariadb", "mariadb-client")):
        assert checks[name].status == "warn", name
        assert checks[name].fix.startswith(f"apt-get install {package}"), name
    summary = checks["imagekit verify"]
    assert summary.status == "fail"
    assert "qemu-system-x86_64" in summary.detail and "genisoimage" in summary.detail
    assert "make setup" in summary.fix
    # none of them makes doctor as a whole fail: they are verify's, not imagekit's
    assert not any(c.required for c in checks.values())


def test_rabbitmq_and_erlang_missing(host, monkeypatch):
    from imagekit.cloud.devcloud import bus
    monkeypatch.setattr(bus, "SERVER", str(host / "no-rabbitmq-server"))
    monkeypatch.setattr(doctor.shutil, "which", lambda n: None)
    real_exists = os.path.exists
    monkeypatch.setattr(doctor.os.path, "exists",
                        lambda p: False if str(p).endswith("/erl") else real_exists(p))
    checks = _by_name(doctor.check_rabbitmq())
    assert checks["rabbitmq-server"].status == "fail"
    assert checks["rabbitmq-server"].fix == "apt-get install rabbitmq-server (make setup)"
    assert checks["erlang"].status == "fail"
    assert checks["erlang"].fix.startswith("apt-get install erlang-base")


def test_every_failure_has_a_one_line_fix(host, monkeypatch):
    _without(monkeypatch, "qemu-system-x86_64", "qemu-system-ppc64", "genisoimage", "psql",
             "mariadb", "mysql")
    for c in doctor.check_verify(launch=False):
        if c.status != "ok":
            assert c.fix and "\n" not in c.fix, c
