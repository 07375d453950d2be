"""Glance side of `imagekit upload`: put one image file into one cloud.

    spec = ImageUpload(path, name, tags, properties)      # resolved first, frozen
    result = upload(conn, spec, cloud="prod")             # -> UploadResult

What `upload` guarantees:
- **Reuse.** An active image of ours with the same tags, size and sha512 is
  reused: no byte is sent; missing tags/properties and the sharing with
  Trove's service project are brought up to date.
- **Verification.** The sha512 (and md5) are computed while the bytes stream
  and compared with Glance's `os_hash_value` (`checksum`) afterwards; a
  mismatch deletes the image.
- **Nothing half-made is left.** Any failure (Glance's 415 for content that is
  not what `disk_format` says, a quota, a Glance server dying mid-upload,
  Ctrl-C) deletes the image record it created; when Glance is gone and the
  delete cannot happen, the next run removes such leftovers (our tags, the
  imagekit marker property, status queued/saving/killed) before uploading.
- **Access for Trove.** Visibility `private` when we upload into Trove's
  service project, else `shared` with that project as an accepted member
  (Trove resolves images with its service credentials).

The sha512 of an image file is cached by (path, size, mtime, inode), so a
re-run decides on reuse without reading the file again."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagekit import __version__, paths, ui
from imagekit.cloud.errors import cloud_errors, translate
from imagekit.errors import CloudError, ImageError

CHUNK = 1 << 20
PROVENANCE_KEY = "imagekit_provenance"
TOOL_KEY = "imagekit_version"
LEFTOVER_STATES = ("queued", "saving", "killed", "uploading", "importing")
VISIBILITIES = ("auto", "private", "shared")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


# -- what to upload, what happened -------------------------------------------------
@dataclass(frozen=True)
class ImageUpload:
    """One image file, named, tagged and described, ready for any cloud."""
    path: Path
    name: str
    tags: tuple[str, ...]
    properties: tuple[tuple[str, str], ...]
    disk_format: str = "qcow2"
    container_format: str = "bare"
    visibility: str = "auto"              # auto: private in the service project, else shared
    service_project: str = "service"      # Trove's service project, name or id
    min_disk_gb: int | None = None

    def body(self) -> dict[str, Any]:
        """The Glance v2 create body (properties are top-level keys)."""
        b: dict[str, Any] = {"name": self.name, "disk_format": self.disk_format,
                             "container_format": self.container_format, "tags": list(self.tags)}
        if self.min_disk_gb:
            b["min_disk"] = self.min_disk_gb
        b.update(dict(self.properties))
        return b


@dataclass(frozen=True)
class UploadResult:
    cloud: str
    image_id: str
    name: str
    reused: bool
    bytes_sent: int
    size: int
    sha512: str
    visibility: str
    owner: str
    shared_with: str | None
    member_status: str | None
    leftovers_removed: tuple[str, ...] = field(default=())
    seconds: float = 0.0


def image_properties(*, provenance: str, os_distro: str | None, os_version: str | None,
                     architecture: str | None, extra: dict[str, str] | None = None
                     ) -> tuple[tuple[str, str], ...]:
    """The properties imagekit sets: Nova/Glance's os_* and architecture,
    hw_rng_model=virtio (as upstream Trove does), and imagekit's provenance
    (the sha256 of the manifest written beside the uploaded file)."""
    arch = {"amd64": "x86_64", "ppc64el": "ppc64le", "arm64": "aarch64"}.get(
        architecture or "", architecture)
    props: dict[str, str] = {"hw_rng_model": "virtio", PROVENANCE_KEY: provenance,
                             TOOL_KEY: __version__}
    if os_distro:
        props["os_distro"] = os_distro
    if os_version:
        props["os_version"] = os_version
    if arch:
        props["architecture"] = arch
    props.update(extra or {})
    return tuple(sorted(props.items()))


def min_disk_gb(virtual_size: int) -> int:
    """Glance's min_disk: the virtual size in GiB, rounded up."""
    return max(1, math.ceil(virtual_size / (1 << 30)))


# -- local hashes --------------------------------------------------------------------
def _identity(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"


def _hash_cache() -> Path:
    return paths.cache_dir() / "sha512.json"


def cached_sha512(path: Path) -> str | None:
    try:
        return json.loads(_hash_cache().read_text()).get(_identity(path))
    except (OSError, ValueError):
        return None


def remember_sha512(path: Path, digest: str) -> None:
    f = _hash_cache()
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError):
        data = {}
    data[_identity(path)] = digest
    data = dict(list(data.items())[-500:])
    tmp = f.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(f)


