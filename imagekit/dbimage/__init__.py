"""The database's container image that the guest's docker loads at first
boot (the Trove agent runs its database only as a container, image
`<docker_image>:<datastore version>`).

`resolve(spec, ...)` turns an operator's `--db-image` value into a
docker-archive tarball tagged `<image_name>:<version>`:

- "distro": built from the distribution's own packages (`build_distro`),
- a file: an operator's docker-archive or OCI image archive, validated
  (architecture, version tag) and retagged,
- a registry reference: copied with skopeo (a short timeout).
"""
from __future__ import annotations

from pathlib import Path

from imagekit.dbimage import archive, cache, registry
from imagekit.dbimage.distro import build_distro
from imagekit.dbimage.model import DbImage, known_dbs, load_recipe, oci_arch
from imagekit.errors import DbImageError

__all__ = ["DbImage", "DbImageError", "build_distro", "from_archive", "from_registry",
           "resolve", "known_dbs"]

DISTRO = "distro"


def from_archive(path: Path, *, version: str, image_name: str, arch: str = "amd64",
                 cache_root: Path | None = None) -> DbImage:
    """An operator's docker-archive or OCI archive, checked (architecture,
    version tag) and written as a docker-archive tagged `<image_name>:<version>`
    into the cache (keyed by the file's hash and the tag)."""
    path = Path(path)
    info = archive.inspect(path)
    img = info.image_for(arch)
    archive.check_tags(path, img, version)
    ref = f"{image_name}:{version}"
    root = cache_root or cache.default_root()
    key = cache.make_key({"archive": archive.file_sha256(path), "ref": ref,
                          "arch": oci_arch(arch)})
    hit = cache.lookup(root, key)
    if hit:
        return hit
    with cache.locked(root, key):
        hit = cache.lookup(root, key)
        if hit:
            return hit
        entry = cache.entry_dir(root, key)
        entry.mkdir(parents=True, exist_ok=True)
        dest = entry / (ref.replace("/", "_").replace(":", "-") + f"-{img.arch}.tar")
        archive.to_docker_archive(info, dest, ref, arch)
        out = archive.inspect(dest).image_for(arch)
        return cache.store(root, key, DbImage(
            ref=ref, archive=dest, digest=out.digest, source=f"file: {path.resolve()}",
            arch=out.arch, size=dest.stat().st_size))


def from_registry(ref: str, *, version: str, image_name: str, arch: str = "amd64",
                  cache_root: Path | None = None) -> DbImage:
    """A registry image copied into a docker-archive tagged `<image_name>:<version>`
    (not cached: a registry tag can move)."""
    name, tag = archive.split_tag(ref.removeprefix("docker://").split("@", 1)[0])
    if tag and not archive.tag_matches(tag, version):
        raise DbImageError(f"{ref} is not tagged for datastore version {version}",
                           f"use {name}:{version}, or choose the datastore version it is for")
    want = f"{image_name}:{version}"
    root = cache_root or cache.default_root()
    key = cache.make_key({"registry": ref, "ref": want, "arch": oci_arch(arch)})
    dest = cache.entry_dir(root, key) / (want.replace("/", "_").replace(":", "-") + ".tar")
    with cache.locked(root, key):
        return cache.store(root, key, registry.pull(ref, dest, want_ref=want, arch=arch))


def resolve(spec: str, *, db: str, version: str, image_name: str | None = None,
            release: str = "bookworm", arch: str = "amd64",
            cache_root: Path | None = None) -> DbImage:
    """The docker-archive for `--db-image SPEC`: "distro", a file, or a
    registry reference. `image_name` is the agent's `[<db>] docker_image`
    (default: the official image's name, postgres / mariadb / mysql)."""
    name = image_name or _default_name(db)
    if spec == DISTRO:
        return build_distro(db, version, image_name=name, release=release, arch=arch,
                            cache_root=cache_root)
    p = Path(spec).expanduser()
    if p.exists() or "/" in spec and not registry.looks_like_ref(spec) or spec.startswith((".", "~")):
        return from_archive(p, version=version, image_name=name, arch=arch, cache_root=cache_root)
    if registry.looks_like_ref(spec):
        return from_registry(spec, version=version, image_name=name, arch=arch,
                             cache_root=cache_root)
    raise DbImageError(f"--db-image {spec}: not 'distro', an existing file or a registry reference",
                       "pass 'distro', the path of a docker-archive/OCI archive, or e.g. "
                       "docker.io/library/postgres:15")


_DEFAULT_NAMES = {"postgresql": "postgres", "mariadb": "mariadb", "mysql": "mysql"}


def _default_name(db: str) -> str:
    if db in _DEFAULT_NAMES:
        return _DEFAULT_NAMES[db]
    return load_recipe(db, "").image_name  # raises the "no recipe" error
