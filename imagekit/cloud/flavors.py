"""Database flavors in Nova: public `<db>-<size>` flavors with the table's
vCPUs, RAM and root disk (no ephemeral disk, no swap), created idempotently.

An existing flavor with the same name and values is left alone; one with
other values is reported and left alone, unless `replace` is asked for:
Nova cannot edit a flavor, so it is deleted and created again (instances
that use it keep their own copy of its values)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from imagekit.cloud.errors import cloud_errors
from imagekit.flavors import Flavor

# Outcome actions
CREATED, UNCHANGED, DIFFERS, REPLACED = "created", "unchanged", "differs", "replaced"
WOULD_CREATE, WOULD_REPLACE = "would create", "would replace"


@dataclass(frozen=True)
class Outcome:
    cloud: str
    flavor: Flavor                  # what the table wants
    action: str
    differences: tuple[str, ...]    # "ram 4096 (table 8192)", ... when an existing one differs
    flavor_id: str | None           # the Nova flavor's id (after the action)


def differences(existing: Any, want: Flavor) -> tuple[str, ...]:
    """How a Nova flavor differs from what the table wants."""
    diffs = []
    for attr, label in (("vcpus", "vcpus"), ("ram", "ram"), ("disk", "disk")):
        have = getattr(existing, attr)
        if have != getattr(want, attr):
            diffs.append(f"{label} {have} (table {getattr(want, attr)})")
    if (existing.ephemeral or 0) != 0:
        diffs.append(f"ephemeral {existing.ephemeral} (table 0)")
    if (existing.swap or 0) not in (0, ""):
        diffs.append(f"swap {existing.swap} (table 0)")
    if existing.is_public is False:
        diffs.append("private (table public)")
    return tuple(diffs)


def _create(conn: Any, want: Flavor, cloud: str) -> Any:
    with cloud_errors(f"creating flavor {want.name}", cloud):
        return conn.compute.create_flavor(name=want.name, vcpus=want.vcpus, ram=want.ram,
                                          disk=want.disk, ephemeral=0, swap=0, is_public=True)


def existing_flavors(conn: Any, cloud: str) -> dict[str, Any]:
    """{name: flavor} of every flavor the caller can see, public and private."""
    with cloud_errors("listing flavors", cloud):
        return {f.name: f for f in conn.compute.flavors(details=True, is_public="None")}


def upload(conn: Any, wanted: list[Flavor], *, cloud: str, replace: bool = False,
           dry_run: bool = False) -> list[Outcome]:
    have = existing_flavors(conn, cloud)
    out = []
    for want in wanted:
        old = have.get(want.name)
        if old is None:
            if dry_run:
                out.append(Outcome(cloud, want, WOULD_CREATE, (), None))
            else:
                out.append(Outcome(cloud, want, CREATED, (), _create(conn, want, cloud).id))
            continue
        diffs = differences(old, want)
        if not diffs:
            out.append(Outcome(cloud, want, UNCHANGED, (), old.id))
        elif not replace:
            out.append(Outcome(cloud, want, DIFFERS, diffs, old.id))
        elif dry_run:
            out.append(Outcome(cloud, want, WOULD_REPLACE, diffs, old.id))
        else:
            with cloud_errors(f"deleting flavor {want.name} to replace it", cloud):
                conn.compute.delete_flavor(old.id)
            out.append(Outcome(cloud, want, REPLACED, diffs, _create(conn, want, cloud).id))
    return out
