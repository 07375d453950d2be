"""Plans: operations from CLI values and YAML, validation before any launch,
normalization (one patch operation, machine-id last)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from imagekit.engine import (
    ApplyPatches,
    Chmod,
    Chown,
    CopyIn,
    Delete,
    Firstboot,
    GuestConfig,
    IniSet,
    IniUnset,
    MakeDir,
    Plan,
    RegenHostKeys,
    ResetMachineId,
    RunCommand,
    SshInject,
    Symlink,
    UploadFile,
    WriteFile,
    load_plan,
)
from imagekit.engine.plan import BY_KIND, FirstbootCommand, parse_mode
from imagekit.errors import PlanError
from tests.engine.conftest import STANDIN_PATCHES

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH3Zt0p2v6f1r4m9aT8cQ2Xk5y7uH0bV4nW1sJ6dE9gA ops@x"


def test_cli_values_parse_into_operations(tmp_path, pubkey, profile_file):
    (tmp_path / "f.txt").write_text("x")
    assert WriteFile.from_cli("/etc/motd:hello: world") == WriteFile(path="/etc/motd",
                                                                       content=b"hello: world")
    assert UploadFile.from_cli("f.txt:/etc/x", tmp_path) == UploadFile(source=tmp_path / "f.txt",
                                                                      path="/etc/x")
    assert CopyIn.from_cli("f.txt:/opt", tmp_path).dest == "/opt"
    assert MakeDir.from_cli("/etc/trove//conf.d/") == MakeDir(path="/etc/trove/conf.d")
    assert Delete.from_cli("/etc/ssh/ssh_host_*").path == "/etc/ssh/ssh_host_*"
    assert Chmod.from_cli("640:/etc/x") == Chmod(path="/etc/x", mode=0o640)
    assert Chown.from_cli("ubuntu::/etc/x") == Chown(path="/etc/x", owner="ubuntu", group=None)
    assert Chown.from_cli("0:112:/etc/x") == Chown(path="/etc/x", owner="0", group="112")
    assert Symlink.from_cli("/usr/bin/python3:/usr/local/bin/py") == \
        Symlink(target="/usr/bin/python3", path="/usr/local/bin/py")
    assert IniSet.from_cli("/etc/a.conf:DEFAULT:debug = true") == \
        IniSet(path="/etc/a.conf", section="DEFAULT", key="debug", value="true")
    assert IniUnset.from_cli("/etc/a.conf:oslo_messaging_rabbit:ssl").section == "oslo_messaging_rabbit"
    assert GuestConfig.from_cli(str(profile_file)).profile.name == "cloud-a"
    assert SshInject.from_cli(f"ubuntu:file:{pubkey}").keys == (pubkey.read_text().strip(),)
    assert SshInject.from_cli(f"root:string:{KEY}").keys == (KEY,)
    assert RunCommand.from_cli("apt-get -y update").command == "apt-get -y update"
    fb = FirstbootCommand.from_cli("systemctl enable foo")
    assert isinstance(fb, Firstboot) and fb.name == "systemctl" and b"systemctl enable foo" in fb.script
    p = ApplyPatches.from_cli(str(STANDIN_PATCHES / "2026.2"))
    assert [f.name for f in p.files] == ["0001-standin-timeout.patch", "0002-standin-quote.patch"]
    assert ApplyPatches.from_cli("release").release_set


@pytest.mark.parametrize("kind,value,needle", [
    ("write", "etc/motd:x", "not an absolute path"),
    ("write", "/etc/../motd:x", "contains '..'"),
    ("write", "/etc/*.conf:x", "wildcards are only allowed in --delete"),
    ("write", "/etc/trove/conf.d/guest_info.conf:x", "per-instance"),
    ("chmod", "rwx:/etc/x", "not an octal permission mode"),
    ("chmod", "99999:/etc/x", "not an octal"),
    ("chown", "bad user:root:/etc/x", "not a user/group name"),
    ("ini-set", "/etc/trove/conf.d/x.conf:DEFAULT:guest_id=1234", "per-instance"),
    ("ini-set", "/etc/a.conf:DEFAULT:novalue", "expected FILE:SECTION:KEY=VALUE"),
    ("ssh-inject", "ubuntu:string:not-a-key", "not an ssh public key"),
    ("ssh-inject", "ubuntu:token:x", "expected USER"),
    ("upload", "/nonexistent/file:/etc/x", "no such file on this host"),
    ("run-command", "   ", "the command is empty"),
    ("delete", "/", "refusing to delete the whole image"),
    ("link", ":/etc/x", "expected TARGET:LINK"),
])
def test_bad_values_are_refused_before_any_launch(kind, value, needle):
    with pytest.raises(PlanError) as err:
        Plan.of(BY_KIND[kind].from_cli(value, Path.cwd())).validate()
    assert needle in err.value.message


def test_patch_folder_without_patches_and_non_diff(tmp_path):
    with pytest.raises(PlanError, match="no \\*.patch files"):
        ApplyPatches.from_cli(str(tmp_path))
    junk = tmp_path / "junk.patch"
    junk.write_text("this is not a diff\n")
    with pytest.raises(PlanError, match="not a unified diff"):
        Plan.of(ApplyPatches.from_cli(str(junk))).validate()
    evil = tmp_path / "evil.patch"
    evil.write_text("--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-x\n+y\n")
    with pytest.raises(PlanError, match="would leave the guest-agent tree"):
        Plan.of(ApplyPatches.from_cli(str(evil))).validate()


def test_modes_are_octal():
    assert parse_mode("0640") == parse_mode("640") == parse_mode(0o640) == 0o640
    with pytest.raises(PlanError):
        parse_mode("0o640")


def test_plan_normalization_and_immutability(tmp_path):
    a, b = STANDIN_PATCHES / "2026.2" / "0001-standin-timeout.patch", \
        STANDIN_PATCHES / "2026.2" / "0002-standin-quote.patch"
    plan = Plan.of(ApplyPatches(files=(a,)), RegenHostKeys(), ResetMachineId(),
                   WriteFile(path="/x", content=b"1"), ApplyPatches(files=(b,)), ResetMachineId())
    kinds = [op.kind for op in plan]
    assert kinds == ["patch", "regen-host-keys", "write", "reset-machine-id"]
    assert plan.operations[0].files == (a, b)         # one all-or-nothing patch operation
    assert plan.resets_machine_id and not plan.runs_guest_code
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.operations[2].path = "/y"                 # type: ignore[misc]
    with pytest.raises(PlanError, match="no operations"):
        Plan().validate()


def test_yaml_plan_with_every_operation(tmp_path, pubkey, profile_file):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "motd").write_text("welcome\n")
    (tmp_path / "first.sh").write_text("#!/bin/sh\necho hi\n")
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(f"""\
version: 1
network: false
operations:
  - mkdir: {{path: /etc/demo, mode: "0750", owner: ubuntu}}
  - write: {{path: /etc/demo/a.conf, content: "[DEFAULT]\\n", mode: "0640", owner: ubuntu, group: root}}
  - write: "/etc/demo/b.txt:b"
  - upload: {{source: files/motd, path: /etc/motd, mode: "0644"}}
  - copy-in: {{source: files, dest: /opt}}
  - delete: /etc/demo/b.txt
  - chmod: {{path: /etc/demo/a.conf, mode: "0600"}}
  - chown: {{path: /etc/demo/a.conf, owner: root, group: root}}
  - link: {{target: /etc/demo/a.conf, path: /etc/demo/link}}
  - ini-set: {{path: /etc/demo/a.conf, section: DEFAULT, key: debug, value: true}}
  - ini-unset: {{path: /etc/demo/a.conf, section: DEFAULT, key: verbose}}
  - guest-config: {profile_file}
  - ssh-inject: {{user: ubuntu, file: {pubkey}}}
  - regen-host-keys: true
  - run-command: "echo hello"
  - firstboot-command: "echo later"
  - firstboot: first.sh
  - patch: [{STANDIN_PATCHES / '2026.2'}, release]
