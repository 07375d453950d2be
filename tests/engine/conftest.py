"""Fixtures of the engine tests: test inputs (profiles, keys, stand-in patches)
and the real Trove 26.0.0 sources the shipped patches are written against."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from imagekit import paths

HERE = Path(__file__).resolve().parent
STANDIN_PATCHES = HERE / "patches"          # <release>/ folders against tests/imagefactory AGENT_FILES
BAD_PATCHES = STANDIN_PATCHES / "bad"

CA_PEM = b"""-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUSFM2nqv0Lh0sHc5l3jT3mA8l8xgwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMaW1hZ2VraXQtdGVzdDAeFw0yNjExMjIwMDAwMDBaFw0zNjEx
MjIwMDAwMDBaMBcxFTATBgNVBAMMDGltYWdla2l0LXRlc3QwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQ=
-----END CERTIFICATE-----
"""

PROFILE_YAML = """\
name: cloud-a
guest_user: ubuntu
datasources: [ConfigDrive, OpenStack]
ca_bundle: ca.pem
ca_name: cloud-a-ca
guest_agent:
  DEFAULT:
    control_exchange: trove
    transport_url: rabbit://trove:s3cret@192.0.2.10:5672/
    debug: true
  oslo_messaging_rabbit:
    ssl: true
    ssl_ca_file: /etc/trove/certs/cloud-a-ca.pem
"""


@pytest.fixture
def profile_file(tmp_path) -> Path:
    (tmp_path / "ca.pem").write_bytes(CA_PEM)
    p = tmp_path / "cloud-a.yaml"
    p.write_text(PROFILE_YAML)
    return p


@pytest.fixture(scope="session")
def pubkey(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@imagekit-test",
                    "-f", str(d / "ops")], check=True)
    return d / "ops.pub"


@pytest.fixture(scope="session")
def trove26_tree() -> Path:
    """The trove 26.0.0 wheel from PyPI, unpacked once into the cache (the
    tree patches/2026.2 is written against)."""
    root = paths.cache_dir() / "test-downloads" / "trove-26.0.0"
    if (root / "trove" / "common" / "cfg.py").is_file():
        return root
    dl = root.parent
    dl.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                           "trove==26.0.0", "-d", str(dl)], capture_output=True, text=True)
    wheels = sorted(dl.glob("trove-26.0.0-*.whl"))
    if proc.returncode != 0 or not wheels:
        pytest.skip(f"cannot download trove 26.0.0 from PyPI: {proc.stderr.strip()[-200:]}")
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(root)
    return root