def file_sha512(path: Path) -> str:
    """sha512 of a file (cached by its identity), with a progress bar."""
    known = cached_sha512(path)
    if known:
        return known
    h = hashlib.sha512()
    size = path.stat().st_size
    with ui.byte_progress(f"sha512 {path.name}", size) as advance, open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            advance(len(chunk))
    digest = h.hexdigest()
    remember_sha512(path, digest)
    return digest


class _StreamingReader:
    """The file, read by urllib3 in blocks while it sends them: hashes every
    block and reports progress (in ~1 MiB steps). `__len__` gives requests
    the Content-Length; `__iter__` makes it treat us as a stream."""

    def __init__(self, f: Any, size: int, advance: Callable[[int], None],
                 on_bytes: Callable[[int], None] | None) -> None:
        self.f, self.size, self.advance, self.on_bytes = f, size, advance, on_bytes
        self.sha512 = hashlib.sha512()
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sent = 0
        self._unreported = 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n if n and n > 0 else CHUNK)
        if data:
            self.sha512.update(data)
            self.md5.update(data)
            self.sent += len(data)
            self._unreported += len(data)
            if self._unreported >= CHUNK or self.sent == self.size:
                self.advance(self._unreported)
                self._unreported = 0
            if self.on_bytes:
                self.on_bytes(self.sent)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk

    def __len__(self) -> int:
        return self.size


# -- Glance calls ---------------------------------------------------------------------
def _raise_for(resp: Any) -> None:
    from openstack import exceptions as sdk
    sdk.raise_from_response(resp)


def resolve_project(conn: Any, name_or_id: str, cloud: str) -> str:
    """The id of Trove's service project (a name is looked up in Keystone)."""
    from openstack import exceptions as sdk
    if name_or_id == conn.current_project_id:
        return name_or_id
    try:
        project = conn.identity.find_project(name_or_id, ignore_missing=True)
    except sdk.ForbiddenException as exc:
        if _HEX32.match(name_or_id):
            return name_or_id
        raise CloudError(f"cloud '{cloud}': not allowed to look up project '{name_or_id}' "
                         "in Keystone", "pass Trove's service project by id: "
                         "--service-project PROJECT_ID", status=403,
                         request_id=getattr(exc, "request_id", None)) from exc
    except Exception as exc:
        mapped = translate(exc, f"looking up project '{name_or_id}'", cloud)
        if mapped:
            raise mapped from exc
        raise
    if project is None:
        raise CloudError(f"cloud '{cloud}': Trove's service project '{name_or_id}' does not exist",
                         "pass the project Trove's service user belongs to: --service-project "
                         "NAME (see [service_credentials] project_name in trove.conf)")
    return str(project.id)


def _images(conn: Any, **query: Any) -> list[Any]:
    return list(conn.image.images(**query))


def _our_kind(img: Any, spec: ImageUpload) -> bool:
    return set(spec.tags) <= set(img.tags or []) and (img.disk_format == spec.disk_format)


def reuse_candidates(conn: Any, spec: ImageUpload, size: int) -> list[Any]:
    """Active images of this project with our tags and the file's size."""
    project = conn.current_project_id
    return [img for img in _images(conn, owner=project, tag=spec.tags[0], status="active")
            if _our_kind(img, spec) and img.size == size]


def find_reusable(candidates: list[Any], path: Path) -> Any | None:
    """The newest candidate with the file's sha512 (the file is hashed only
    when there is a candidate, and only once: the hash is cached)."""
    if not candidates:
        return None
    digest = file_sha512(path)
    for img in sorted(candidates, key=lambda i: i.created_at or "", reverse=True):
        if (img.hash_algo or "sha512") == "sha512" and img.hash_value == digest:
            return img
    return None


def purge_leftovers(conn: Any, spec: ImageUpload) -> tuple[str, ...]:
    """Delete our half-made images from earlier runs (a Glance server that
    died mid-upload cannot be asked to delete them at the time)."""
    removed = []
    for img in _images(conn, owner=conn.current_project_id, tag=spec.tags[0]):
        props = img.properties or {}
        if (img.status in LEFTOVER_STATES and _our_kind(img, spec) and PROVENANCE_KEY in props
                and not img.is_protected):
            conn.image.delete_image(img.id, ignore_missing=True)
            removed.append(img.id)
            ui.info(f"removed image {img.id} ({img.name}) left {img.status} by an earlier run")
    return tuple(removed)


def _create(conn: Any, spec: ImageUpload, visibility: str) -> str:
    resp = conn.image.post("/images", json={**spec.body(), "visibility": visibility})
    _raise_for(resp)
    return str(resp.json()["id"])


