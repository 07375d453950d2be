"""Real diskimage-builder images for the tests, built once and cached.

`base_image()` is a Debian bookworm `vm debian-minimal` image (MBR, grub,
kernel) with openssh-server and cloud-init (datasources ConfigDrive,
OpenStack), built with the same DIB wrapper and environment as
`imagekit make` (mirrors from the machine's apt sources, shared debootstrap
and apt caches). It is cached in ~/.cache/imagekit/test-images under the hash
of its inputs: the element list, the build variables, the DIB version and
this spec's version. Building takes ~3 min on an idle 2-core machine; a hit
costs nothing. Never modify the returned file: copy it first.

Concurrent test sessions (several engineers, one machine) are safe: the
build holds a lock on its cache entry, and DIB builds on the host are
serialized (imagekit.build.dib.build_lock)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from imagekit import paths
from imagekit.build import dib, environment

# Bump when the meaning of a spec changes without its fields changing.
SPEC_VERSION = 1


def cache_dir() -> Path:
    d = paths.cache_dir() / "test-images"
    d.mkdir(parents=True, exist_ok=True)
    return d


def dib_version() -> str:
    from importlib.metadata import version
    try:
        return version("diskimage-builder")
    except Exception:  # noqa: BLE001 - not installed: the build will say so
        return "unknown"


@dataclass(frozen=True)
class DibSpec:
    name: str
    elements: tuple[str, ...]
    distro: str = "debian"
    release: str = "bookworm"
    arch: str = "amd64"
    env: tuple[tuple[str, str], ...] = ()
    compress: bool = False          # tests copy images around: skip qcow2 compression

    def key(self) -> str:
        h = hashlib.sha256(json.dumps({
            "spec": SPEC_VERSION, "name": self.name, "elements": self.elements,
            "distro": self.distro, "release": self.release, "arch": self.arch,
            "env": sorted(self.env), "compress": self.compress, "dib": dib_version(),
        }, sort_keys=True).encode())
        return h.hexdigest()[:16]

    def path(self) -> Path:
        return cache_dir() / f"dib-{self.name}-{self.arch}-{self.key()}.qcow2"


BASE = DibSpec(
    name="base",
    elements=("vm", "debian-minimal", "openssh-server", "cloud-init", "cloud-init-datasources"),
    env=(("DIB_RELEASE", "bookworm"), ("DIB_CLOUD_INIT_DATASOURCES", "ConfigDrive, OpenStack")),
)


def build(spec: DibSpec) -> Path:
    """The cached image of `spec`, built first when missing."""
    target = spec.path()
    if target.is_file():
        return target
    lock = target.with_suffix(".lock")
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if target.is_file():            # another session built it meanwhile
            return target
        work = target.parent / f".{target.stem}.building-{os.getpid()}"
        job = dib.DibJob(elements=spec.elements, output=str(work), arch=spec.arch,
                         compress=spec.compress,
                         env=tuple(sorted(environment.build_env(spec.distro, dict(spec.env)).items())))
        log = target.with_suffix(".log")
        try:
            res = dib.run_local(job, log)
            if res.returncode != 0:
                raise dib.failure(f"test image build {spec.name}", log)
            os.replace(job.image_path, target)
        finally:
            for leftover in target.parent.glob(f"{work.name}*"):
                if leftover.is_dir():
                    import shutil
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
    return target


def base_image() -> Path:
    """The real DIB Debian bookworm base image (see the module text)."""
    return build(BASE)


if __name__ == "__main__":       # python -m tests.dibimages: build (or find) the base image
    print(base_image())
