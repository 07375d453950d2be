"""The cloud-aware checks (`imagekit check --os-cloud CLOUD`): what the image
needs from the cloud it is meant for.

- the agent's release against the controller's (stated with --trove-release,
  or `trove_release` in the cloud's clouds.yaml entry, or, if a Trove API
  ever reports it, its version document; it does not today);
- the image's copy in Glance (--glance-image, else the active image with the
  file's size and sha512) visible to Trove's service project;
- with -d/-v: the datastore version, the image(s) its tags select (exactly
  one active image, visible to Trove) or the image it names, and the flavors
  registered for it against the image's min_disk / virtual size.

Every call goes through `cloud_errors`, so a failing cloud is one CloudError
line with the HTTP status and request id."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from imagekit import releases, ui
from imagekit.check.evidence import GuestEvidence
from imagekit.check.findings import Finding, found
from imagekit.check.imagefile import FileAssessment
from imagekit.check.offline import CheckOptions
from imagekit.cloud.errors import cloud_errors
from imagekit.errors import CloudError, RecipeError

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class ControllerRelease:
    series: str | None
    source: str           # where it came from (for the messages)


def _cloud_name(conn: Any) -> str:
    return str(getattr(getattr(conn, "config", None), "name", None) or "cloud")


def _series(text: str) -> str | None:
    try:
        return releases.lookup(str(text)).series
    except RecipeError:
        return None


def _version_document(conn: Any) -> dict[str, Any]:
    """Trove's unversioned endpoint document (GET on the service root)."""
    from keystoneauth1 import exceptions as ksa
    try:
        ep = conn.session.get_endpoint(service_type="database",
                                       interface=conn.config.get_interface("database") or "public",
                                       region_name=conn.config.get_region_name("database"))
    except ksa.EndpointNotFound as exc:
        raise CloudError(f"cloud '{_cloud_name(conn)}' has no Trove (database) endpoint",
                         "check the cloud's catalog, or run the checks without --os-cloud") from exc
    root = re.sub(r"/v1\.0(/.*)?$", "", ep.rstrip("/"))
    with cloud_errors("reading Trove's version document", _cloud_name(conn)):
        resp = conn.session.get(root + "/", authenticated=False, raise_exc=False)
    try:
        return resp.json() if resp.status_code < 400 else {}
    except ValueError:
        return {}


def controller_release(conn: Any, opts: CheckOptions) -> ControllerRelease:
    if opts.trove_release:
        return ControllerRelease(_series(opts.trove_release), "--trove-release")
    stated = (getattr(conn.config, "config", None) or {}).get("trove_release")
    if stated:
        return ControllerRelease(_series(str(stated)), "trove_release in clouds.yaml")
    doc = _version_document(conn)
    for v in doc.get("versions", []) + ([doc["version"]] if "version" in doc else []):
        for key in ("release", "trove_release", "server_version", "trove_version"):
            if isinstance(v, dict) and v.get(key) and _series(str(v[key])):
                return ControllerRelease(_series(str(v[key])), "Trove's API")
    return ControllerRelease(None, "")


def check_release(conn: Any, ev: GuestEvidence | None, opts: CheckOptions) -> list[Finding]:
    ctl = controller_release(conn, opts)
    if ctl.series is None:
        return [found("trove-release-unknown", f"cloud '{_cloud_name(conn)}': Trove's API does "
                      "not say which release the controller runs")]
    agent = ev.facts.agent if ev else None
    if agent and agent.release and agent.release != ctl.series:
        return [found("trove-release-mismatch", f"the agent is trove {agent.version or '?'} "
                      f"({agent.release}); the controller of cloud '{_cloud_name(conn)}' runs "
                      f"{ctl.series} ({ctl.source})",
                      f"rebuild the image with the {ctl.series} guest agent (imagekit make "
                      f"--trove-release {ctl.series})")]
    return []


# -- Glance ------------------------------------------------------------------------------
def service_project_id(conn: Any, name_or_id: str) -> str | None:
    if name_or_id == conn.current_project_id or _HEX32.match(name_or_id):
        return name_or_id
    from openstack import exceptions as sdk
    try:
        project = conn.identity.find_project(name_or_id, ignore_missing=True)
    except sdk.ForbiddenException:
        return None
    return str(project.id) if project is not None else None


def visible_to(conn: Any, img: Any, project_id: str) -> tuple[bool, str]:
    """Whether Trove's service project sees `img` when it lists images by tag
    (Trove's lookup): (visible, why not)."""
    vis = img.visibility
    if vis == "public" or img.owner == project_id:
        return True, ""
    if vis == "community":
        return False, "it is a community image, which image listings leave out"
    if vis == "private":
        return False, f"it is private to project {img.owner}"
    member = conn.image.find_member(project_id, img, ignore_missing=True)
    if member is None:
        return False, f"it is shared by project {img.owner} but not with {project_id}"
    if member.status != "accepted":
        return False, f"the share with {project_id} is {member.status}, not accepted"
    return True, ""


def glance_copy(conn: Any, a: FileAssessment, opts: CheckOptions) -> Any | None:
    """The image's copy in Glance: --glance-image, else an active image with
    the file's size and sha512."""
    if opts.glance_image:
        img = conn.image.find_image(opts.glance_image, ignore_missing=True)
        if img is None:
            raise CloudError(f"cloud '{_cloud_name(conn)}': no Glance image '{opts.glance_image}'",
                             "give the image's id or exact name (openstack image list)")
        return img
    size = a.path.stat().st_size
    cands = [i for i in conn.image.images(size_min=size, size_max=size, status="active")
             if i.size == size and (i.hash_algo or "sha512") == "sha512"]
    if not cands:
        return None
    from imagekit.cloud.glance import file_sha512
    digest = file_sha512(a.path)
    same = [i for i in cands if i.hash_value == digest]
    return max(same, key=lambda i: i.created_at or "") if same else None


