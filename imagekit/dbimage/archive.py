"""Reading and retagging image archives without docker: a docker-archive
(what `docker save` writes and `docker load` reads: manifest.json with
RepoTags) or an OCI image archive (oci-layout + index.json + blobs/).
Pure tarfile work; only the OCI -> docker-archive conversion calls skopeo."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagekit.dbimage.model import oci_arch
from imagekit.errors import DbImageError
from imagekit.tools import skopeo

DOCKER = "docker-archive"
OCI = "oci-archive"
_INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json")


@dataclass(frozen=True)
class ArchiveImage:
    """One image inside an archive."""

    arch: str                   # OCI name: amd64, ppc64le...
    tags: tuple[str, ...]       # "name:tag" (docker) or the OCI ref names
    digest: str                 # sha256:<config hash>, docker's image ID


@dataclass(frozen=True)
class ArchiveInfo:
    path: Path
    kind: str                   # DOCKER or OCI
    images: tuple[ArchiveImage, ...]

    def image_for(self, arch: str) -> ArchiveImage:
        """The image of architecture `arch` (Debian or OCI name); a clear
        error naming both when there is none."""
        want = oci_arch(arch)
        for img in self.images:
            if img.arch == want:
                return img
        have = ", ".join(sorted({i.arch for i in self.images})) or "none recorded"
        raise DbImageError(
            f"{self.path}: the image is for architecture {have}, the target is {want}",
            f"pass an image built for {want} (docker pull --platform linux/{want} ...; "
            f"docker save), or '--db-image distro' to build one")


def _name(member: str) -> str:
    while member.startswith("./"):
        member = member[2:]
    return member.lstrip("/")


def _not_archive(path: Path, why: str = "") -> DbImageError:
    return DbImageError(f"{path} is not a docker-archive or OCI image archive"
                        + (f" ({why})" if why else ""),
                        "pass a file written by 'docker save' or 'skopeo copy ... "
                        "docker-archive:FILE' / 'oci-archive:FILE', a registry reference, "
                        "or 'distro'")


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.tar = tarfile.open(path, "r:*")
            self.members = {_name(m.name): m for m in self.tar.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise _not_archive(path, str(exc) if isinstance(exc, OSError) else "not a tar file")

    def read(self, name: str) -> bytes:
        m = self.members.get(_name(name))
        if m is None:
            raise _not_archive(self.path, f"{name} is missing")
        f = self.tar.extractfile(m)
        assert f is not None
        return f.read()

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except ValueError:
            raise _not_archive(self.path, f"{name} is not JSON")

    def close(self) -> None:
        self.tar.close()


def _docker_images(r: _Reader) -> list[ArchiveImage]:
    manifest = r.json("manifest.json")
    if not isinstance(manifest, list) or not manifest:
        raise _not_archive(r.path, "manifest.json lists no image")
    out = []
    for entry in manifest:
        raw = r.read(entry["Config"])
        cfg = json.loads(raw)
        out.append(ArchiveImage(arch=cfg.get("architecture", ""),
                                tags=tuple(entry.get("RepoTags") or ()),
                                digest="sha256:" + hashlib.sha256(raw).hexdigest()))
    return out


def _blob(digest: str) -> str:
    algo, _, hexd = digest.partition(":")
    return f"blobs/{algo}/{hexd}"


def _oci_images(r: _Reader, index: dict[str, Any], names: tuple[str, ...] = ()) -> list[ArchiveImage]:
    out: list[ArchiveImage] = []
    for desc in index.get("manifests") or []:
        ref = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        tags = names + ((ref,) if ref else ())
        if desc.get("mediaType") in _INDEX_TYPES:
            out += _oci_images(r, r.json(_blob(desc["digest"])), tags)
            continue
        manifest = r.json(_blob(desc["digest"]))
        raw = r.read(_blob(manifest["config"]["digest"]))
        cfg = json.loads(raw)
        out.append(ArchiveImage(arch=cfg.get("architecture", ""), tags=tags,
                                digest="sha256:" + hashlib.sha256(raw).hexdigest()))
    return out


def inspect(path: Path) -> ArchiveInfo:
    """What kind of archive `path` is and which images it holds."""
    path = Path(path)
    if not path.is_file():
        raise DbImageError(f"{path}: no such file",
                           "pass an image archive, a registry reference or 'distro'")
    r = _Reader(path)
    try:
        if "manifest.json" in r.members:
            return ArchiveInfo(path, DOCKER, tuple(_docker_images(r)))
        if "index.json" in r.members and "oci-layout" in r.members:
            images = _oci_images(r, r.json("index.json"))
            if not images:
                raise _not_archive(path, "index.json lists no image")
            return ArchiveInfo(path, OCI, tuple(images))
        raise _not_archive(path, "neither manifest.json nor oci-layout + index.json in it")
    except (KeyError, TypeError, AttributeError) as exc:
        raise _not_archive(path, f"malformed metadata: {exc}")
    finally:
        r.close()


def split_tag(ref: str) -> tuple[str, str]:
    """("quay.io:443/x/postgres", "15") from "quay.io:443/x/postgres:15";
    the tag is "" when there is none."""
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, ""
    return name, tag


def tag_matches(tag: str, version: str) -> bool:
    """A tag is of datastore version "15" when it is 15, 15.x or 15-anything."""
    return tag == version or tag.startswith((version + ".", version + "-"))


def check_tags(path: Path, image: ArchiveImage, version: str) -> None:
    """Refuse an image tagged for another version (an untagged one is fine)."""
    tags = [split_tag(t)[1] or t for t in image.tags]
    if not tags or any(tag_matches(t, version) for t in tags):
        return
    raise DbImageError(
        f"{path}: the image is tagged {', '.join(image.tags)}, not for datastore version {version}",
        f"pass an image of version {version} (or retag it: docker tag IMAGE NAME:{version}; "
        "docker save), or choose the datastore version the image is for")


def retag_docker(src: Path, dest: Path, ref: str) -> None:
    """Copy the docker-archive `src` to `dest` with RepoTags [ref] (one image);
    written under a temporary name, then renamed."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with tarfile.open(src, "r:*") as tin, tarfile.open(tmp, "w") as tout:
            for m in tin:
                name = _name(m.name)
                if name == "manifest.json":
                    manifest = json.loads(tin.extractfile(m).read())  # type: ignore[union-attr]
                    if len(manifest) != 1:
                        raise DbImageError(f"{src}: holds {len(manifest)} images, expected one",
                                           "save only the database image: docker save NAME:TAG")
                    manifest[0]["RepoTags"] = [ref]
                    _add_bytes(tout, m, json.dumps(manifest).encode())
                elif name == "repositories":
                    repo, tag = split_tag(ref)
                    top = json.loads(tin.extractfile(m).read())  # type: ignore[union-attr]
                    layer = next((lid for tags in top.values() for lid in tags.values()), "")
                    _add_bytes(tout, m, json.dumps({repo: {tag: layer}}).encode())
                elif m.isfile():
                    tout.addfile(m, tin.extractfile(m))
                else:
                    tout.addfile(m)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _add_bytes(tout: tarfile.TarFile, like: tarfile.TarInfo, data: bytes) -> None:
    info = tarfile.TarInfo(like.name)
    info.mode, info.mtime, info.size = like.mode, like.mtime, len(data)
    tout.addfile(info, io.BytesIO(data))


