"""A docker-archive written straight into a guest's docker store
(/var/lib/docker, overlay2 driver), as `docker load` would leave it, so that
the image is in docker's store at the first boot without a load.

Why: under emulation (TCG) a first-boot `docker load` of a 200 MB database
image takes minutes; here the layers are unpacked once, offline, through the
libguestfs appliance. What is written (docker 20.10's layout):

    image/overlay2/imagedb/content/sha256/<image id>     the config, byte for byte
    image/overlay2/layerdb/sha256/<chain id>/            diff, size, cache-id[, parent]
    overlay2/<cache id>/diff/                            the layer's files
    overlay2/<cache id>/link, overlay2/l/<short id>      the driver's short name
    overlay2/<cache id>/lower, work/                     for layers above the first
    image/overlay2/repositories.json                     the tag

A layer already in the store (same chain id) is kept. docker never reads
tar-split data unless an image is saved or pushed; without it `docker save`
of this image fails, nothing else does. The loader unit stays as the
fallback: it loads the archive when docker does not list the image."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import string
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagekit.errors import GuestError

ROOT = "/var/lib/docker"
IMAGE_ROOT = f"{ROOT}/image/overlay2"
DRIVER_ROOT = f"{ROOT}/overlay2"


@dataclass(frozen=True)
class Layer:
    diff_id: str            # sha256:<hex> of the uncompressed layer tar
    member: str             # its name in the archive
    size: int               # bytes of its files


@dataclass(frozen=True)
class ArchiveImage:
    ref: str
    image_id: str           # sha256:<hex> of the config
    config: bytes
    layers: tuple[Layer, ...]

    def chain_ids(self) -> list[str]:
        out: list[str] = []
        for layer in self.layers:
            if not out:
                out.append(layer.diff_id)
            else:
                out.append("sha256:" + hashlib.sha256(
                    f"{out[-1]} {layer.diff_id}".encode()).hexdigest())
        return out


def read_archive(path: Path, ref: str) -> ArchiveImage:
    """The image tagged `ref` in a docker-archive."""
    with tarfile.open(path) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))     # type: ignore[arg-type]
        entry = next((m for m in manifest if ref in (m.get("RepoTags") or [])), None)
        if entry is None:
            raise GuestError(f"{path.name} has no image tagged {ref}")
        config = tf.extractfile(entry["Config"]).read()            # type: ignore[union-attr]
        cfg = json.loads(config)
        diff_ids = cfg["rootfs"]["diff_ids"]
        if len(diff_ids) != len(entry["Layers"]):
            raise GuestError(f"{path.name}: {len(entry['Layers'])} layers but "
                             f"{len(diff_ids)} diff ids in its config")
        layers = []
        for diff_id, member in zip(diff_ids, entry["Layers"], strict=True):
            inner = tarfile.open(fileobj=tf.extractfile(_resolve(tf, member)))
            size = sum(m.size for m in inner if m.isfile())
            layers.append(Layer(diff_id, member, size))
    return ArchiveImage(ref, "sha256:" + hashlib.sha256(config).hexdigest(), config,
                        tuple(layers))


def _resolve(tf: tarfile.TarFile, member: str) -> tarfile.TarInfo:
    info = tf.getmember(member)
    if info.issym():
        target = os.path.normpath(os.path.join(os.path.dirname(member), info.linkname))
        info = tf.getmember(target)
    return info


def _short_id() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(26))


def write(ctx: Any, archive: Path, img: ArchiveImage) -> list[str]:
    """Put `img` into the guest's docker store; returns what was written."""
    g = ctx.g
    done: list[str] = []
    for d in (ROOT, f"{ROOT}/image", IMAGE_ROOT, f"{IMAGE_ROOT}/imagedb/content/sha256",
              f"{IMAGE_ROOT}/imagedb/metadata/sha256", f"{IMAGE_ROOT}/layerdb/sha256",
              DRIVER_ROOT, f"{DRIVER_ROOT}/l"):
        ctx.ensure_dir(d, mode=0o710 if d == ROOT else 0o700 if d != f"{DRIVER_ROOT}/l" else 0o700)
    shorts: list[str] = []
    chains = img.chain_ids()
    with tarfile.open(archive) as tf:
        for i, (layer, chain) in enumerate(zip(img.layers, chains, strict=True)):
            ldir = f"{IMAGE_ROOT}/layerdb/sha256/{chain.split(':', 1)[1]}"
            if g.is_dir(ldir) and g.is_file(f"{ldir}/cache-id"):
                cache_id = g.cat(f"{ldir}/cache-id").strip()
                link = f"{DRIVER_ROOT}/{cache_id}/link"
                if g.is_dir(f"{DRIVER_ROOT}/{cache_id}/diff") and g.is_file(link):
                    shorts.append(g.cat(link).strip())
                    continue
            cache_id = secrets.token_hex(32)
            short = _short_id()
            base = f"{DRIVER_ROOT}/{cache_id}"
            g.mkdir(base)
            g.chmod(0o710, base)
            g.mkdir(f"{base}/diff")
            g.chmod(0o755, f"{base}/diff")
            with tempfile.NamedTemporaryFile(prefix="imagekit-layer-", suffix=".tar") as tmp:
                src = tf.extractfile(_resolve(tf, layer.member))
                assert src is not None
                while chunk := src.read(1 << 20):
                    tmp.write(chunk)
                tmp.flush()
                g.tar_in(tmp.name, f"{base}/diff", xattrs=True)
            g.write(f"{base}/link", short.encode())
            g.ln_s(f"../{cache_id}/diff", f"{DRIVER_ROOT}/l/{short}")
            if shorts:
                g.write(f"{base}/lower", ":".join(f"l/{s}" for s in reversed(shorts)).encode())
                g.mkdir(f"{base}/work")
                g.chmod(0o700, f"{base}/work")
            if g.is_dir(ldir):
                g.rm_rf(ldir)
            g.mkdir(ldir)
            g.write(f"{ldir}/diff", layer.diff_id.encode())
            g.write(f"{ldir}/size", str(layer.size).encode())
            g.write(f"{ldir}/cache-id", cache_id.encode())
            if i > 0:
                g.write(f"{ldir}/parent", chains[i - 1].encode())
            shorts.append(short)
            done.append(f"layer {layer.diff_id[:19]} ({layer.size} bytes) -> {base}")
    hexid = img.image_id.split(":", 1)[1]
    g.write(f"{IMAGE_ROOT}/imagedb/content/sha256/{hexid}", img.config)
    g.chmod(0o600, f"{IMAGE_ROOT}/imagedb/content/sha256/{hexid}")
    repo_file = f"{IMAGE_ROOT}/repositories.json"
    repos: dict[str, Any] = {"Repositories": {}}
    if g.is_file(repo_file):
        try:
            repos = json.loads(g.cat(repo_file)) or repos
        except ValueError:
            pass
    name = img.ref.rsplit(":", 1)[0]
    # docker keys repositories and tags by their familiar names (postgres, postgres:15)
    repos.setdefault("Repositories", {}).setdefault(name, {})[img.ref] = img.image_id
    g.write(repo_file, json.dumps(repos).encode())
    g.chmod(0o600, repo_file)
    done.append(f"{img.ref} = {img.image_id[:19]}")
    return done
