"""A write session on an image: a qcow2 overlay on the (never modified)
source, one appliance launch, the guest mounted read-write; operations
applied one by one; then `save(output, mode=...)` (atomic, manifest
written) or nothing (the overlay is discarded).

    with Workspace("golden.qcow2") as ws:
        ws.apply(WriteFile(path="/etc/motd", content=b"hi\\n"))
        ws.save(Path("out.qcow2"))                  # standalone | thin | in-place

`Workspace(..., dry_run=True)` opens the source read-only instead
(libguestfs's throw-away overlay): operations are previewed (file changes
made and recorded there, commands not run) and nothing can be saved.

The overlay lives in `workdir` (run_plan: the output's folder). qemu is told
to report write errors to the appliance instead of pausing, so a full disk
there becomes a clean error when the changes are flushed at save time."""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagekit import paths, ui
from imagekit.engine import manifest as manifest_mod
from imagekit.engine import ops
from imagekit.engine import output as output_mod
from imagekit.engine.ops.command import appliance_arch
from imagekit.engine.plan import Operation, ResetMachineId, SelinuxRelabel
from imagekit.engine.results import OpResult
from imagekit.errors import GuestError, ImageError, ImagekitError, PlanError, UsageError
from imagekit.guest import facts
from imagekit.guest.image import CheckedImage, check_image
from imagekit.guest.session import Appliance, GuestOS
from imagekit.tools import qemuimg

_IO_ERROR = re.compile(r"(critical space allocation error|I/O error|Buffer I/O error|"
                       r"EXT4-fs error|XFS \(.*\): .*(error|shutdown)|JBD2: .*IO error|"
                       r"Remounting filesystem read-only)", re.I)


@dataclass(frozen=True)
class SaveResult:
    output: Path
    manifest_path: Path
    mode: str
    manifest: dict[str, Any]
    seconds: float
    overlay_bytes: int = 0