""")
    plan = load_plan(plan_file)
    assert [op.kind for op in plan] == [
        "mkdir", "write", "write", "upload", "copy-in", "delete", "chmod", "chown", "link",
        "ini-set", "ini-unset", "guest-config", "ssh-inject", "regen-host-keys", "run-command",
        "firstboot", "firstboot", "patch"]
    assert plan.network is False and plan.runs_guest_code
    assert plan.operations[0] == MakeDir(path="/etc/demo", mode=0o750, owner="ubuntu")
    assert plan.operations[3].source == tmp_path / "files" / "motd"     # relative to the plan
    assert plan.operations[9].value == "true"
    assert plan.operations[-1].release_set and len(plan.operations[-1].files) == 2
    d = plan.to_dict()
    assert "s3cret" not in str(d) and "value" not in d["operations"][9]    # no secrets


@pytest.mark.parametrize("text,needle", [
    ("operations:\n  - frobnicate: /x\n", "unknown operation 'frobnicate'"),
    ("version: 2\noperations: []\n", "plan version 2 is not supported"),
    ("operations:\n  - write: {path: /x}\n", "'content' must be a string"),
    ("operations:\n  - write: {path: /x, content: y, colour: red}\n", "unknown field(s) colour"),
    ("operations:\n  - chmod: {path: /x, mode: '0999'}\n", "not an octal permission mode"),
    ("operations: [\n", "not valid YAML"),
    ("operations:\n  - {write: '/a:b', mkdir: /c}\n", "expected one 'kind: value' entry"),
    ("steps: []\n", "unknown top-level key(s) steps"),
    ("operations: []\n", "no operations"),
])
def test_bad_plan_files(tmp_path, text, needle):
    f = tmp_path / "plan.yaml"
    f.write_text(text)
    with pytest.raises(PlanError) as err:
        load_plan(f)
    assert needle in err.value.message
    assert "plan.yaml" in err.value.message
