"""The engine on real tiny images: every operation, the three output modes and
a foreign-architecture image, each run one appliance launch; everything is
then read back in ONE read-only launch (launches here: 4 runs + 1 check)."""
from __future__ import annotations

import json
import shutil
import urllib.parse
from pathlib import Path

import pytest

from imagekit import aptsources
from imagekit.engine import (
    MANIFEST_SCHEMA,
    ApplyPatches,
    Firstboot,
    IniSet,
    Plan,
    RunCommand,
    Workspace,
    WriteFile,
    load_profile,
    run_plan,
)
from imagekit.errors import GuestError
from imagekit.guest.image import check_image
from imagekit.tools import qemuimg
from tests.engine import guestview
from tests.engine.conftest import CA_PEM, STANDIN_PATCHES
from tests.imagefactory import AGENT_FILES
from tests.util import fingerprint, run_cli, sha256

pytestmark = pytest.mark.guestfs

SITE = "/opt/guest-agent-venv/lib/python3.11/site-packages"
SERVICE = f"{SITE}/trove/guestagent/datastore/postgres/service.py"


def _plan_yaml(folder: Path, profile: Path, pubkey: Path) -> Path:
    (folder / "files").mkdir()
    (folder / "files" / "motd").write_text("welcome\n")
    (folder / "tree" / "sub").mkdir(parents=True)
    (folder / "tree" / "a.txt").write_text("a\n")
    (folder / "tree" / "sub" / "b.txt").write_text("b\n")
    host = urllib.parse.urlparse(aptsources.distro_mirror()).hostname
    plan = folder / "plan.yaml"
    plan.write_text(f"""\
version: 1
operations:
  - mkdir: {{path: /etc/demo, mode: "0750", owner: ubuntu}}
  - write: {{path: /etc/demo/a.conf, content: "[DEFAULT]\\nverbose = true\\n", mode: "0640", owner: ubuntu, group: postgres}}
  - ini-set: {{path: /etc/demo/a.conf, section: DEFAULT, key: debug, value: true}}
  - ini-unset: {{path: /etc/demo/a.conf, section: DEFAULT, key: verbose}}
  - link: {{target: /etc/demo/a.conf, path: /etc/demo/current}}
  - upload: {{source: files/motd, path: /etc/motd}}
  - chmod: {{path: /etc/motd, mode: "0600"}}
  - chown: {{path: /etc/motd, owner: postgres, group: postgres}}
  - copy-in: {{source: tree, dest: /opt}}
  - delete: /etc/hostname
  - mkdir: /usr/local/share/ca-certificates
  - mkdir: /etc/ssl/certs
  - write: {{path: /etc/ssl/certs/ca-certificates.crt, content: "# the system bundle\\n"}}
  - guest-config: {profile}
  - ssh-inject: {{user: ubuntu, file: {pubkey}}}
  - regen-host-keys: true
  - mkdir: /etc/selinux/targeted
  - write: {{path: /etc/selinux/config, content: "SELINUX=enforcing\\nSELINUXTYPE=targeted\\n"}}
  - delete: /etc/resolv.conf
  - link: {{target: ../run/systemd/resolve/stub-resolv.conf, path: /etc/resolv.conf}}
  - run-command: "nslookup {host} >/dev/null && echo dns-ok; echo made-by-command > /root/from-command"
  - firstboot-command: "echo hello-first-boot"
  - patch: {STANDIN_PATCHES / '2026.2'}
""")
    return plan


