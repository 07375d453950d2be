"""The done-when test: on the real DIB-built image, a plan with every
operation runs in one appliance launch; the result, read back, shows every
change; the manifest lists them. (Two launches: the run and the read-back.)"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engine import guestview
from tests.engine.conftest import CA_PEM, PROFILE_YAML, STANDIN_PATCHES
from tests.imagefactory import AGENT_FILES
from tests.util import fingerprint, run_cli

pytestmark = [pytest.mark.guestfs, pytest.mark.slow]

SITE = "/opt/guest-agent-venv/lib/python3.11/site-packages"
UNIT = ("[Unit]\nDescription=OpenStack Trove Guest Agent\nAfter=network.target\n[Service]\n"
        "User=ubuntu\nGroup=ubuntu\nExecStart=/opt/guest-agent-venv/bin/trove-guestagent "
        "--config-dir=/etc/trove/conf.d\n[Install]\nWantedBy=multi-user.target\n")


def _inputs(folder: Path, pubkey: Path) -> Path:
    site = folder / "site-packages"
    for rel, text in AGENT_FILES.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    meta = site / "trove-26.0.0.dist-info" / "METADATA"
    meta.parent.mkdir(parents=True)
    meta.write_text("Metadata-Version: 2.1\nName: trove\nVersion: 26.0.0\n")
    (folder / "guest-agent.service").write_text(UNIT)
    (folder / "ca.pem").write_bytes(CA_PEM)
    (folder / "cloud-a.yaml").write_text(PROFILE_YAML)
    (folder / "first.sh").write_text("#!/bin/sh\necho first boot script\n")
    plan = folder / "retarget.yaml"
    plan.write_text(f"""\
version: 1
operations:
  - run-command: "useradd -m -U -s /bin/bash ubuntu"
  - mkdir: /opt/guest-agent-venv/lib/python3.11
  - copy-in: {{source: site-packages, dest: /opt/guest-agent-venv/lib/python3.11}}
  - upload: {{source: guest-agent.service, path: /etc/systemd/system/guest-agent.service}}
  - link: {{target: /etc/systemd/system/guest-agent.service, path: /etc/systemd/system/multi-user.target.wants/guest-agent.service}}
  - guest-config: cloud-a.yaml
  - ini-set: {{path: /etc/trove/conf.d/trove-guestagent.conf, section: DEFAULT, key: log_dir, value: /var/log/trove}}
  - ini-unset: {{path: /etc/trove/conf.d/trove-guestagent.conf, section: DEFAULT, key: debug}}
  - ssh-inject: {{user: ubuntu, file: {pubkey}}}
  - regen-host-keys: true
  - patch: {STANDIN_PATCHES / '2026.2'}
  - mkdir: {{path: /var/log/trove, mode: "0775", owner: ubuntu, group: root}}
  - write: {{path: /etc/motd, content: "re-targeted by imagekit\\n"}}
  - chmod: {{path: /etc/motd, mode: "0640"}}
  - chown: {{path: /etc/motd, owner: root, group: ubuntu}}
  - delete: /etc/issue.net
  - run-command: "dpkg-query -W openssh-server > /etc/retarget-marker"
  - firstboot: first.sh
""")
    return plan


def test_every_operation_on_the_dib_image(dib_base_image, tmp_path, pubkey):
    src = dib_base_image
    before = fingerprint(src)
    plan = _inputs(tmp_path, pubkey)
    out = tmp_path / "out" / "cloud-a.qcow2"
    out.parent.mkdir()
    proc = run_cli("customize", str(src), "-o", str(out), "--plan", str(plan), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert fingerprint(src) == before
    result = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    assert result["event"] == "result" and result["launches"] == 1

    paths = ["/etc/trove/conf.d/trove-guestagent.conf", "/etc/trove/certs/cloud-a-ca.pem",
             "/home/ubuntu/.ssh/authorized_keys", "/etc/ssh/ssh_host_*", "/etc/machine-id",
             f"{SITE}/trove/guestagent/datastore/postgres/service.py", "/var/log/trove",
             "/etc/motd", "/etc/issue.net", "/etc/retarget-marker",
             "/usr/local/lib/imagekit/firstboot/01-first.sh", "/etc/imagekit/manifest.json",
             "/usr/local/share/ca-certificates/cloud-a-ca.crt"]
    views = guestview.snapshot({"src": src, "out": out}, paths)
    v, s = views["out"], views["src"]
    ubuntu = v.users["ubuntu"]
    assert "ubuntu" not in s.users
    conf = v["/etc/trove/conf.d/trove-guestagent.conf"]
    assert (conf.mode, conf.uid, conf.gid) == (0o640, ubuntu.uid, ubuntu.gid)
    assert "log_dir = /var/log/trove" in conf.text and "debug" not in conf.text
    assert "transport_url = rabbit://" in conf.text
    assert v["/etc/trove/certs/cloud-a-ca.pem"].data == CA_PEM
    assert v["/usr/local/share/ca-certificates/cloud-a-ca.crt"].data == CA_PEM
    assert v.cloud_init.datasources == ("ConfigDrive", "OpenStack")
    assert v.agent.installed and v.agent.release == "2026.2" and v.agent.unit.enabled
    assert v.agent.unit.user == "ubuntu"
    ak = v["/home/ubuntu/.ssh/authorized_keys"]
    assert ak.text == pubkey.read_text() and (ak.mode, ak.uid) == (0o600, ubuntu.uid)
    assert {k.type for k in v.host_keys if k.private and k.public} >= {"rsa", "ecdsa", "ed25519"}
    assert all(v[p].uid == 0 and v[p].mode == (0o644 if p.endswith(".pub") else 0o600)
               for p in v.entries if p.startswith("/etc/ssh/ssh_host_"))
    assert v["/etc/machine-id"].data == b""
    assert "STATEMENT_TIMEOUT" in v[f"{SITE}/trove/guestagent/datastore/postgres/service.py"].text
    log = v["/var/log/trove"]
    assert (log.kind, log.mode, log.uid, log.gid) == ("dir", 0o775, ubuntu.uid, 0)
    motd = v["/etc/motd"]
    assert (motd.text, motd.mode, motd.uid, motd.gid) == ("re-targeted by imagekit\n", 0o640, 0,
                                                          ubuntu.gid)
    assert s["/etc/issue.net"] is not None and v["/etc/issue.net"] is None
    assert v["/etc/retarget-marker"].text.startswith("openssh-server")
    assert v["/usr/local/lib/imagekit/firstboot/01-first.sh"] is not None

    manifest = v["/etc/imagekit/manifest.json"].data
    assert manifest == out.with_name("cloud-a.qcow2.manifest.json").read_bytes()
    m = json.loads(manifest)
    kinds = [o["op"] for o in m["operations"]]
    assert kinds == ["run-command", "mkdir", "copy-in", "upload", "link", "guest-config",
                     "ini-set", "ini-unset", "ssh-inject", "regen-host-keys", "patch", "mkdir",
                     "write", "chmod", "chown", "delete", "run-command", "firstboot",
                     "selinux-relabel", "reset-machine-id"]
    assert all(o["changes"] for o in m["operations"] if not o.get("implicit"))
    assert m["source"]["sha256"] == before[0] and m["guest"]["distro"] == "debian"
