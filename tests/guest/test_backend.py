"""The KVM/TCG choice: forced, cached, and probed (a hanging KVM falls back
to TCG within the timeout, and the probe leaves no process behind)."""
from __future__ import annotations

import json
import os
import time

import pytest

from imagekit.errors import UsageError
from imagekit.guest import backend
from tests.util import run_cli


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("IMAGEKIT_BACKEND", raising=False)
    return tmp_path / "cache"


def test_forced_tcg_needs_no_probe(own_cache):
    c = backend.choose("tcg")
    assert (c.accel, c.source, c.settings) == ("tcg", "forced", ["force_tcg"])
    assert not (own_cache / "backend.json").exists()


def test_env_var_forces(own_cache, monkeypatch):
    monkeypatch.setenv("IMAGEKIT_BACKEND", "tcg")
    assert backend.choose().source == "forced"


def test_unknown_backend_is_a_usage_error(own_cache):
    with pytest.raises(UsageError, match="unknown appliance backend 'xen'"):
        backend.choose("xen")


def test_cached_verdict_is_used(own_cache):
    own_cache.mkdir(parents=True)
    key = backend.cache_key()
    (own_cache / "backend.json").write_text(json.dumps(
        {key: {"accel": "tcg", "reason": "TCG because of a test", "source": "probe"}}))
    c = backend.choose()
    assert (c.accel, c.source, c.reason) == ("tcg", "cache", "TCG because of a test")


@pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK), reason="needs /dev/kvm")
def test_hanging_kvm_falls_back_to_tcg_and_leaves_no_process(own_cache, monkeypatch, tmp_path):
    hang = tmp_path / "qemu-that-hangs"
    hang.write_text("#!/bin/sh\nexec sleep 600\n")
    hang.chmod(0o755)
    monkeypatch.setenv("IMAGEKIT_PROBE_HV", str(hang))
    monkeypatch.setenv("IMAGEKIT_KVM_PROBE_TIMEOUT", "3")
    t = time.monotonic()
    c = backend.choose()
    assert time.monotonic() - t < 120
    assert c.accel == "tcg" and c.source == "probe"
    assert "did not finish booting within 3 s" in c.reason
    # the verdict is cached, and no process of the probe survives
    cached = json.loads((own_cache / "backend.json").read_text())
    assert cached[backend.cache_key()]["accel"] == "tcg"
    leftovers = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if str(hang).encode() in cmd or b"--probe-child" in cmd:
                leftovers.append(pid)
    assert leftovers == []


def test_doctor_says_what_was_chosen_and_why():
    proc = run_cli("doctor", "--json", "--no-launch")
    data = json.loads(proc.stdout)
    names = {c["name"]: c for c in data["checks"]}
    chosen = names["appliance backend"]
    assert chosen["status"] == "ok"
    assert chosen["detail"].startswith(("KVM", "TCG"))
    assert "because" in chosen["detail"]
    assert proc.returncode == (0 if data["ok"] else 1)