def required_disk_gb(a: FileAssessment, img: Any | None) -> int:
    from imagekit.cloud.glance import min_disk_gb
    need = min_disk_gb(a.info.virtual_size)
    if img is not None and img.min_disk:
        need = max(need, int(img.min_disk))
    return need


# -- Trove datastore versions --------------------------------------------------------------
def find_version(trove: Any, db: str, version: str) -> Any | None:
    from imagekit.cloud.naming import datastore_version_name
    try:
        name = datastore_version_name(version)
    except Exception:  # noqa: BLE001 - an odd version string: compare as given
        name = version
    for v in trove.mgmt_ds_versions.list():
        number = str(getattr(v, "version", None) or v.name)
        if v.datastore_name == db and (v.name in (name, version) or number == version):
            return v
    return None


def _tags(v: Any) -> tuple[str, ...]:
    return tuple(t for t in (getattr(v, "image_tags", None) or []) if t)


def check_version_image(conn: Any, v: Any, service_id: str | None) -> list[Finding]:
    label = f"{v.datastore_name} {v.name}"
    if v.image:
        img = conn.image.find_image(v.image, ignore_missing=True)
        if img is None or img.status != "active":
            state = "does not exist" if img is None else f"is {img.status}"
            return [found("datastore-image-missing", f"datastore version {label} names image "
                          f"{v.image}, which {state}")]
        if service_id:
            ok, why = visible_to(conn, img, service_id)
            if not ok:
                return [found("datastore-image-missing", f"datastore version {label} names "
                              f"image {v.image}, which Trove cannot see: {why}")]
        return []
    tags = _tags(v)
    if not tags:
        return []
    active = [i for i in conn.image.images(tag=list(tags), status="active")
              if set(tags) <= set(i.tags or [])]
    if service_id:
        active = [i for i in active if visible_to(conn, i, service_id)[0]]
    if not active:
        return [found("datastore-tags-no-image", f"datastore version {label}: no active image "
                      f"visible to Trove carries all of the tags {', '.join(tags)}")]
    if len(active) > 1:
        newest = max(active, key=lambda i: i.created_at or "")
        return [found("datastore-tags-ambiguous", f"datastore version {label}: {len(active)} "
                      f"active images carry the tags {', '.join(tags)}; Trove uses the newest, "
                      f"{newest.name} ({newest.id})")]
    return []


def _flavor_disk(conn: Any, f: Any) -> int | None:
    disk = getattr(f, "disk", None)
    if disk is None:
        nova = conn.compute.find_flavor(str(getattr(f, "str_id", None) or f.id),
                                        ignore_missing=True)
        disk = nova.disk if nova is not None else None
    return int(disk) if disk is not None else None


def check_flavors(conn: Any, trove: Any, v: Any, need_gb: int) -> list[Finding]:
    flavors = list(trove.flavors.list_datastore_version_associated_flavors(v.datastore_name, v.id))
    if not flavors:
        return [found("flavor-none-fits", f"no flavor is registered for datastore version "
                      f"{v.datastore_name} {v.name}")]
    small = []
    for f in flavors:
        disk = _flavor_disk(conn, f)
        if disk is not None and 0 < disk < need_gb:
            small.append(f"{f.name} ({disk} GB)")
    if len(small) == len(flavors):
        return [found("flavor-none-fits", f"every flavor of {v.datastore_name} {v.name} has a "
                      f"root disk smaller than the image's {need_gb} GB: {', '.join(small)}")]
    if small:
        return [found("flavor-too-small", f"{len(small)} of {len(flavors)} flavors of "
                      f"{v.datastore_name} {v.name} are smaller than the image's {need_gb} GB: "
                      f"{', '.join(small)}")]
    return []


# -- all of them ---------------------------------------------------------------------------
def run(conn: Any, a: FileAssessment, ev: GuestEvidence | None,
        opts: CheckOptions) -> tuple[list[Finding], dict[str, Any]]:
    """The cloud findings for one image, and what was found (for the summary)."""
    name = _cloud_name(conn)
    out: list[Finding] = []
    summary: dict[str, Any] = {"cloud": name}
    with ui.step(f"cloud checks of {a.path.name} in '{name}'"):
        out += check_release(conn, ev, opts)
        with cloud_errors("looking up Trove's service project", name):
            service_id = service_project_id(conn, opts.service_project)
        if service_id is None:
            out.append(found("trove-project-unknown", f"cloud '{name}': project "
                             f"'{opts.service_project}' was not found (or may not be looked up)"))
        with cloud_errors("looking for the image in Glance", name):
            img = glance_copy(conn, a, opts)
        summary["glance_image"] = str(img.id) if img is not None else None
        if img is not None and service_id:
            with cloud_errors("reading the image's members", name):
                ok, why = visible_to(conn, img, service_id)
            if not ok:
                out.append(found("glance-image-not-visible", f"Glance image {img.name} ({img.id}) "
                                 f"is not visible to Trove's service project: {why}"))
        if opts.db and opts.version:
            from imagekit.cloud.connect import trove_client
            trove = trove_client(conn)
            with cloud_errors("reading Trove's datastore versions", name):
                v = find_version(trove, opts.db, opts.version)
                if v is None:
                    out.append(found("datastore-version-missing", f"cloud '{name}' has no "
                                     f"datastore version {opts.db} {opts.version}"))
                else:
                    summary["datastore_version"] = v.id
                    out += check_version_image(conn, v, service_id)
                    out += check_flavors(conn, trove, v, required_disk_gb(a, img))
    return out, summary
