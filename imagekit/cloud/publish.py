"""`imagekit upload` end to end, for one plan and any number of clouds:

1. connect to every cloud first (a wrong name or password fails before any
   appliance launch), read the `-k` public key from each cloud's Nova and
   resolve Trove's service project;
2. group the clouds by what the image must contain for them (profile, key,
   guest user, commands): one re-target (one appliance launch, checks
   included) per distinct group, reused on a re-run;
3. per cloud: upload (or reuse) the group's file in Glance, register the
   datastore version and its configuration parameters in Trove."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from imagekit import recipes, ui
from imagekit.check.findings import Severity
from imagekit.cloud import glance, params, retarget, trove
from imagekit.cloud.uploadplan import Target, UploadPlan
from imagekit.errors import CheckFailed, CloudError, RecipeError


@dataclass(frozen=True)
class CloudSide:
    """A connected cloud and what the plan needs from it."""
    target: Target
    name: str
    conn: Any = field(compare=False, repr=False)
    service_id: str
    public_key: str | None


@dataclass(frozen=True)
class CloudOutcome:
    cloud: str
    upload: glance.UploadResult
    registered: trove.Registered | None = None
    parameters: params.ParamsResult | None = None
    listing: tuple[trove.VersionRow, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"cloud": self.cloud, "upload": asdict(self.upload)}
        d["upload"]["leftovers_removed"] = list(self.upload.leftovers_removed)
        if self.registered:
            d["datastore_version"] = asdict(self.registered)
        if self.parameters:
            p = self.parameters
            d["parameters"] = {"rules": str(p.rules), "total": p.total,
                               "created": len(p.created), "updated": len(p.updated),
                               "unchanged": len(p.unchanged),
                               "via_controller": len(p.via_controller),
                               "not_loaded": [asdict(r) for r in p.not_loaded],
                               "refused_file": str(p.refused_file) if p.refused_file else None}
        if self.listing:
            d["registered"] = [asdict(r) for r in self.listing]
        return json.loads(json.dumps(d, default=str))


@dataclass(frozen=True)
class PublishResult:
    plan: UploadPlan
    prepared: tuple[retarget.Prepared, ...]
    outcomes: tuple[CloudOutcome, ...]
    seconds: float

    @property
    def launches(self) -> int:
        return sum(p.launches for p in self.prepared)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "imagekit.upload/1", "image": str(self.plan.image),
                "name": self.plan.image_name, "launches": self.launches,
                "seconds": round(self.seconds, 3),
                "prepared": [p.to_dict() for p in self.prepared],
                "clouds": [o.to_dict() for o in self.outcomes]}


# -- 1. the clouds ------------------------------------------------------------------------
def public_key(conn: Any, keypair: str, cloud: str) -> str:
    """The public key of a Nova keypair (what the original read with nova keypair-show)."""
    from imagekit.cloud.errors import cloud_errors
    with cloud_errors(f"reading keypair '{keypair}'", cloud):
        kp = conn.compute.find_keypair(keypair, ignore_missing=True)
        if kp is None:
            names = sorted(k.name for k in conn.compute.keypairs())
            raise CloudError(f"cloud '{cloud}' has no keypair '{keypair}' (its keypairs: "
                             f"{', '.join(names) or 'none'})",
                             "create it (openstack keypair create --public-key FILE NAME) or "
                             "pass -k with one of the names above")
        key = (kp.public_key or "").strip()
    if not key:
        raise CloudError(f"keypair '{keypair}' of cloud '{cloud}' has no public key")
    return key


def connect_all(plan: UploadPlan, connect: Callable[[str | None], Any]) -> tuple[CloudSide, ...]:
    sides = []
    seen: set[str] = set()
    for t in plan.targets:
        conn = connect(t.cloud)
        name = conn.config.name
        if name in seen:
            continue
        seen.add(name)
        key = public_key(conn, plan.keypair, name) if plan.keypair else None
        service = glance.resolve_project(conn, plan.service_project, name)
        sides.append(CloudSide(t, name, conn, service, key))
    return tuple(sides)


# -- 2. what goes into the image ----------------------------------------------------------
def groups(plan: UploadPlan, sides: tuple[CloudSide, ...]
           ) -> list[tuple[retarget.Inputs, list[CloudSide]]]:
    """Clouds that need the same image content share one re-target."""
    out: dict[retarget.Inputs, list[CloudSide]] = {}
    for s in sides:
        inputs = retarget.Inputs.make(plan.image, retarget=plan.retarget,
                                      profile=s.target.profile, public_key=s.public_key,
                                      keypair=plan.keypair, user=plan.user,
                                      commands=plan.commands)
        out.setdefault(inputs, []).append(s)
    return list(out.items())


def gate(prepared: retarget.Prepared, plan: UploadPlan) -> None:
    """Show the findings; stop on errors unless --force."""
    errors = [f for f in prepared.findings if f.severity is Severity.ERROR]
    warnings = [f for f in prepared.findings if f.severity is Severity.WARNING]
    for f in (*errors, *warnings):
        line = f"{f.id}: {f.message}"
        if f.severity is Severity.ERROR and plan.force:
            ui.warn(f"(--force) {line}")
        elif f.severity is Severity.ERROR:
            ui.err.print(f"check error: {line}\n  fix: {f.fix}", markup=False)
        else:
            ui.warn(line)
    if errors and not plan.force:
        raise CheckFailed(f"the offline checks found {len(errors)} error(s) in "
                          f"{prepared.path.name}; nothing was uploaded",
                          "fix them (imagekit check explains each), or upload anyway with --force")


def _packages(plan: UploadPlan, prepared: retarget.Prepared) -> tuple[str, ...]:
    """The recipe's registered package for the image's release (like the
    original's lookup table): what Trove records as the version's packages."""
    release = recipes_release(prepared.os_distro, prepared.os_version)
    try:
        rec = recipes.resolve(plan.db, plan.version, community=plan.edition == "community",
                              enterprise=plan.edition == "enterprise", release=release,
                              style=prepared.style)
    except RecipeError as exc:
        raise RecipeError(f"{exc.message} (for the image's release {release or 'unknown'})",
                          exc.hint or "check -d/-v/-c/-e against the image") from exc
    return tuple(p for p in (rec.pkg,) if p)


def recipes_release(distro: str | None, version: str | None) -> str | None:
    """('debian', '12') -> 'bookworm'; None when the table has no such release."""
    for name in recipes.release_names():
        info = recipes.release_info(name)
        if info.get("distro") == distro and str(info.get("version")) == str(version):
            return name
    return None


# -- 3. per cloud ---------------------------------------------------------------------------
def _upload_spec(plan: UploadPlan, prepared: retarget.Prepared, side: CloudSide
                 ) -> glance.ImageUpload:
    props = glance.image_properties(provenance=prepared.provenance, os_distro=prepared.os_distro,
                                    os_version=prepared.os_version,
                                    architecture=prepared.architecture)
    return glance.ImageUpload(path=prepared.path, name=plan.image_name, tags=plan.tags,
                              properties=props, disk_format=prepared.disk_format,
                              visibility=plan.visibility, service_project=side.service_id,
                              min_disk_gb=glance.min_disk_gb(prepared.virtual_size))


def publish_one(plan: UploadPlan, prepared: retarget.Prepared, side: CloudSide,
                packages: tuple[str, ...], *, on_bytes: Callable[[int], None] | None = None
                ) -> CloudOutcome:
    from imagekit.cloud.connect import trove_client
    up = glance.upload(side.conn, _upload_spec(plan, prepared, side), cloud=side.name,
                       on_bytes=on_bytes)
    ui.info(f"cloud '{side.name}': image {up.image_id} " +
            ("reused, 0 bytes sent" if up.reused else f"uploaded, {up.bytes_sent} bytes") +
            f", {up.visibility}" + (f" with project {up.shared_with} ({up.member_status})"
                                    if up.shared_with else ""))
    if not plan.register:
        return CloudOutcome(side.name, up)
    tc = trove_client(side.conn)
    spec = trove.VersionSpec(
        datastore=plan.db, name=plan.short_version, manager=plan.db,
        image_id=None if plan.by_tags else up.image_id,
        image_tags=plan.tags if plan.by_tags else (), packages=packages, active=True,
        default=plan.default)
    with ui.step(f"registering {plan.db} {plan.short_version} in cloud '{side.name}'") as st:
        reg = trove.register(tc, spec, cloud=side.name)
        st["note"] = ("created" if reg.created else
                      f"updated {', '.join(reg.changed)}" if reg.changed else "unchanged") + \
            (", default" if reg.is_default else "")
    rules = plan.validation_rules or prepared.rules or params.rules_file(plan.db, plan.version)
    if plan.validation_rules is None and prepared.rules is not None:
        ui.verbose(f"configuration parameter rules from the image's own Trove tree ({rules})")
    pr = params.sync_parameters(tc, version_id=reg.version_id, datastore=plan.db,
                                version=plan.short_version, rules=rules, cloud=side.name,
                                controller=plan.controller)
    if pr.not_loaded:
        ui.warn(f"cloud '{side.name}': configuration parameters of {plan.db} "
                f"{plan.short_version}: {pr.summary()}. Load them on a controller with "
                f"'trove-manage db_load_datastore_config_parameters {plan.db} "
                f"{plan.short_version} {pr.refused_file}', or set DBIMAGE_CONTROLLER_IP "
                "(and DBIMAGE_TROVE_MANAGE) so that imagekit does it over ssh")
    else:
        ui.info(f"cloud '{side.name}': configuration parameters: {pr.summary()}")
    rows = trove.listing(tc, side.conn, cloud=side.name, datastore=plan.db)
    return CloudOutcome(side.name, up, reg, pr, rows)


def run(plan: UploadPlan, connect: Callable[[str | None], Any]) -> PublishResult:
    start = time.monotonic()
    source = retarget.check_source(plan.image)
    sides = connect_all(plan, connect)
    prepared_all, outcomes = [], []
    for inputs, members in groups(plan, sides):
        prepared = retarget.prepare(inputs, source, db=plan.db, version=plan.short_version,
                                    clouds=tuple(m.name for m in members))
        prepared_all.append(prepared)
        gate(prepared, plan)
        packages = _packages(plan, prepared) if plan.register else ()
        for side in members:
            outcome = publish_one(plan, prepared, side, packages)
            outcomes.append(outcome)
            retarget.record(prepared, outcome.to_dict())
    return PublishResult(plan, tuple(prepared_all), tuple(outcomes),
                         round(time.monotonic() - start, 3))


def summary_lines(result: PublishResult) -> list[str]:
    """One line per cloud: what happened to the image, the version, the parameters."""
    lines = []
    for o in result.outcomes:
        u, r, p = o.upload, o.registered, o.parameters
        sent = "reused, 0 bytes sent" if u.reused else f"uploaded, {u.bytes_sent} bytes sent"
        line = f"{o.cloud}: image {u.image_id} ({u.name}) {sent}"
        if r:
            what = "created" if r.created else (f"updated ({', '.join(r.changed)})" if r.changed
                                                else "unchanged")
            line += f"; datastore {r.datastore} version {r.version} {what}" + \
                (", default" if r.is_default else "")
        if p:
            loaded = len(p.created) + len(p.updated) + len(p.unchanged) + len(p.via_controller)
            line += f"; parameters {loaded}/{p.total} loaded"
            if p.not_loaded:
                line += f", {len(p.not_loaded)} not loaded (see {p.refused_file})"
        lines.append(line)
    return lines