@pytest.fixture(scope="module")
def runs(tiny_images, tmp_path_factory, pubkey):
    """Four customizations (one launch each), then one read-back launch."""
    folder = tmp_path_factory.mktemp("customize")
    golden = folder / "golden.qcow2"
    shutil.copyfile(tiny_images["single"], golden)
    ppc = folder / "ppc.qcow2"
    shutil.copyfile(tiny_images["ppc64le"], ppc)
    inputs = tmp_path_factory.mktemp("inputs")
    (inputs / "ca.pem").write_bytes(CA_PEM)
    from tests.engine.conftest import PROFILE_YAML
    (inputs / "cloud-a.yaml").write_text(PROFILE_YAML)
    plan = _plan_yaml(inputs, inputs / "cloud-a.yaml", pubkey)
    out = {"folder": folder, "golden": golden, "before": fingerprint(golden),
           "profile": load_profile(inputs / "cloud-a.yaml"), "pubkey": pubkey.read_text().strip()}

    # A: the CLI, a YAML plan plus command-line operations, JSON events
    full = folder / "full.qcow2"
    proc = run_cli("customize", str(golden), "-o", str(full), "--plan", str(plan),
                   "--write", "/etc/cli-marker:from-cli", "--chmod", "0600:/etc/cli-marker",
                   "--json")
    out["cli"] = proc
    out["events"] = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    out["after_cli"] = fingerprint(golden)

    # B: thin output through the API; the patch set of the image's release
    thin = folder / "thin.qcow2"
    out["thin"] = run_plan(golden, Plan.of(
        WriteFile(path="/etc/thin-marker", content=b"thin\n"),
        ApplyPatches(release_set=True, series_root=STANDIN_PATCHES)), thin, mode="thin")

    # C: in place, atomically, on a copy of the thin output (a manifest already
    # inside, a backing file that must stay)
    inplace = folder / "inplace.qcow2"
    shutil.copyfile(thin, inplace)
    out["inplace_inode"] = inplace.stat().st_ino
    out["inplace"] = run_plan(inplace, Plan.of(
        IniSet(path="/etc/trove/conf.d/extra.conf", section="DEFAULT", key="a", value="1")),
        None, mode="in-place")

    # D: a ppc64le image: commands refused, first-boot scripts and files fine
    ppc_out = folder / "ppc-out.qcow2"
    with Workspace(ppc, workdir=folder) as ws:
        with pytest.raises(GuestError) as refused:
            ws.apply(RunCommand(command="uname -m"))
        out["ppc_refused"] = refused.value
        ws.apply(Firstboot.command("uname -m > /root/arch"))
        ws.apply(WriteFile(path="/etc/ppc-marker", content=b"ppc\n"))
        out["ppc"] = ws.save(ppc_out)
    out["ppc_launches"] = ws.launches

    paths = ["/etc/demo", "/etc/demo/a.conf", "/etc/demo/current", "/etc/motd", "/opt/tree",
             "/opt/tree/a.txt", "/opt/tree/sub/b.txt", "/etc/hostname",
             "/etc/trove/conf.d/trove-guestagent.conf", "/etc/trove/certs/cloud-a-ca.pem",
             "/usr/local/share/ca-certificates/cloud-a-ca.crt",
             "/etc/ssl/certs/ca-certificates.crt",
             "/etc/cloud/cloud.cfg.d/99-imagekit-datasources.cfg", "/home/ubuntu/.ssh",
             "/home/ubuntu/.ssh/authorized_keys", "/etc/ssh/ssh_host_*", "/etc/machine-id",
             "/.autorelabel", "/etc/resolv.conf", "/root/from-command", "/tmp/*",
             "/usr/local/lib/imagekit/firstboot/*",
             "/etc/systemd/system/imagekit-firstboot.service",
             "/etc/systemd/system/multi-user.target.wants/imagekit-firstboot.service",
             SERVICE, "/etc/cli-marker", "/etc/imagekit/manifest.json", "/etc/thin-marker",
             "/etc/trove/conf.d/extra.conf", "/etc/ppc-marker"]
    out["views"] = guestview.snapshot({"golden": golden, "full": full, "thin": thin,
                                       "inplace": inplace, "ppc": ppc_out}, paths)
    return out


def test_cli_run_succeeded_in_one_launch(runs):
    proc = runs["cli"]
    assert proc.returncode == 0, proc.stderr
    result = runs["events"][-1]
    assert result["event"] == "result" and result["launches"] == 1
    assert result["output"].endswith("full.qcow2")
    done = [e for e in runs["events"] if e["event"] == "step-done" and "op" in e]
    assert len(done) == len(result["operations"])                # one timed line per operation
    assert runs["before"] == runs["after_cli"] == fingerprint(runs["golden"])


