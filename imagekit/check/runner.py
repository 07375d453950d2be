"""Runs the checks on one or more images in one appliance launch.

    results = check_images([a, b, c], CheckOptions(db="mysql"), conn=conn)

or, for one image and possibly an appliance that is already running (the
upload command checks before uploading without a second launch):

    findings = run_checks(path, db="mysql", version="8.4", conn=conn, app=app)
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from imagekit import ui
from imagekit.check import evidence as evidence_mod
from imagekit.check import offline
from imagekit.check.evidence import GuestEvidence
from imagekit.check.findings import Finding, Severity, found
from imagekit.check.imagefile import FileAssessment, assess
from imagekit.check.offline import CheckOptions
from imagekit.errors import ApplianceError, GuestError, UsageError
from imagekit.guest.session import Appliance


@dataclass(frozen=True)
class ImageResult:
    """The findings for one image, and what the checks saw (for the report)."""
    path: Path
    findings: tuple[Finding, ...]
    guest_checked: bool
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "guest_checked": self.guest_checked,
                "errors": len(self.errors), "warnings": len(self.warnings),
                "summary": self.summary, "findings": [f.to_json() for f in self.findings]}


def validate(opts: CheckOptions) -> None:
    if opts.style and opts.style not in offline.STYLES:
        raise UsageError(f"unknown style '{opts.style}'", "use --style native or --style container")
    if opts.version and not opts.db:
        raise UsageError("-v/--datastore-version needs -d/--datastore",
                         "give both: -d mysql -v 8.4")
    if opts.min_free < 0:
        raise UsageError("--min-free must not be negative")


def summarize(ev: GuestEvidence, opts: CheckOptions) -> dict[str, Any]:
    ag, ci = ev.facts.agent, ev.facts.cloud_init
    return {
        "agent": {"installed": ag.installed, "version": ag.version, "release": ag.release,
                  "unit": ag.unit.name if ag.unit else None,
                  "enabled": bool(ag.unit and ag.unit.enabled)},
        "cloud_init_datasources": list(ci.datasources) if ci.datasources is not None else None,
        "guest_user": offline.guest_user(ev, opts),
        "style": offline.resolve_style(ev, opts),
        "root_free": ev.root_space.free if ev.root_space else None,
    }


def check_mounted(g: Any, root: str, opts: CheckOptions
                  ) -> tuple[list[Finding], GuestEvidence]:
    """The offline guest checks on a guest already mounted in a running
    handle (for callers that hold one, e.g. upload's re-target session)."""
    ev = evidence_mod.collect(g, root)
    return offline.run(ev, opts), ev


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _drive_of(app: Appliance, path: Path) -> int:
    for i, d in enumerate(app.drives):
        if _same(d.path, path):
            return i
    raise ApplianceError(f"internal: {path} is not attached to the running appliance",
                         "add the image to the Appliance before launching it, or pass drive=")


def _check_guest(app: Appliance, drive: int, label: str,
                 opts: CheckOptions) -> tuple[list[Finding], GuestEvidence | None]:
    try:
        guest = app.inspect(drive)
    except GuestError as exc:
        return [found("guest-no-os", exc.message)], None
    app.mount(guest, readonly=True)
    try:
        with ui.step(f"checking {label}"):
            findings, ev = check_mounted(app.g, guest.root, opts)
    finally:
        app.umount()
    return findings, ev


def _cloud(conn: Any, a: FileAssessment, ev: GuestEvidence | None,
           opts: CheckOptions) -> tuple[list[Finding], dict[str, Any]]:
    from imagekit.check import cloud
    return cloud.run(conn, a, ev, opts)


def check_images(images: Sequence[os.PathLike | str], options: CheckOptions | None = None, *,
                 conn: Any = None, app: Appliance | None = None,
                 drives: Sequence[int | None] | None = None) -> list[ImageResult]:
    """Check every image; their guests are read in one appliance launch.

    `app`: an Appliance to use instead of launching one. Not yet launched:
    the images are added to it and it is launched (the caller closes it).
    Launched: the images must be attached already (found by path, or by
    `drives`, one drive index per image); the guests are mounted read-only
    and nothing is left mounted. `conn`: an openstacksdk Connection for the
    cloud-aware checks."""
    opts = options or CheckOptions()
    validate(opts)
    assessed = [assess(p) for p in images]
    evid: dict[int, GuestEvidence | None] = {}
    guest_findings: dict[int, list[Finding]] = {}
    todo = [i for i, a in enumerate(assessed) if a.checked is not None]
    if todo:
        own = app is None
        handle = app or Appliance()
        try:
            if not handle.launched:
                index = {i: handle.add(assessed[i].checked, readonly=True)  # type: ignore[arg-type]
                         for i in todo}
                handle.launch()
            else:
                index = {i: (drives[i] if drives and drives[i] is not None
                             else _drive_of(handle, assessed[i].path)) for i in todo}
            for i in todo:
                fs, ev = _check_guest(handle, index[i], assessed[i].path.name, opts)
                guest_findings[i], evid[i] = fs, ev
        finally:
            if own:
                handle.close()
    results = []
    for i, a in enumerate(assessed):
        findings = list(a.findings) + guest_findings.get(i, [])
        ev = evid.get(i)
        summary = summarize(ev, opts) if ev else {}
        if a.refused:
            summary["refused"] = a.refused
        summary["virtual_size"] = a.info.virtual_size
        summary["format"] = a.info.format
        if conn is not None:
            cf, cs = _cloud(conn, a, ev, opts)
            findings += cf
            summary.update(cs)
        results.append(ImageResult(a.path, tuple(findings), ev is not None, summary))
    return results


def run_checks(image: os.PathLike | str, *, db: str | None = None, version: str | None = None,
               style: str | None = None, conn: Any = None, allow_baked_config: bool = False,
               app: Appliance | None = None, drive: int | None = None,
               options: CheckOptions | None = None) -> list[Finding]:
    """The findings for one image (what `imagekit upload` calls before uploading).

    Pass `app` (launched, with the image attached, or not launched yet) to
    reuse an appliance; `drive` when the image is attached under another
    path (an overlay). `options` gives every other setting; the keyword
    arguments override it."""
    opts = options or CheckOptions()
    opts = replace(opts, db=db or opts.db, version=version or opts.version,
                   style=style or opts.style,
                   allow_baked_config=allow_baked_config or opts.allow_baked_config)
    res = check_images([image], opts, conn=conn, app=app, drives=[drive])
    return list(res[0].findings)
