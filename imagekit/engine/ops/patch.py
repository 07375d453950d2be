"""patch: guest-agent patches, all or nothing (see engine/patches.py).

The agent tree and its Trove release come from the image (facts.agent);
`release` means patches/<that release>/*.patch. The files the patches touch
are read from the image, every patch is tried on host-side copies, and only
when all apply are the changed files written back (keeping their modes and
owners) and their stale byte-code removed."""
from __future__ import annotations

import posixpath
from typing import Any

from imagekit.engine import patches
from imagekit.engine.ops.base import Prepared, executes
from imagekit.engine.ops.context import GuestContext
from imagekit.engine.plan import ApplyPatches
from imagekit.errors import GuestError
from imagekit.guest import facts


def agent_root(g: Any, agent: facts.Agent) -> str:
    """The folder that holds the `trove` package (what patches are relative to)."""
    if agent.kind == "venv" and agent.path:
        found = sorted(g.glob_expand(f"{agent.path}/lib/python3*/site-packages/trove"))
        if found:
            return posixpath.dirname(found[0].rstrip("/"))
    if agent.kind == "system" and agent.path:
        return posixpath.dirname(agent.path.rstrip("/"))
    if agent.path:
        return agent.path.rstrip("/")
    raise GuestError("cannot find the Trove guest-agent tree in the image")


def _prepare(op: ApplyPatches) -> Prepared:
    parsed = [patches.parse(f, op.strip) for f in op.files]
    return Prepared({f"patch:{p.name}": p.sha256 for p in parsed}, parsed)


@executes(ApplyPatches, prepare=_prepare)
def apply_patches(op: ApplyPatches, ctx: GuestContext, prep: Prepared) -> None:
    agent = facts.agent(ctx.g)
    if not agent.installed or not agent.path:
        raise GuestError("patch: no Trove guest-agent tree found in the image",
                         "imagekit inspect shows what the image contains; build it with the "
                         "guest agent (imagekit make)")
    root = agent_root(ctx.g, agent)
    ctx.details.update(agent_path=root, release=agent.release, version=agent.version)
    files: list[patches.PatchFile] = []
    if op.release_set:
        if not agent.release:
            raise GuestError(f"patch: cannot tell the Trove release of the agent in {root}",
                             "give the patch files or folder explicitly (--patch patches/<release>/)")
        found = patches.release_set(agent.release, op.series_root)
        if not found:
            ctx.note(f"no patches for Trove release {agent.release}")
        for f in found:
            p = patches.parse(f, op.strip)
            files.append(p)
            prep.inputs[f"patch:{agent.release}/{p.name}"] = p.sha256
    files.extend(prep.payload or [])
    if not files:
        ctx.record(root, "skipped", "no patches to apply")
        return
    originals: dict[str, bytes | None] = {}
    for p in files:
        for rel in p.targets:
            if rel not in originals:
                originals[rel] = ctx.read(f"{root}/{rel}")
    result = patches.trial(files, originals, root, op.strip)
    ctx.details["patches"] = {name: status for name, status in result.status}
    for rel, data in result.new.items():
        path = f"{root}/{rel}"
        if data is None:
            ctx.remove(path)
        else:
            ctx.ensure_dir(posixpath.dirname(path))
            ctx.put_file(path, data)
        if rel.endswith(".py"):
            stem = posixpath.basename(rel)[:-3]
            cache = f"{posixpath.dirname(path)}/__pycache__"
            if ctx.resolve(cache).kind == "dir":
                for pyc in ctx.g.glob_expand(f"{ctx.resolve(cache).path}/{stem}.*.pyc"):
                    ctx.remove(pyc)
    if not result.new:
        ctx.record(root, "unchanged", "every patch was already applied")
