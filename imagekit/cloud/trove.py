"""Trove side of `imagekit upload`: the datastore and its version, through
python-troveclient's management API (`mgmt_ds_versions`), idempotently.

    spec = VersionSpec("postgresql", "15", "postgresql", image_id=..., packages=(...))
    reg = register(trove, spec, cloud="prod")      # create, or edit what differs

This is what the original did with `trove-manage datastore_update`,
`datastore_version_update ... 1` and `datastore_update <db> <ver>`: the
datastore is created with its first version; the version points at the image
(by id, or by Glance tags), carries the recipe's packages, is active and, by
default, the datastore's default version. A version that already exists is
edited field by field (never duplicated), and the result is read back."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from imagekit import ui
from imagekit.cloud.errors import cloud_errors, translate
from imagekit.errors import CloudError


@dataclass(frozen=True)
class VersionSpec:
    """One Trove datastore version, as it should be."""
    datastore: str
    name: str                           # x.y, as the original named versions
    manager: str
    image_id: str | None = None         # either an image id ...
    image_tags: tuple[str, ...] = ()    # ... or the Glance tags Trove resolves at boot
    packages: tuple[str, ...] = ()
    active: bool = True
    default: bool = True
    version_number: str | None = None   # Trove's "version"; defaults to the name

    @property
    def number(self) -> str:
        return self.version_number or self.name


@dataclass(frozen=True)
class Registered:
    cloud: str
    datastore: str
    datastore_id: str
    version: str
    version_id: str
    created: bool
    changed: tuple[str, ...]            # fields edited on an existing version
    is_default: bool
    image_id: str | None
    image_tags: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class VersionRow:
    """One line of `imagekit upload --list`."""
    datastore: str
    version: str
    number: str
    version_id: str
    manager: str
    active: bool
    default: bool
    image_id: str
    image_tags: tuple[str, ...]
    packages: tuple[str, ...]
    image_name: str
    image_status: str


def _clean(values: Any) -> tuple[str, ...]:
    """Trove shows an empty list as ['']."""
    return tuple(v for v in (values or []) if v)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def find_version(trove: Any, datastore: str, name: str, number: str | None = None) -> Any | None:
    """The management view of a datastore version, or None."""
    number = number or name
    for v in trove.mgmt_ds_versions.list():
        if v.datastore_name == datastore and v.name == name and \
                str(getattr(v, "version", None) or v.name) == number:
            return v
    return None


def create_version(trove: Any, spec: VersionSpec, cloud: str) -> None:
    """POST /mgmt/datastore-versions (creates the datastore when missing).
    Trove answers 400 'already exists' for a duplicate."""
    with cloud_errors(f"creating datastore version {spec.datastore} {spec.name}", cloud):
        try:
            trove.mgmt_ds_versions.create(
                spec.name, spec.datastore, spec.manager, spec.image_id or "",
                packages=list(spec.packages), active=_flag(spec.active),
                default=_flag(spec.default), image_tags=list(spec.image_tags) if not spec.image_id else [],
                version=spec.number)
        except Exception as exc:
            mapped = translate(exc, "", cloud)
            if "already exists" in str(exc) and isinstance(mapped, CloudError):
                raise CloudError(
                    f"datastore version {spec.datastore} {spec.name} (version {spec.number}) "
                    f"already exists in cloud '{cloud}'",
                    "imagekit upload edits an existing version instead of creating it again; "
                    "to start over: openstack datastore version delete <id>",
                    status=mapped.status, request_id=mapped.request_id) from exc
            raise


def _differences(current: Any, spec: VersionSpec) -> dict[str, Any]:
    """The edit() arguments that bring `current` to `spec`."""
    want: dict[str, Any] = {}
    if current.datastore_manager != spec.manager:
        want["datastore_manager"] = spec.manager
    if spec.image_id:
        if current.image != spec.image_id:
            want["image"] = spec.image_id
        if _clean(current.image_tags):
            want["image_tags"] = []
    elif tuple(sorted(_clean(current.image_tags))) != tuple(sorted(spec.image_tags)) or current.image:
        want["image_tags"] = list(spec.image_tags)
    if spec.packages and _clean(current.packages) != spec.packages:
        want["packages"] = list(spec.packages)
    if bool(current.active) != spec.active:
        want["active"] = _flag(spec.active)
    if spec.default and not bool(getattr(current, "default", False)):
        want["default"] = "true"
    return want


def register(trove: Any, spec: VersionSpec, *, cloud: str) -> Registered:
    """Create the version, or edit the fields that differ; read it back."""
    if not spec.image_id and not spec.image_tags:
        raise CloudError("a datastore version needs an image id or image tags",
                         "upload the image first, or register with its Glance tags")
    with cloud_errors(f"registering datastore version {spec.datastore} {spec.name}", cloud):
        current = find_version(trove, spec.datastore, spec.name, spec.number)
        created, changed = False, ()
        if current is None:
            try:
                create_version(trove, spec, cloud)
                created = True
            except CloudError as exc:
                if exc.status != 400 or "already exists" not in exc.message:
                    raise
            current = find_version(trove, spec.datastore, spec.name, spec.number)
            if current is None:
                raise CloudError(f"Trove accepted datastore version {spec.datastore} {spec.name} "
                                 f"in cloud '{cloud}' but does not list it",
                                 "look at the Trove API log")
        if not created:
            want = _differences(current, spec)
            if want:
                trove.mgmt_ds_versions.edit(current.id, **want)
                changed = tuple(sorted(want))
                ui.verbose(f"edited datastore version {current.id}: {json.dumps(want)}")
        final = trove.mgmt_ds_versions.get(current.id)
        ds = trove.datastores.get(spec.datastore)
    is_default = getattr(ds, "default_version", None) == final.id
    if spec.image_id and final.image != spec.image_id:
        raise CloudError(f"datastore version {final.id} points at image {final.image}, "
                         f"not {spec.image_id}, after the update", "look at the Trove API log")
    if spec.default and not is_default:
        raise CloudError(f"datastore {spec.datastore}'s default version is "
                         f"{getattr(ds, 'default_version', None)}, not {final.id}",
                         "look at the Trove API log")
    return Registered(cloud=cloud, datastore=spec.datastore, datastore_id=str(ds.id),
                      version=spec.name, version_id=str(final.id), created=created,
                      changed=changed, is_default=is_default, image_id=final.image or None,
                      image_tags=_clean(final.image_tags))


def delete_version(trove: Any, version_id: str, cloud: str) -> None:
    with cloud_errors(f"deleting datastore version {version_id}", cloud):
        trove.mgmt_ds_versions.delete(version_id)


def listing(trove: Any, conn: Any, *, cloud: str, datastore: str | None = None
            ) -> tuple[VersionRow, ...]:
    """What is registered: every datastore version (optionally of one
    datastore) with the Glance image it resolves to."""
    rows = []
    with cloud_errors("listing datastore versions", cloud):
        versions = list(trove.mgmt_ds_versions.list())
        defaults = {d.name: getattr(d, "default_version", None) for d in trove.datastores.list()}
        for v in versions:
            if datastore and v.datastore_name != datastore:
                continue
            name, status = "", ""
            tags = _clean(v.image_tags)
            img = None
            if v.image:
                img = conn.image.find_image(v.image, ignore_missing=True)
            elif tags:
                found = sorted((i for i in conn.image.images(tag=tags[0], status="active")
                                if set(tags) <= set(i.tags or [])),
                               key=lambda i: i.created_at or "", reverse=True)
                img = found[0] if found else None
            if img is not None:
                name, status = str(img.name), str(img.status)
            elif v.image or tags:
                status = "missing"
            rows.append(VersionRow(
                datastore=v.datastore_name, version=v.name,
                number=str(getattr(v, "version", None) or v.name), version_id=v.id,
                manager=v.datastore_manager, active=bool(v.active),
                default=defaults.get(v.datastore_name) == v.id,
                image_id=str(img.id) if img is not None else (v.image or ""), image_tags=tags,
                packages=_clean(v.packages), image_name=name, image_status=status))
    return tuple(sorted(rows, key=lambda r: (r.datastore, r.version, r.number)))


def render_listing(rows: tuple[VersionRow, ...], cloud: str) -> None:
    """A table on a terminal, one plain line per version otherwise."""
    if not rows:
        ui.out.print(f"no datastore versions registered in cloud '{cloud}'", markup=False)
        return
    if not ui.out.is_terminal:
        ui.out.print(f"Trove datastore versions in cloud '{cloud}':", markup=False)
        for r in rows:
            flags = ", ".join(x for x in ("default" if r.default else "",
                                          "active" if r.active else "inactive") if x)
            image = r.image_id or "tags " + ",".join(r.image_tags)
            ui.out.print(f"  {r.datastore} {r.version} ({flags}): image {image} "
                         f"{r.image_name or '-'} {r.image_status or '-'}; packages "
                         f"{','.join(r.packages) or '-'}", markup=False)
        return
    from rich.table import Table
    table = Table(title=f"Trove datastore versions in cloud '{cloud}'", title_justify="left")
    for col in ("datastore", "version", "default", "active", "image", "image name",
                "status", "packages"):
        table.add_column(col, overflow="fold")
    for r in rows:
        image = r.image_id or ("tags " + ",".join(r.image_tags))
        table.add_row(r.datastore, r.version if r.number == r.version else f"{r.version} ({r.number})",
                      "yes" if r.default else "", "yes" if r.active else "no", image,
                      r.image_name, r.image_status, ",".join(r.packages))
    ui.out.print(table)