def to_docker_archive(info: ArchiveInfo, dest: Path, ref: str, arch: str) -> None:
    """Write the image of `arch` in `info` to `dest` as a docker-archive tagged ref."""
    if info.kind == DOCKER and len(info.images) == 1:
        retag_docker(info.path, dest, ref)
    elif info.kind == DOCKER:
        tags = info.image_for(arch).tags
        copy_to_docker_archive(f"docker-archive:{info.path}:{tags[0]}" if tags else
                               f"docker-archive:{info.path}", dest, ref,
                               what=f"converting {info.path}")
    else:
        copy_to_docker_archive(f"oci-archive:{info.path}", dest, ref, arch=oci_arch(arch),
                               what=f"converting {info.path} to a docker-archive")


def copy_to_docker_archive(src: str, dest: Path, ref: str, *, arch: str | None = None,
                           what: str, **kw: Any) -> None:
    """skopeo copy SRC to the docker-archive `dest`, tagged exactly `ref`
    (skopeo writes docker.io/library/NAME for short names; docker load reads
    both the same, the exact ref is what we record). Atomic."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.skopeo")
    tmp.unlink(missing_ok=True)
    try:
        skopeo.copy(src, f"docker-archive:{tmp}:{ref}", arch=arch, what=what, **kw)
        retag_docker(tmp, dest, ref)
    finally:
        tmp.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def copy_atomic(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
