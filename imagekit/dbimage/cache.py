"""The cache of database image archives: <cache>/db-images/<key>/ holds the
archive and image.json (its DbImage). A key is the hash of everything the
image is made from; entries are written under temporary names and renamed;
one build per key at a time (an flock on <key>.lock)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from imagekit import paths
from imagekit.dbimage.model import DbImage


def default_root() -> Path:
    return paths.cache_dir() / "db-images"


def make_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def entry_dir(root: Path, key: str) -> Path:
    return root / key


@contextmanager
def locked(root: Path, key: str) -> Iterator[None]:
    """Hold the build lock of `key` (blocks while another process builds it)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{key}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def lookup(root: Path, key: str) -> DbImage | None:
    """The cached image of `key`, when complete (archive present, same size)."""
    meta = entry_dir(root, key) / "image.json"
    try:
        image = DbImage.from_json(json.loads(meta.read_text()))
    except (OSError, ValueError, KeyError):
        return None
    try:
        if image.archive.stat().st_size != image.size:
            return None
    except OSError:
        return None
    return image


def store(root: Path, key: str, image: DbImage) -> DbImage:
    """Record `image` (its archive already inside the entry folder) as the
    entry of `key`; image.json is written last, atomically."""
    d = entry_dir(root, key)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".image.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(image.to_json(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, d / "image.json")
    return image
