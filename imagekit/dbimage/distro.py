"""A database image built from the distribution's own packages
(`--db-image distro`): mmdebstrap makes the root filesystem from this
machine's apt mirror, umoci makes it an OCI image with the recipe's
configuration, skopeo writes the docker-archive. Cached by the hash of its
inputs (this code and the recipe included)."""
from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
import time
from importlib import resources
from pathlib import Path

from imagekit import aptsources, ui
from imagekit.dbimage import archive, cache
from imagekit.dbimage.model import DbImage, Recipe, load_recipe, oci_arch, recipe_text
from imagekit.errors import DbImageError
from imagekit.tools import mmdebstrap, umoci

# Keep images small: no documentation, manual pages or translations.
DPKG_OPTS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
    "path-exclude=/usr/share/lintian/*",
    "path-exclude=/usr/share/linda/*",
)
APT_OPTS = ('APT::Install-Recommends "false"', 'Acquire::Languages "none"')
CLEANUP = ("rm -rf \"$1\"/var/lib/apt/lists/* \"$1\"/var/cache/apt/* \"$1\"/var/log/apt/* "
           "\"$1\"/var/log/dpkg.log \"$1\"/var/cache/debconf/*-old \"$1\"/tmp/* "
           "\"$1\"/usr/share/i18n/locales \"$1\"/usr/share/i18n/charmaps")
# The modules whose source is part of the cache key.
_CODE = ("distro.py", "model.py", "archive.py")
_TOOLS = ("mmdebstrap.py", "umoci.py", "skopeo.py")


def apt_sources(release: str) -> list[str]:
    """One-line apt entries for `release` from this machine's mirrors."""
    mirror = aptsources.distro_mirror()
    out = [f"deb {mirror} {release} main", f"deb {mirror} {release}-updates main"]
    security = aptsources.security_mirror()
    if security:
        out.append(f"deb {security} {release}-security main")
    return out


def _source_text(recipe: Recipe) -> str:
    pkg = resources.files("imagekit.dbimage")
    tools = resources.files("imagekit.tools")
    parts = [(pkg / m).read_text() for m in _CODE] + [(tools / m).read_text() for m in _TOOLS]
    parts.append(recipe_text(f"{recipe.db}.yaml"))
    parts += [recipe_text(src) for src, _, _ in recipe.files]
    return "\n".join(parts)


def cache_key(recipe: Recipe, *, image_name: str, release: str, arch: str,
              sources: list[str]) -> str:
    import hashlib
    return cache.make_key({
        "db": recipe.db, "version": recipe.version, "image": image_name, "release": release,
        "arch": arch, "sources": sources,
        "code": hashlib.sha256(_source_text(recipe).encode()).hexdigest()})


def package_version(rootfs_tar: Path, package: str) -> str:
    """The installed version of `package`, read from the rootfs's dpkg status."""
    with tarfile.open(rootfs_tar) as t:
        for m in t:
            if m.name.lstrip("./") == "var/lib/dpkg/status":
                text = t.extractfile(m).read().decode()  # type: ignore[union-attr]
                break
        else:
            return "unknown"
    for stanza in text.split("\n\n"):
        if re.search(rf"^Package: {re.escape(package)}$", stanza, re.M):
            m2 = re.search(r"^Version: (\S+)$", stanza, re.M)
            if m2:
                return m2.group(1)
    return "unknown"


def _hook_files(recipe: Recipe, work: Path) -> tuple[list[str], list[str]]:
    """The essential and customize hooks of mmdebstrap (shell strings of our
    own, run by mmdebstrap with the chroot as $1; no operator input in them)."""
    pre = work / "pre-install.sh"
    pre.write_text("set -e\n" + recipe.pre_install)
    post = work / "post-install.sh"
    post.write_text("set -e\n" + recipe.post_install)
    essential = [f"upload {pre} /tmp/imagekit-pre.sh",
                 'chroot "$1" /bin/sh -e /tmp/imagekit-pre.sh',
                 'rm -f "$1/tmp/imagekit-pre.sh"']
    customize = []
    for i, (src, dest, mode) in enumerate(recipe.files):
        local = work / f"file-{i}"
        local.write_text(recipe_text(src))
        customize += [f'mkdir -p "$1{Path(dest).parent}"', f"upload {local} {dest}",
                      f'chmod {mode} "$1{dest}"']
    customize += [f"upload {post} /tmp/imagekit-post.sh",
                  'chroot "$1" /bin/sh -e /tmp/imagekit-post.sh', CLEANUP]
    return essential, customize