def _delete_quietly(conn: Any, image_id: str, attempts: int = 3) -> bool:
    for i in range(attempts):
        try:
            resp = conn.image.delete(f"/images/{image_id}", connect_retries=0)
            if resp.status_code in (204, 404):
                return True
        except Exception:  # noqa: BLE001 - the server may be gone; we report below
            pass
        if i + 1 < attempts:
            time.sleep(1.0)
    return False


def _local_format(path: Path) -> str | None:
    from imagekit.tools import qemuimg
    try:
        return qemuimg.info(path).format
    except Exception:  # noqa: BLE001 - only an explanation; the upload already failed
        return None


def _explain_put_failure(exc: BaseException, spec: ImageUpload, cloud: str, sent: int,
                         size: int) -> CloudError:
    from keystoneauth1 import exceptions as ksa
    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    if status == 415:
        said = [p.strip() for p in str(getattr(exc, "details", None) or exc).split(":")]
        detail = next((p for p in reversed(said) if "format" in p), said[-1])
        actual = _local_format(spec.path)
        seen = f"; qemu-img says the file is {actual}" if actual else ""
        return CloudError(
            f"Glance refused the content of {spec.path.name} as disk_format "
            f"'{spec.disk_format}' in cloud '{cloud}' (\"{detail}\"){seen}",
            "Glance inspects the bytes it receives and refuses content that is not the "
            f"declared format; check the file with 'qemu-img info {spec.path}' and convert it "
            f"('qemu-img convert -O {spec.disk_format} ...'), or let 'imagekit upload' re-target "
            "it (its output is always a clean qcow2)", status=415,
            request_id=getattr(exc, "request_id", None))
    if status == 413:
        return CloudError(
            f"Glance refused {spec.path.name} in cloud '{cloud}': the image is larger than "
            "this project's image quota allows",
            "raise Glance's per-project image size limit (keystone unified limits "
            "image_size_total) or upload into a project with room", status=413,
            request_id=getattr(exc, "request_id", None))
    if isinstance(exc, ksa.ConnectionError) or type(exc).__name__ in (
            "ConnectionError", "ChunkedEncodingError", "ProtocolError"):
        return CloudError(
            f"the connection to Glance in cloud '{cloud}' broke after {sent} of {size} bytes "
            f"of {spec.path.name} ({type(exc).__name__})",
            "run the same command again once Glance is back: imagekit removes the half-made "
            "image and uploads again")
    mapped = translate(exc, f"uploading {spec.path.name}", cloud)
    return mapped if isinstance(mapped, CloudError) else CloudError(
        f"uploading {spec.path.name} to cloud '{cloud}' failed: {exc}")


def _stream(conn: Any, image_id: str, spec: ImageUpload, cloud: str,
            on_bytes: Callable[[int], None] | None) -> _StreamingReader:
    size = spec.path.stat().st_size
    headers = {"Content-Type": "application/octet-stream", "X-OpenStack-Image-Size": str(size)}
    with ui.byte_progress(f"upload {spec.path.name} → {cloud}", size) as advance, \
            open(spec.path, "rb") as f:
        reader = _StreamingReader(f, size, advance, on_bytes)
        try:
            resp = conn.image.put(f"/images/{image_id}/file", data=reader, headers=headers,
                                  connect_retries=0)
            _raise_for(resp)
        except Exception as exc:
            raise _explain_put_failure(exc, spec, cloud, reader.sent, size) from exc
    return reader


def _verify(conn: Any, image_id: str, reader: _StreamingReader, spec: ImageUpload,
            cloud: str) -> Any:
    img = conn.image.get_image(image_id)
    if img.status != "active":
        raise CloudError(f"image {image_id} in cloud '{cloud}' is '{img.status}' after the upload, "
                         "not 'active'", "look at Glance's log for this image id")
    sha, md5 = reader.sha512.hexdigest(), reader.md5.hexdigest()
    algo = img.hash_algo or "sha512"
    if algo == "sha512" and img.hash_value:
        ok, what = img.hash_value == sha, f"os_hash_value (sha512) {img.hash_value[:16]}…"
    elif img.checksum:
        ok, what = img.checksum == md5, f"checksum (md5) {img.checksum}"
    else:
        ok, what = False, "no hash at all"
    if not ok or img.size != reader.size:
        raise CloudError(
            f"Glance's copy of {spec.path.name} in cloud '{cloud}' differs from the file: "
            f"{what} and {img.size} bytes, the file has sha512 {sha[:16]}… and {reader.size} "
            "bytes", "the image was deleted; upload again (a proxy or the store corrupted it)")
    remember_sha512(spec.path, sha)
    return img


