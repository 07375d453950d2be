"""The customization engine: plans of typed operations applied in one
libguestfs appliance launch, on a qcow2 overlay; the source is never
modified; the output is written atomically with a provenance manifest.

    from imagekit.engine import Plan, WriteFile, RegenHostKeys, run_plan, load_profile
    plan = Plan.of(GuestConfig(profile=load_profile("cloud.yaml")), RegenHostKeys())
    result = run_plan(Path("golden.qcow2"), plan, Path("cloud-a.qcow2"))

    with Workspace("golden.qcow2") as ws:        # one operation at a time
        ws.apply(WriteFile(path="/etc/motd", content=b"hi\\n"))
        ws.save("out.qcow2")
"""
from imagekit.engine.manifest import GUEST_PATH as MANIFEST_GUEST_PATH
from imagekit.engine.manifest import SCHEMA as MANIFEST_SCHEMA
from imagekit.engine.output import MODES
from imagekit.engine.plan import (
    OPERATIONS,
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
    Operation,
    Plan,
    RegenHostKeys,
    ResetMachineId,
    RunCommand,
    SelinuxRelabel,
    SshInject,
    Symlink,
    UploadFile,
    WriteFile,
    load_plan,
    plan_from_dict,
)
from imagekit.engine.profile import CloudProfile, load_profile
from imagekit.engine.results import Change, OpResult, RunResult
from imagekit.engine.runner import run_plan
from imagekit.engine.workspace import SaveResult, Workspace

__all__ = [
    "MANIFEST_GUEST_PATH", "MANIFEST_SCHEMA", "MODES", "OPERATIONS", "ApplyPatches", "Change",
    "Chmod", "Chown", "CloudProfile", "CopyIn", "Delete", "Firstboot", "GuestConfig", "IniSet",
    "IniUnset", "MakeDir", "OpResult", "Operation", "Plan", "RegenHostKeys", "ResetMachineId",
    "RunCommand", "RunResult", "SaveResult", "SelinuxRelabel", "SshInject", "Symlink",
    "UploadFile", "Workspace", "WriteFile", "load_plan", "load_profile", "plan_from_dict",
    "run_plan",
]
