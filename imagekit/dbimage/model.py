"""The typed results and inputs of imagekit.dbimage: `DbImage` (an image
archive ready for `docker load`) and `Recipe` (what one database's image is
made of, read from recipes/<db>.yaml)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from imagekit.errors import DbImageError

# Debian architecture names -> OCI/docker (GOARCH) names.
OCI_ARCH = {"amd64": "amd64", "ppc64el": "ppc64le", "arm64": "arm64", "s390x": "s390x",
            "armhf": "arm", "i386": "386"}


def oci_arch(debian_arch: str) -> str:
    """The OCI architecture name of a Debian (or already OCI) architecture name."""
    if debian_arch in OCI_ARCH:
        return OCI_ARCH[debian_arch]
    if debian_arch in OCI_ARCH.values():
        return debian_arch
    raise DbImageError(f"unknown architecture '{debian_arch}'",
                       "use a Debian architecture name: " + ", ".join(OCI_ARCH))


@dataclass(frozen=True)
class DbImage:
    """A database container image as a docker-archive tarball.

    ref: the tag inside the archive ("postgres:15"); archive: the file;
    digest: the image ID (sha256 of its config, what `docker images` shows);
    source: where it came from; arch: OCI architecture; size: bytes."""

    ref: str
    archive: Path
    digest: str
    source: str
    arch: str
    size: int

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["archive"] = str(self.archive)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DbImage:
        return cls(ref=d["ref"], archive=Path(d["archive"]), digest=d["digest"],
                   source=d["source"], arch=d["arch"], size=int(d["size"]))


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    workdir: str | None = None
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str | None = None


@dataclass(frozen=True)
class Recipe:
    """One database's distro image, for one version (placeholders resolved)."""

    db: str
    version: str
    image_name: str
    releases: tuple[str, ...]
    packages: tuple[str, ...]
    version_package: str
    pre_install: str
    post_install: str
    files: tuple[tuple[str, str, str], ...]   # (recipe file, path in image, mode)
    config: ImageConfig
    healthcheck: tuple[str, ...] = field(default=())


RECIPES = resources.files("imagekit.dbimage") / "recipes"


def recipe_text(name: str) -> str:
    """A file of the recipes folder (package data)."""
    return (RECIPES / name).read_text()


def known_dbs() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in RECIPES.iterdir()
                  if p.name.endswith(".yaml"))


def _sub(value: Any, version: str) -> Any:
    if isinstance(value, str):
        return value.replace("{version}", version)
    if isinstance(value, list):
        return [_sub(v, version) for v in value]
    if isinstance(value, dict):
        return {k: _sub(v, version) for k, v in value.items()}
    return value


def load_recipe(db: str, version: str) -> Recipe:
    """The recipe of `db` at `version`; DbImageError when there is none."""
    if db not in known_dbs():
        hint = ("Debian has no MySQL server: use the mariadb datastore, or pass the image "
                "with --db-image FILE" if db == "mysql" else
                "known: " + ", ".join(known_dbs()) + "; or pass the image with --db-image FILE")
        raise DbImageError(f"no distro image recipe for database '{db}'", hint)
    raw = yaml.safe_load(recipe_text(f"{db}.yaml"))
    versions = {str(k): v or {} for k, v in (raw.get("versions") or {}).items()}
    if version not in versions:
        raise DbImageError(f"no distro image recipe for {db} {version}",
                           f"versions with one: {', '.join(versions)}; or pass the image "
                           "with --db-image FILE")
    raw = _sub({**raw, **versions[version]}, version)
    cfg = raw.get("config") or {}
    files = [(raw["entrypoint_script"], "/usr/local/bin/docker-entrypoint.sh", "0755")]
    for f in raw.get("files") or []:
        files.append((f["source"], f["path"], str(f.get("mode", "0644"))))
    return Recipe(
        db=db, version=version, image_name=raw["image_name"],
        releases=tuple(raw.get("releases") or ()),
        packages=tuple(raw["packages"]), version_package=raw["version_package"],
        pre_install=raw.get("pre_install") or "", post_install=raw.get("post_install") or "",
        files=tuple(files),
        config=ImageConfig(
            entrypoint=tuple(cfg.get("entrypoint") or ()), cmd=tuple(cfg.get("cmd") or ()),
            env=tuple((k, str(v)) for k, v in (cfg.get("env") or {}).items()),
            user=cfg.get("user"), workdir=cfg.get("workdir"),
            exposed_ports=tuple(cfg.get("exposed_ports") or ()),
            volumes=tuple(cfg.get("volumes") or ()), stop_signal=cfg.get("stop_signal")),
        healthcheck=tuple(raw.get("healthcheck") or ()))


def dumps(image: DbImage) -> str:
    return json.dumps(image.to_json(), indent=2, sort_keys=True)