class Workspace:
    def __init__(self, source: Path | str | CheckedImage, *, network: bool = False,
                 dry_run: bool = False, workdir: Path | None = None,
                 selinux_relabel: bool = True, backend: str | None = None) -> None:
        self.source = source if isinstance(source, CheckedImage) else check_image(source)
        self.network = bool(network) and not dry_run
        self.dry_run = dry_run
        self.selinux_relabel = selinux_relabel
        self.workdir = Path(workdir) if workdir else paths.cache_dir() / "work"
        self.backend = backend
        self.results: list[OpResult] = []
        self.launches = 0
        self.overlay: Path | None = None
        self.guest: GuestOS | None = None
        self.saved: SaveResult | None = None
        self._app: Appliance | None = None
        self._ctx: ops.GuestContext | None = None
        self._dir: Path | None = None
        self._hash: manifest_mod.BackgroundHash | None = None
        self._reset_machine_id = False
        self._finished = False
        self._copy: output_mod.BackgroundCopy | None = None

    # -- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> Workspace:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_output(self, output: Path | str, mode: str = "standalone") -> None:
        """Optional, before open(): when the output will be known at save time,
        start copying the source for it now (copy+commit outputs), so the copy
        overlaps the appliance start. save() to another path still works."""
        if self.dry_run or self._copy is not None:
            return
        final = output_mod.check_output(self.source, output, mode)
        if output_mod.copy_commit_ok(self.source, mode):
            output_mod.precheck(self.source, final, mode)
            self._copy = output_mod.BackgroundCopy(self.source, final, mode)

    def open(self) -> Workspace:
        """Make the overlay, launch the appliance once, inspect (cached), mount."""
        if self._app is not None:
            return self
        try:
            app = self._app = Appliance(backend=self.backend, network=self.network)
            if self.dry_run:
                app.add(self.source, readonly=True)
            else:
                self._hash = manifest_mod.BackgroundHash(self.source.path)
                self.workdir.mkdir(parents=True, exist_ok=True)
                self._dir = Path(tempfile.mkdtemp(prefix=".imagekit-work-", dir=self.workdir))
                self.overlay = self._dir / "overlay.qcow2"
                qemuimg.create_overlay(self.overlay, self.source.path, self.source.format)
                ov = CheckedImage(self.overlay, qemuimg.info(self.overlay, "qcow2"))
                app.add(ov, readonly=False, cache_as=self.source)
                # ENOSPC on the overlay must reach the appliance as an I/O error
                # (reported at save) instead of pausing qemu forever.
                app.g.config("-set", "drive.hd0.werror=report")
            app.launch()
            self.launches = 1
            self.guest = app.inspect(0)
            app.mount(self.guest, readonly=False)
            self._ctx = ops.GuestContext(app.g, self.guest, dry_run=self.dry_run,
                                         network=self.network, appliance_arch=appliance_arch())
        except BaseException:
            self.close()
            raise
        return self

    @property
    def app(self) -> Appliance | None:
        """The launched Appliance (None before open() and after close())."""
        return self._app

    @property
    def g(self) -> Any:
        """The guestfs handle (guest mounted at /), for reading."""
        if self._app is None:
            raise ImagekitError("internal: the workspace is not open")
        return self._app.g

    @property
    def context(self) -> ops.GuestContext:
        if self._ctx is None:
            raise ImagekitError("internal: the workspace is not open")
        return self._ctx

    def close(self) -> None:
        """Discard everything not saved: appliance closed, overlay deleted."""
        if self._hash is not None and self.saved is None:
            self._hash.cancel()
        if self._copy is not None:
            self._copy.discard()          # a no-op once save() renamed it
            self._copy = None
        if self._app is not None:
            try:
                self._app.close()
            except RuntimeError:
                pass
            self._app = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    discard = close

    # -- operations -----------------------------------------------------------------
    def apply(self, op: Operation, prepared: ops.Prepared | None = None, *,
              label: str | None = None) -> OpResult:
        """Apply one operation now; a machine-id reset is deferred to the end."""
        if self._finished:
            raise PlanError("internal: operations cannot follow the finishing steps")
        if isinstance(op, ResetMachineId):
            self._reset_machine_id = True
            return OpResult(0, op.kind, op.describe() + " (at the end)", 0.0)
        op.validate()
        if op.resets_machine_id:
            self._reset_machine_id = True
        return self._run(op, prepared, label)

    def _run(self, op: Operation, prepared: ops.Prepared | None, label: str | None,
             implicit: bool = False) -> OpResult:
        ctx = self.context
        prep = prepared or ops.prepare(op)
        ctx.begin()
        index = len(self.results) + 1
        title = f"{label or ''}{op.describe()}"
        start = time.monotonic()
        with ui.step(title, op=op.kind, index=index) as d:
            try:
                ops.executor(op).apply(op, ctx, prep)
            except RuntimeError as exc:
                self._check_io()            # a full disk under the overlay says so
                raise GuestError(f"{op.kind}: {exc}", _hint_for(str(exc)))
            changed = [c.path for c in ctx.changes if c.action not in ("unchanged", "skipped")]
            d["changed"] = changed
            d["note"] = _note(ctx, changed)
        res = OpResult(index=index, kind=op.kind, summary=op.describe(),
                       seconds=time.monotonic() - start, changes=tuple(ctx.changes),
                       inputs=tuple(sorted(prep.inputs.items())),
                       details=tuple(ctx.details.items()), note="; ".join(ctx.notes),
                       implicit=implicit)
        for n in ctx.notes:
            ui.verbose(f"  {op.kind}: {n}")
        self.results.append(res)
        return res

    def finish(self) -> list[OpResult]:
        """The implicit last steps, once: SELinux relabel when the guest has a
        policy, then the machine-id reset when asked for (always last)."""
        if self._finished:
            return []
        self._finished = True
        out = []
        if self.selinux_relabel:
            out.append(self._run(SelinuxRelabel(), None, None, implicit=True))
        if self._reset_machine_id:
            out.append(self._run(ResetMachineId(), None, None, implicit=True))
        return out

    # -- saving ----------------------------------------------------------------------
    def save(self, output: Path | str | None, *, mode: str = "standalone") -> SaveResult:
        """Finish, write the manifest into the image, close the appliance, and
        write the output (and <output>.manifest.json) atomically."""
        if self.dry_run:
            raise UsageError("a dry run cannot be saved")
        if self.saved is not None:
            raise UsageError("this workspace was already saved")
        start = time.monotonic()
        final = output_mod.check_output(self.source, output, mode)
        ctx = self.context
        self.finish()
        digest = None
        if self._hash is not None:
            with ui.step(f"hashing {self.source.path.name}"):
                digest = self._hash.result()
        with ui.step("recording the manifest"):
            try:
                data = self._manifest(final, mode, digest)
                ctx.ensure_dir("/etc/imagekit")
                ctx.put_file(manifest_mod.GUEST_PATH, data, mode=0o644, uid=0, gid=0)
            except RuntimeError as exc:
                self._check_io()
                raise GuestError(f"writing the manifest: {exc}", _hint_for(str(exc)))
        with ui.step("flushing the changes"):
            self._flush()
        assert self.overlay is not None
        overlay_bytes = self.overlay.stat().st_blocks * 512
        with ui.step(f"writing {final.name} ({mode})"):
            tmp = output_mod.materialize(self.overlay, self.source, final, mode, self._copy)
            try:
                check_image(tmp)
                side = manifest_mod.beside(final)
                output_mod.write_text_atomic(side, data)
                os.replace(tmp, final)
                output_mod._fsync_dir(final.parent)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        self.saved = SaveResult(final, side, mode, json.loads(data), time.monotonic() - start,
                                overlay_bytes)
        self.close()
        return self.saved

    def _manifest(self, final: Path, mode: str, digest: str | None) -> bytes:
        g = self.g
        ctx = self.context
        prior = manifest_mod.previous(ctx.read(manifest_mod.GUEST_PATH)
                                      if ctx.resolve("/etc/imagekit").kind == "dir" else None)
        agent = facts.agent(g)
        agent_info = ({"path": agent.path, "kind": agent.kind, "version": agent.version,
                       "release": agent.release} if agent.installed else None)
        built = manifest_mod.build(
            source=self.source, source_sha256=digest, output_name=final.name, mode=mode,
            output_format=self.source.format if mode == "in-place" else "qcow2",
            guest=self.guest, agent=agent_info, results=self.results,
            tools=manifest_mod.versions(g), launches=self.launches, network=self.network,
            prior=prior)
        return manifest_mod.dumps(built)

    def _flush(self) -> None:
        """Sync, unmount and shut the appliance down; any write error qemu
        reported to the appliance (a full disk under the overlay) fails here."""
        assert self._app is not None
        g = self._app.g
        try:
            g.sync()
            self._check_io()
            self._app.umount()
        except RuntimeError as exc:
            self._check_io()
            raise ImageError(f"the changes could not be flushed: {exc}")
        self._check_io()
        try:
            self._app.close()
        except RuntimeError as exc:
            raise ImageError(f"the appliance failed while closing the overlay: {exc}")
        finally:
            self._app = None
        assert self.overlay is not None
        res = qemuimg.check(self.overlay, "qcow2")
        if res.corruptions or res.check_errors:
            raise ImageError(f"the overlay is damaged ({res.corruptions} corruptions, "
                             f"{res.check_errors} errors); nothing was saved",
                             "check free space and the disk under the output folder")

    def _check_io(self) -> None:
        assert self._app is not None
        bad = [ln for ln in self._app.g.dmesg().splitlines() if _IO_ERROR.search(ln)]
        if not bad:
            return
        folder = self._dir or self.workdir
        free = output_mod.free_bytes(folder)
        if free < output_mod.MARGIN or any("space allocation" in ln for ln in bad):
            raise ImageError(f"the disk holding the overlay ({folder}) filled up while the changes "
                             f"were written ({free // 2**20} MiB free); nothing was saved, the "
                             "source is unchanged",
                             "free some space there, or write the output to another folder (-o)")
        line = re.sub(r"^\[\s*[\d.]+\]\s*", "", bad[0])
        raise ImageError(f"the appliance reported write errors on the overlay ({line}); nothing "
                         "was saved", "check the disk under the output folder")


def _note(ctx: ops.GuestContext, changed: list[str]) -> str:
    bits = []
    if "exit_code" in ctx.details:
        bits.append(f"exit {ctx.details['exit_code']}")
    elif changed:
        bits.append(f"{len(changed)} changed" if len(changed) > 1 else f"{changed[0]}")
    elif ctx.changes:
        bits.append(ctx.changes[0].detail or ctx.changes[0].action)
    bits += ctx.notes[:1]
    return "; ".join(b for b in bits if b)


def _hint_for(message: str) -> str | None:
    if "No space left" in message:
        return "the image's own filesystem is full: delete files first, or grow the image"
    if "Read-only file system" in message:
        return "the filesystem was remounted read-only after errors; check the image (imagekit check)"
    return None
