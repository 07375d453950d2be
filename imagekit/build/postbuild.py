"""The post-build step: one plan through the customization engine
(imagekit.engine, one appliance launch) from the freshly built image (still
under its temporary name) to the final image in images/. It resets the
per-instance identity (machine-id, ssh host keys: our elements and DIB
already do, this makes it a recorded guarantee) and the engine writes its
provenance manifest into the image and beside it (<image>.manifest.json).

With IMAGEKIT_SKIP_POSTBUILD=1 (or without the engine) the built image is
renamed into place as it is."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

from imagekit import ui


def _engine():
    try:
        plan = importlib.import_module("imagekit.engine.plan")
        runner = importlib.import_module("imagekit.engine.runner")
    except ImportError:
        return None
    return plan, runner


def operations(plan_mod) -> tuple:
    return (plan_mod.Delete(path="/var/lib/dbus/machine-id"),
            plan_mod.Delete(path="/etc/ssh/ssh_host_*"),
            plan_mod.ResetMachineId())


def run(built: Path, final: Path, extra: tuple = ()) -> str:
    """Write `final` from `built` through the post-build plan (and the
    `extra` operations, e.g. the database's container image); returns a
    note. `built` is consumed (removed or renamed)."""
    engine = None if os.environ.get("IMAGEKIT_SKIP_POSTBUILD") == "1" else _engine()
    if engine is None:
        os.replace(built, final)
        return "post-build plan skipped"
    plan_mod, runner = engine
    plan = plan_mod.Plan.of(*extra, *operations(plan_mod), network=False)
    what = "reset machine-id and host keys, record the manifest"
    if extra:
        what = "preload the database image, " + what
    with ui.step(f"post-build plan: {what}") as d:
        res = runner.run_plan(built, plan, final, mode="standalone")
        d["note"] = f"{len(plan)} operations, manifest {Path(res.manifest_path).name}"
    built.unlink(missing_ok=True)
    return f"post-build plan: {len(plan)} operations; manifest {res.manifest_path}"