def test_files_modes_owners_and_links(runs):
    v = runs["views"]["full"]
    assert (v["/etc/demo"].kind, v["/etc/demo"].mode, v["/etc/demo"].uid) == ("dir", 0o750, 1000)
    conf = v["/etc/demo/a.conf"]
    assert (conf.mode, conf.uid, conf.gid) == (0o640, 1000, 112)          # ubuntu:postgres by name
    assert conf.text == "[DEFAULT]\ndebug = true\n"                      # ini-set, ini-unset
    assert v["/etc/demo/current"].target == "/etc/demo/a.conf"
    motd = v["/etc/motd"]
    assert (motd.text, motd.mode, motd.uid, motd.gid) == ("welcome\n", 0o600, 108, 112)
    assert v["/opt/tree/a.txt"].text == "a\n" and v["/opt/tree/sub/b.txt"].text == "b\n"
    assert v["/opt/tree/sub/b.txt"].uid == 0
    assert v["/etc/hostname"] is None and runs["views"]["golden"]["/etc/hostname"] is not None
    assert v["/etc/cli-marker"].text == "from-cli" and v["/etc/cli-marker"].mode == 0o600


def test_guest_config_from_the_profile(runs):
    v, prof = runs["views"]["full"], runs["profile"]
    conf = v["/etc/trove/conf.d/trove-guestagent.conf"]
    assert conf.data == prof.agent_conf and (conf.mode, conf.uid, conf.gid) == (0o640, 1000, 1000)
    assert v["/etc/trove/certs/cloud-a-ca.pem"].data == CA_PEM
    assert v["/usr/local/share/ca-certificates/cloud-a-ca.crt"].data == CA_PEM
    bundle = v["/etc/ssl/certs/ca-certificates.crt"].data
    assert bundle.startswith(b"# the system bundle\n") and CA_PEM in bundle
    assert v.cloud_init.datasources == ("ConfigDrive", "OpenStack")
    assert v.cloud_init.datasource_file == "/etc/cloud/cloud.cfg.d/99-imagekit-datasources.cfg"


def test_keys_machine_id_and_relabel(runs):
    v, golden = runs["views"]["full"], runs["views"]["golden"]
    ssh, ak = v["/home/ubuntu/.ssh"], v["/home/ubuntu/.ssh/authorized_keys"]
    assert (ssh.mode, ssh.uid, ssh.gid) == (0o700, 1000, 1000)
    assert (ak.mode, ak.uid, ak.gid) == (0o600, 1000, 1000) and ak.text == runs["pubkey"] + "\n"
    keys = {p: e for p, e in v.entries.items() if p.startswith("/etc/ssh/ssh_host_")}
    assert sorted(keys) == sorted(p for p in golden.entries if p.startswith("/etc/ssh/ssh_host_"))
    assert len(keys) == 4                                   # the image's types: rsa, ed25519
    for p, e in keys.items():
        assert (e.mode, e.uid, e.gid) == ((0o644 if p.endswith(".pub") else 0o600), 0, 0)
        assert e.data != golden[p].data                     # new keys
    assert golden["/etc/machine-id"].data and v["/etc/machine-id"].data == b""
    assert v["/.autorelabel"] is not None and golden["/.autorelabel"] is None


def test_command_dns_and_resolv_conf(runs):
    v = runs["views"]["full"]
    assert v["/root/from-command"].text == "made-by-command\n"
    assert v["/etc/resolv.conf"].target == "../run/systemd/resolve/stub-resolv.conf"
    assert not [p for p in v.entries if p.startswith("/tmp/")]       # scratch files removed
    ops = {o["op"]: o for o in runs["events"][-1]["operations"]}
    run = ops["run-command"]["details"]
    assert run["exit_code"] == 0 and "dns-ok" in run["output"] and run["network"] is True


def test_firstboot_unit_and_patches(runs):
    v = runs["views"]["full"]
    scripts = [p for p in v.entries if p.startswith("/usr/local/lib/imagekit/firstboot/")]
    assert scripts == ["/usr/local/lib/imagekit/firstboot/01-echo"]
    assert "echo hello-first-boot" in v[scripts[0]].text and v[scripts[0]].mode == 0o755
    assert "Type=oneshot" in v["/etc/systemd/system/imagekit-firstboot.service"].text
    assert v["/etc/systemd/system/multi-user.target.wants/imagekit-firstboot.service"].target == \
        "/etc/systemd/system/imagekit-firstboot.service"
    service = v[SERVICE].text
    assert "STATEMENT_TIMEOUT = '30s'" in service and 'CREATE USER "%s"' in service
    assert runs["views"]["golden"][SERVICE].text == AGENT_FILES[
        "trove/guestagent/datastore/postgres/service.py"]


