"""`imagekit make` end to end: check the builder, prepare the guest-agent
wheelhouse, stage, run diskimage-builder under the phase display, fetch the
image and its log into images/ (under temporary names until everything
worked: a failure leaves no half-built image), then the post-build step."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from imagekit import signals, ui
from imagekit.build import arch as arch_mod
from imagekit.build import builder as builder_mod
from imagekit.build import dib, postbuild, wheelhouse
from imagekit.build.plan import BuildPlan
from imagekit.build.progress import PhaseDisplay
from imagekit.errors import BuildError
from imagekit.tools import qemuimg


@dataclass(frozen=True)
class MakeResult:
    image: Path
    log: Path
    arch: str
    builder: str
    seconds: float
    dib_seconds: float
    post: str | None = None


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


def _wheelhouse(plan: BuildPlan, arch: str) -> wheelhouse.Wheelhouse | None:
    """The host-side wheelhouse; for a foreign target whose dependencies lack
    binary wheels, None (trove is then installed from the index inside the
    build, with this host's CA bundle passed in for the build only)."""
    try:
        return wheelhouse.ensure(plan.trove_version, source=plan.trove_source,
                                 python=plan.recipe.python or None, arch=arch,
                                 release=plan.recipe.release)
    except BuildError as exc:
        native = (plan.recipe.python or wheelhouse.host_python(), arch) == \
            (wheelhouse.host_python(), wheelhouse.host_arch())
        if native or plan.trove_source != "pypi" or "requires Python" in exc.message:
            raise
        ui.warn(f"{exc.message}; installing trove from the index inside the build instead")
        return None


def make(plan: BuildPlan) -> MakeResult:
    with signals.terminate_as_interrupt():
        return _make(plan)


def _make(plan: BuildPlan) -> MakeResult:
    start = time.monotonic()
    out = plan.output_dir
    out.mkdir(parents=True, exist_ok=True)
    tmp_image, tmp_log = _partial(plan.image_path), _partial(plan.log_path)
    failed_log = plan.log_path.with_suffix(".failed.log")
    db_image = _resolve_db_image(plan)
    try:
        with builder_mod.open_builder(plan.target) as b:
            with ui.step(f"checking the builder ({b.label})") as d:
                info = b.check(plan.arch, plan.cross)
                arch = info.arch
                d["note"] = (f"{info.machine} -> {arch}, diskimage-builder {info.dib_version}, "
                             f"{info.free_gb} GiB free")
            wh = None if plan.trove_from_index else _wheelhouse(plan, arch)
            elements = plan.elements(arch)
            record = plan.record(arch=arch, builder=info.label, dib_version=info.dib_version,
                                 elements=elements, wheelhouse_files=wh.files if wh else None)
            pkg = plan.recipe.user_package.path if plan.recipe.user_package else None
            ca = None if wh else wheelhouse.ca_bundle()
            staged = b.stage(builder_mod.BuildInputs(record=record, wheelhouse=wh.path if wh else None,
                                                     package=pkg, pip_ca=ca))
            variables = plan.variables(arch=arch, wheelhouse=staged.wheelhouse,
                                       record=staged.record, package=staged.package,
                                       pip_ca=staged.pip_ca)
            env = builder_mod.environment_for(info, plan.recipe.distro, variables)
            elements_path = [staged.elements]
            if info.local and os.environ.get("ELEMENTS_PATH"):
                elements_path += [p for p in os.environ["ELEMENTS_PATH"].split(":") if p]
            job = dib.DibJob(elements=elements, output=staged.output, arch=arch,
                             compress=plan.compress, elements_path=tuple(elements_path),
                             env=tuple(sorted(env.items())))
            ui.verbose("disk-image-create " + " ".join(job.argv()[1:]))
            with PhaseDisplay(f"building {plan.base_name} on {info.label}") as disp:
                res = b.run(job, tmp_log, disp.feed)
                disp.finish(res.returncode == 0)
            if res.returncode != 0:
                os.replace(tmp_log, failed_log)
                raise dib.failure(f"diskimage-builder (exit {res.returncode})", failed_log)
            with ui.step(f"fetching the image from {info.label}" if not info.local
                         else "moving the image into place") as d:
                b.fetch(job.image_path, tmp_image)
                d["note"] = f"{tmp_image.stat().st_size / 2**20:.0f} MiB"
        meta = qemuimg.info(tmp_image)
        if meta.format != "qcow2":
            raise BuildError(f"diskimage-builder wrote a {meta.format} image, qcow2 expected")
        post = postbuild.run(tmp_image, plan.image_path, _db_image_ops(plan, db_image))
        os.replace(tmp_log, plan.log_path)
        failed_log.unlink(missing_ok=True)
        return MakeResult(plan.image_path, plan.log_path, arch, info.label,
                          time.monotonic() - start, res.seconds, post)
    finally:
        tmp_image.unlink(missing_ok=True)
        if tmp_log.exists():
            os.replace(tmp_log, failed_log)


def _resolve_db_image(plan: BuildPlan):
    """The database's container image for a container-style build, resolved
    (and built, for 'distro') before DIB runs: a bad --db-image costs
    seconds, not a build."""
    r = plan.recipe
    if r.style != "container":
        return None
    from imagekit import dbimage
    name = (r.docker_image or "").split(":")[0] or None
    # the target architecture (a remote builder's own is the default there)
    arch = arch_mod.normalize(plan.arch) or (arch_mod.host() if plan.target is None else "amd64")
    with ui.step(f"the database image {name}:{r.version} ({plan.db_image or 'distro'})") as d:
        img = dbimage.resolve(plan.db_image or "distro", db=r.db, version=r.version,
                              image_name=name, release=r.release, arch=arch)
        d["note"] = f"{img.ref}, {img.size / 2**20:.0f} MiB, {img.source}"
    return img


def _db_image_ops(plan: BuildPlan, img) -> tuple:
    if img is None:
        return ()
    from imagekit.engine.plan import DbImageOp
    r = plan.recipe
    return (DbImageOp(spec=str(img.archive), db=r.db, version=r.version,
                      image_name=img.ref.rsplit(":", 1)[0]),)