# -- access for Trove's service project ------------------------------------------------
def ensure_access(conn: Any, img: Any, spec: ImageUpload, service_id: str,
                  cloud: str) -> tuple[str, str | None, str | None]:
    """(visibility, shared_with, member_status): private when the image lives
    in the service project, else shared with it, membership accepted."""
    if img.owner == service_id:
        if img.visibility not in ("private", "public"):
            conn.image.update_image(img, visibility="private")
        return (img.visibility if img.visibility == "public" else "private"), None, None
    if img.visibility not in ("shared", "public"):
        conn.image.update_image(img, visibility="shared")
    from openstack import exceptions as sdk
    member = conn.image.find_member(service_id, img, ignore_missing=True)
    if member is None:
        member = conn.image.add_member(img, member_id=service_id)
    status = member.status
    if status != "accepted":
        try:
            member = conn.image.update_member(member, img, status="accepted")
            status = member.status
        except sdk.ForbiddenException:
            ui.warn(f"image {img.id} is shared with project {service_id} but only that project "
                    "can accept it: run 'openstack image set --accept " + img.id + "' as "
                    "Trove's service user (Trove lists images by tag only once accepted)")
    return "shared", service_id, status


def _ensure_metadata(conn: Any, img: Any, spec: ImageUpload) -> Any:
    """Add our tags and properties to a reused image (never removes any)."""
    for tag in spec.tags:
        if tag not in (img.tags or []):
            conn.image.add_tag(img, tag)
    props = img.properties or {}
    want = {k: v for k, v in spec.properties if props.get(k) != v and getattr(img, k, None) != v}
    if want:
        conn.image.update_image(img, **want)
    return conn.image.get_image(img.id)


@contextlib.contextmanager
def _upload_lock(cloud: str, spec: ImageUpload) -> Iterator[None]:
    """One upload of this name into this cloud at a time on this host."""
    d = paths.cache_dir() / "locks"
    d.mkdir(parents=True, exist_ok=True)
    key = re.sub(r"[^A-Za-z0-9._-]", "_", f"upload-{cloud}-{'-'.join(spec.tags)}")
    with open(d / f"{key}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


# -- the whole thing -------------------------------------------------------------------
def upload(conn: Any, spec: ImageUpload, *, cloud: str,
           on_bytes: Callable[[int], None] | None = None) -> UploadResult:
    """Put `spec.path` into Glance (or reuse an identical image). `on_bytes`
    is called with the bytes sent so far while streaming."""
    if spec.visibility not in VISIBILITIES:
        raise CloudError(f"unknown visibility '{spec.visibility}'", "use auto, private or shared")
    if not spec.path.is_file():
        raise ImageError(f"{spec.path}: no such image file")
    start = time.monotonic()
    size = spec.path.stat().st_size
    with _upload_lock(cloud, spec), cloud_errors(f"uploading {spec.name}", cloud):
        service_id = resolve_project(conn, spec.service_project, cloud)
        if spec.visibility == "private" and conn.current_project_id != service_id:
            raise CloudError(f"cloud '{cloud}': a private image is visible to its own project "
                             f"only, and this cloud's project is not Trove's service project "
                             f"({spec.service_project})",
                             "upload with a cloud entry scoped to Trove's service project, or "
                             "use --visibility shared (or auto)")
        with ui.step(f"looking for {spec.name} in cloud '{cloud}'") as st:
            leftovers = purge_leftovers(conn, spec)
            candidates = reuse_candidates(conn, spec, size)
            st["note"] = f"{len(candidates)} image(s) of the same size" if candidates \
                else "not there yet"
        img = find_reusable(candidates, spec.path)
        if img is not None:
            ui.info(f"cloud '{cloud}' already has these bytes: image {img.id} ({img.name})")
        sent = 0
        if img is not None:
            img = _ensure_metadata(conn, img, spec)
            digest = img.hash_value
        else:
            in_service = conn.current_project_id == service_id
            visibility = spec.visibility if spec.visibility != "auto" else (
                "private" if in_service else "shared")
            image_id = _create(conn, spec, visibility)
            try:
                reader = _stream(conn, image_id, spec, cloud, on_bytes)
                img = _verify(conn, image_id, reader, spec, cloud)
            except BaseException:
                if not _delete_quietly(conn, image_id):
                    ui.warn(f"could not delete the half-made image {image_id} in cloud "
                            f"'{cloud}'; the next 'imagekit upload' of it removes it")
                raise
            sent, digest = reader.sent, reader.sha512.hexdigest()
        visibility, shared_with, member_status = ensure_access(conn, img, spec, service_id, cloud)
    return UploadResult(cloud=cloud, image_id=str(img.id), name=str(img.name),
                        reused=sent == 0, bytes_sent=sent, size=size, sha512=str(digest),
                        visibility=visibility, owner=str(img.owner), shared_with=shared_with,
                        member_status=member_status, leftovers_removed=leftovers,
                        seconds=round(time.monotonic() - start, 3))
