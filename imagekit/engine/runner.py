"""run_plan: a whole plan in one appliance launch.

Validate (no launch), check the source and the output, start the host-side
work (source hash, host keys, file reads) so it overlaps the appliance
start, apply every operation in order on the overlay, finish (SELinux
relabel, machine-id last), save atomically with the manifest. Any failure:
no output file, the source untouched."""
from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from imagekit.engine import ops
from imagekit.engine import output as output_mod
from imagekit.engine.plan import Plan
from imagekit.engine.results import RunResult
from imagekit.engine.workspace import Workspace
from imagekit.guest.image import check_image


def run_plan(source: Path | str, plan: Plan, output: Path | str | None = None, *,
             mode: str = "standalone", dry_run: bool = False, network: bool | None = None,
             workdir: Path | None = None) -> RunResult:
    """Apply `plan` to a copy of `source` and write `output`.

    mode: standalone (default) | thin (overlay on the source, same folder) |
    in-place (replace the source atomically). dry_run: open the source
    read-only and report what every operation would change. network: the
    appliance's network (default: on when the plan runs a command)."""
    start = time.monotonic()
    plan.validate()
    src = check_image(source)
    final = None
    if not dry_run:
        final = output_mod.check_output(src, output, mode)
        output_mod.precheck(src, final, mode)
    if network is None:
        network = plan.network if plan.network is not None else plan.runs_guest_code
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="imagekit-prepare") as pool:
        prepared: list[Future[ops.Prepared]] = [pool.submit(ops.prepare, op) for op in plan]
        ws = Workspace(src, network=network and not dry_run, dry_run=dry_run,
                       workdir=workdir or (final.parent if final else None),
                       selinux_relabel=plan.selinux_relabel)
        if final is not None:
            ws.start_output(final, mode)     # the source's copy overlaps the launch
        with ws:
            n = len(plan)
            for i, (op, fut) in enumerate(zip(plan, prepared, strict=True), 1):
                ws.apply(op, fut.result(), label=f"[{i}/{n}] ")
            if dry_run:
                ws.finish()
                return RunResult(source=src.path, output=None, manifest_path=None, mode=mode,
                                 operations=tuple(ws.results), launches=ws.launches,
                                 seconds=time.monotonic() - start, dry_run=True)
            saved = ws.save(final, mode=mode)
            return RunResult(source=src.path, output=saved.output,
                             manifest_path=saved.manifest_path, mode=mode,
                             operations=tuple(ws.results), launches=ws.launches,
                             seconds=time.monotonic() - start, overlay_bytes=saved.overlay_bytes,
                             manifest=saved.manifest)
