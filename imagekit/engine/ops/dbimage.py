"""db-image: the database's container image into the guest, with the unit
that `docker load`s it before the guest agent starts.

Layout in the guest: the image in docker's store (imagekit.engine.dockerstore)
and /var/lib/imagekit/db-images/index.json (a list of {ref, file, digest,
source, arch}; file is an archive beside it to `docker load`, or null);
/usr/local/libexec/imagekit-db-images and imagekit-db-images.service (enabled,
Before=guest-agent.service); the agent's drop-in orders it after docker and
that unit. An entry with the same ref is replaced."""
from __future__ import annotations

import json
import posixpath
from importlib import resources

from imagekit.engine.ops.base import Prepared, executes
from imagekit.engine.ops.context import GuestContext
from imagekit.engine.plan import DbImageOp
from imagekit.errors import GuestError

DIR = "/var/lib/imagekit/db-images"
INDEX = f"{DIR}/index.json"
LOADER = "/usr/local/libexec/imagekit-db-images"
UNIT = "/etc/systemd/system/imagekit-db-images.service"
WANTS = "/etc/systemd/system/multi-user.target.wants/imagekit-db-images.service"
DROPIN = "/etc/systemd/system/guest-agent.service.d/50-imagekit-docker.conf"
DEBIAN_ARCH = {"x86_64": "amd64", "ppc64le": "ppc64el", "ppc64": "ppc64el", "aarch64": "arm64"}


def _data(name: str) -> bytes:
    return (resources.files("imagekit.engine") / "data" / name).read_bytes()


def _build_record(ctx: GuestContext) -> dict:
    raw = ctx.read("/etc/imagekit/build.json")
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return {}


def _prepare(op: DbImageOp) -> Prepared:
    """Resolve now when the datastore is known (the archive is hashed in the
    manifest); else the guest's build record says, at apply."""
    if not op.db:
        return Prepared()
    from imagekit import dbimage
    img = dbimage.resolve(op.spec, db=op.db, version=op.version or "", image_name=op.image_name)
    return Prepared({"archive": img.digest}, img)


@executes(DbImageOp, prepare=_prepare)
def apply(op: DbImageOp, ctx: GuestContext, prep: Prepared) -> None:
    from imagekit import dbimage
    arch = DEBIAN_ARCH.get(ctx.guest.arch, ctx.guest.arch)
    img = prep.payload
    if img is None:
        rec = (_build_record(ctx).get("recipe") or {})
        db, version = rec.get("db"), rec.get("version")
        if not db or not version:
            raise GuestError("db-image: the image has no build record naming its datastore "
                             "(/etc/imagekit/build.json)",
                             "say which: in a plan file, db-image: {spec: distro, db: postgresql, "
                             "version: '15'}")
        name = op.image_name or (rec.get("docker_image") or "").split(":")[0] or None
        release = rec.get("release") or "bookworm"
        img = dbimage.resolve(op.spec, db=db, version=str(version), image_name=name,
                              release=release, arch=arch)
    elif dbimage.model.oci_arch(arch) != img.arch:
        raise GuestError(f"db-image: {img.ref} is for {img.arch}, the image is {ctx.guest.arch}",
                         "give an archive of the image's architecture, or 'distro'")
    ctx.ensure_dir(DIR)
    index = []
    raw = ctx.read(INDEX)
    if raw:
        try:
            index = [e for e in json.loads(raw) if isinstance(e, dict)]
        except ValueError:
            index = []
    # The archive itself is not kept in the image: the layers are in docker's
    # store below (a 330 MB MariaDB image twice over did not fit a DIB-sized
    # root filesystem). The index records what was put there.
    index = [e for e in index if e.get("ref") != img.ref]
    index.append({"ref": img.ref, "file": None, "digest": img.digest, "source": img.source,
                  "arch": img.arch, "size": img.size, "in_docker_store": True})
    ctx.put_file(INDEX, (json.dumps(index, indent=2) + "\n").encode())
    ctx.ensure_dir(posixpath.dirname(LOADER))
    ctx.put_file(LOADER, _data("imagekit-db-images"), mode=0o755)
    ctx.put_file(UNIT, _data("imagekit-db-images.service"))
    ctx.ensure_dir(posixpath.dirname(WANTS))
    ctx.make_link(UNIT, WANTS)
    ctx.ensure_dir(posixpath.dirname(DROPIN))
    ctx.put_file(DROPIN, _data("50-imagekit-docker.conf"))
    from imagekit.engine import dockerstore
    for line in dockerstore.write(ctx, img.archive, dockerstore.read_archive(img.archive, img.ref)):
        ctx.record(dockerstore.ROOT, "docker store", line)
    ctx.details["db_image"] = img.to_json()
    ctx.note(f"{img.ref} ({img.source}) is in the guest's docker store (the loader unit loads "
             "the archive at boot if docker does not list it)")
