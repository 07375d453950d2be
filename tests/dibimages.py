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
import shutil
import subprocess
import sys
import tempfile
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
        ours = {e: _tree_hash(paths.elements_dir() / e) for e in self.elements
                if (paths.elements_dir() / e).is_dir()}
        h = hashlib.sha256(json.dumps({
            "spec": SPEC_VERSION, "name": self.name, "elements": self.elements, "ours": ours,
            "distro": self.distro, "release": self.release, "arch": self.arch,
            "env": sorted(self.env), "compress": self.compress, "dib": dib_version(),
        }, sort_keys=True).encode())
        return h.hexdigest()[:16]

    def path(self) -> Path:
        return cache_dir() / f"dib-{self.name}-{self.arch}-{self.key()}.qcow2"


BASE = DibSpec(
    name="base",
    elements=("vm", "debian-minimal", "openssh-server", "cloud-init", "cloud-init-datasources",
              "imagekit-initramfs-once"),
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
                         compress=spec.compress, elements_path=(str(paths.elements_dir()),),
                         env=tuple(sorted(environment.build_env(spec.distro, dict(spec.env)).items())))
        log = target.with_suffix(".log")
        tmp = target.parent / f".{target.stem}.tmp-{os.getpid()}"
        try:
            res = dib.run_local(job, log, tmp)
            if res.returncode != 0:
                raise dib.failure(f"test image build {spec.name}", log)
            os.replace(job.image_path, target)
        finally:
            dib.clean_local(tmp)
            _remove(target.parent.glob(f"{work.name}*"))
    return target


def _remove(paths_: object) -> None:
    for p in paths_:  # type: ignore[attr-defined]
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def base_image() -> Path:
    """The real DIB Debian bookworm base image (see the module text)."""
    return build(BASE)


# -- Trove guest images built by `imagekit make` ---------------------------------
def _tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(str(f.relative_to(folder)).encode())
            h.update(oct(f.stat().st_mode & 0o777).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def db_image_key(db: str) -> str:
    """The hash of what a `make -d DB` image is made of: the resolved recipe,
    the pinned trove, our elements, the DIB version."""
    import imagekit.dbimage
    import imagekit.engine
    import imagekit.engine.dockerstore
    from imagekit import recipes, releases
    recipe = recipes.resolve(db)
    pin = releases.lookup(releases.default_series()).pin
    h = hashlib.sha256(json.dumps({
        "spec": SPEC_VERSION, "recipe": recipe.as_dict(), "trove": pin, "dib": dib_version(),
        "elements": _tree_hash(paths.elements_dir()), "compress": False, "user": "ubuntu",
        # the post-build plan: the database image and the engine's files for it
        "dbimage": _tree_hash(Path(imagekit.dbimage.__file__).parent / "recipes"),
        "engine": _tree_hash(Path(imagekit.engine.__file__).parent / "data"),
        "dockerstore": hashlib.sha256(Path(imagekit.engine.dockerstore.__file__).read_bytes()
                                      + (Path(imagekit.engine.__file__).parent / "ops" /
                                         "dbimage.py").read_bytes()).hexdigest(),
        "builder": "ssh" if db == SSH_BUILT else "local",
    }, sort_keys=True).encode())
    return h.hexdigest()[:16]


def db_image_path(db: str) -> Path:
    from imagekit import recipes
    return cache_dir() / f"make-{recipes.resolve(db).image_base}-{db_image_key(db)}.qcow2"


# The one image built through the remote-builder path (ssh to an sshd on
# 127.0.0.1 that the build starts), whoever asks for it first.
SSH_BUILT = "postgresql"


def db_image(db: str) -> Path:
    """A Debian bookworm native guest image for `db` (distro source), built with
    the real `imagekit make -d DB -I --no-compress` and cached by
    `db_image_key`; `SSH_BUILT` is built on a builder reached over ssh (a
    private sshd on 127.0.0.1), the others on this host. Never modify the
    returned file: copy it first."""
    target = db_image_path(db)
    if target.is_file():
        return target
    with open(target.with_suffix(".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        if target.is_file():
            return target
        if db != SSH_BUILT:
            _make(db, target)
            return target
        from tests.build import sshd
        server = sshd.start(Path(tempfile.mkdtemp(prefix="imagekit-sshd-")))
        try:
            _make(db, target, builder=server.target, env=server.env())
        finally:
            sshd.stop(server)
            shutil.rmtree(server.key.parent, ignore_errors=True)
    return target


def _make(db: str, target: Path, builder: str | None = None, env: dict[str, str] | None = None) -> None:
    out = target.parent / f".{target.stem}.out-{os.getpid()}"
    out.mkdir()
    try:
        argv = [str(Path(sys.executable).parent / "imagekit"), "make", "-d", db, "-I",
                "--no-compress", "--output-dir", str(out)]
        if builder:
            argv += ["-i", builder]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600,
                              env={**os.environ, **(env or {})})
        built = list(out.glob("*.qcow2"))
        logs = list(out.glob("*.log"))
        if proc.returncode != 0 or len(built) != 1:
            raise RuntimeError(f"imagekit make -d {db} failed (exit {proc.returncode}):\n"
                               f"{proc.stderr[-3000:]}")
        if logs:
            os.replace(logs[0], target.with_suffix(".log"))
        os.replace(built[0], target)
    finally:
        shutil.rmtree(out, ignore_errors=True)

if __name__ == "__main__":       # python -m tests.dibimages: build (or find) the base image
    print(base_image())