def test_manifest_in_and_beside_the_image(runs):
    v = runs["views"]["full"]
    full = runs["folder"] / "full.qcow2"
    beside = full.with_name("full.qcow2.manifest.json")
    assert v["/etc/imagekit/manifest.json"].data == beside.read_bytes()
    m = json.loads(beside.read_bytes())
    assert m["schema"] == MANIFEST_SCHEMA and m["launches"] == 1
    assert m["source"]["sha256"] == sha256(runs["golden"])
    assert m["output"] == {"name": "full.qcow2", "mode": "standalone", "format": "qcow2"}
    assert set(m["tools"]) == {"imagekit", "libguestfs", "qemu"}
    assert m["guest"]["agent"]["release"] == "2026.2"
    kinds = [o["op"] for o in m["operations"]]
    assert kinds[-2:] == ["selinux-relabel", "reset-machine-id"]      # machine-id last
    assert kinds.count("write") == 4 and "guest-config" in kinds and "patch" in kinds
    by = {o["op"]: o for o in m["operations"]}
    assert by["guest-config"]["inputs"]["profile"] == runs["profile"].sha256()
    assert any(c["path"] == SERVICE for c in by["patch"]["changes"])
    assert by["patch"]["details"]["patches"] == {"0001-standin-timeout.patch": "applied",
                                                 "0002-standin-quote.patch": "applied"}
    assert "s3cret" not in beside.read_text()
    info = qemuimg.info(full)
    assert info.backing_file is None and check_image(full)


def test_thin_output(runs):
    thin = runs["thin"]
    info = qemuimg.info(thin.output)
    assert info.backing_file == "golden.qcow2" and info.backing_format == "qcow2"
    assert check_image(thin.output).backing_chain[0].path.name == "golden.qcow2"
    v = runs["views"]["thin"]
    assert v["/etc/thin-marker"].text == "thin\n"
    assert "STATEMENT_TIMEOUT" in v[SERVICE].text                   # release detected: 2026.2
    m = json.loads(thin.manifest_path.read_text())
    assert m["output"]["mode"] == "thin"
    assert thin.output.stat().st_size < 4 << 20                      # only the changes


def test_in_place_is_atomic_and_keeps_history(runs):
    res = runs["inplace"]
    assert res.output == runs["folder"] / "inplace.qcow2"
    assert res.output.stat().st_ino != runs["inplace_inode"]       # renamed over, not rewritten
    v = runs["views"]["inplace"]
    assert v["/etc/trove/conf.d/extra.conf"].text == "[DEFAULT]\na = 1\n"
    assert v["/etc/thin-marker"].text == "thin\n"                   # what it was made from
    assert qemuimg.info(res.output).backing_file == "golden.qcow2"   # still thin
    m = json.loads(res.manifest_path.read_text())
    assert m["output"]["mode"] == "in-place" and len(m["history"]) == 1
    earlier = m["history"][0]
    assert earlier["output"]["mode"] == "thin" and "history" not in earlier
    assert [o["op"] for o in earlier["operations"]][:2] == ["write", "patch"]
    assert v["/etc/imagekit/manifest.json"].data == res.manifest_path.read_bytes()
    assert not [p for p in runs["folder"].iterdir() if p.name.startswith(".")]   # no leftovers


def test_foreign_architecture(runs):
    err = runs["ppc_refused"]
    assert "ppc64le" in err.message and "--firstboot-command" in err.hint
    v = runs["views"]["ppc"]
    assert v.guest.arch == "ppc64le" and v["/etc/ppc-marker"].text == "ppc\n"
    assert "uname -m > /root/arch" in v["/usr/local/lib/imagekit/firstboot/01-uname"].text
    assert runs["ppc_launches"] == 1
    assert [o["op"] for o in runs["ppc"].manifest["operations"]] == \
        ["firstboot", "write", "selinux-relabel"]