def build_distro(db: str, version: str, *, image_name: str | None = None,
                 release: str = "bookworm", arch: str = "amd64",
                 cache_root: Path | None = None) -> DbImage:
    """The image of `db` `version` built from `release`'s packages for `arch`
    (Debian name), tagged `<image_name>:<version>` (default: the recipe's, the
    agent's docker_image default). Returns the cached one when its inputs are
    unchanged."""
    recipe = load_recipe(db, version)
    if recipe.releases and release not in recipe.releases:
        raise DbImageError(f"the {db} {version} distro image is made from "
                           f"{', '.join(recipe.releases)}, not {release}",
                           f"use --release {recipe.releases[0]}, or --db-image FILE")
    name = image_name or recipe.image_name
    ref = f"{name}:{version}"
    sources = apt_sources(release)
    root = cache_root or cache.default_root()
    key = cache_key(recipe, image_name=name, release=release, arch=arch, sources=sources)
    hit = cache.lookup(root, key)
    if hit:
        ui.verbose(f"db image {ref} ({arch}) from the cache: {hit.archive}")
        return hit
    with cache.locked(root, key):
        hit = cache.lookup(root, key)       # built by another process meanwhile
        if hit:
            return hit
        for stale in root.glob(f".build-{key[:12]}-*"):   # a killed build's; we hold its lock
            shutil.rmtree(stale, ignore_errors=True)
        return _build(recipe, ref=ref, release=release, arch=arch, sources=sources,
                      root=root, key=key)


def _build(recipe: Recipe, *, ref: str, release: str, arch: str, sources: list[str],
           root: Path, key: str) -> DbImage:
    t0 = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".build-{key[:12]}-", dir=root))
    try:
        rootfs = work / "rootfs.tar"
        essential, customize = _hook_files(recipe, work)
        with ui.step(f"root filesystem of {ref} ({release} {arch}, mmdebstrap)"):
            mmdebstrap.build_tar(rootfs, suite=release, arch=arch, sources=sources,
                                 include=recipe.packages, dpkgopts=DPKG_OPTS, aptopts=APT_OPTS,
                                 essential_hooks=essential, customize_hooks=customize)
        pkg_version = package_version(rootfs, recipe.version_package)
        source = f"distro: debian {release} {recipe.version_package} {pkg_version}"
        with ui.step(f"OCI image of {ref} (umoci)"):
            oci = umoci.new_image(work / "oci", "image")
            umoci.add_layer(oci, rootfs, history=f"imagekit dbimage: {source}")
            c = recipe.config
            umoci.configure(oci, entrypoint=c.entrypoint, cmd=c.cmd, env=dict(c.env),
                            user=c.user, workdir=c.workdir, exposed_ports=c.exposed_ports,
                            volumes=c.volumes, stop_signal=c.stop_signal,
                            architecture=oci_arch(arch), author="imagekit",
                            labels={"org.opencontainers.image.title": ref,
                                    "org.opencontainers.image.description":
                                        f"{recipe.db} {recipe.version} from Debian packages",
                                    "io.imagekit.source": source,
                                    "io.imagekit.healthcheck": " ".join(recipe.healthcheck)})
        rootfs.unlink()
        entry = cache.entry_dir(root, key)
        entry.mkdir(parents=True, exist_ok=True)
        dest = entry / (ref.replace("/", "_").replace(":", "-") + f"-{arch}.tar")
        tmp = work / "image.tar"
        with ui.step(f"docker-archive of {ref} (skopeo)"):
            archive.copy_to_docker_archive(f"oci:{work / 'oci'}:image", tmp, ref,
                                           what=f"writing the docker-archive of {ref}")
        info = archive.inspect(tmp)
        img = info.image_for(arch)
        tmp.replace(dest)
        image = DbImage(ref=ref, archive=dest, digest=img.digest, source=source,
                        arch=img.arch, size=dest.stat().st_size)
        cache.store(root, key, image)
        ui.info(f"db image {ref} built in {time.monotonic() - t0:.0f} s: {dest} "
                f"({image.size / 1e6:.0f} MB)")
        return image
    finally:
        shutil.rmtree(work, ignore_errors=True)
