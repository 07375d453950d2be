"""The database recipes: database x release x source -> what is installed and
what is registered with Trove (data: recipes/databases.yaml).

`resolve()` turns a request (database, version, -c/-e, release, style, -p
package) into a frozen `Recipe`, with the original tool's rules: x.y.z is cut
to x.y, the match on x.y is exact, the first entry of a source is its
default, neither -c nor -e means the distro source, -c with -e is refused,
and a miss prints the supported table (`RecipeMiss.table`) and fails."""
from __future__ import annotations

import functools
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from imagekit import paths
from imagekit.errors import RecipeError, UsageError

SOURCES = ("distro", "community", "enterprise")
SUFFIX = {"distro": "", "community": "c", "enterprise": "e"}
TAR_SUFFIXES = (".tar", ".tgz", ".tar.gz", ".bz2", ".tar.bz2", ".tbz2")


# -- the table ----------------------------------------------------------------
@functools.cache
def table(path: str | None = None) -> dict[str, Any]:
    p = Path(path) if path else paths.recipes_dir() / "databases.yaml"
    data = yaml.safe_load(p.read_text())
    if not isinstance(data, dict) or "databases" not in data:
        raise RecipeError(f"{p}: not a recipes table (no 'databases' key)")
    return data


def databases() -> tuple[str, ...]:
    return tuple(sorted(table()["databases"]))


def release_names() -> tuple[str, ...]:
    return tuple(table()["releases"])


def default_release() -> str:
    return str(table()["default_release"])


def release_info(release: str) -> dict[str, Any]:
    rels = table()["releases"]
    if release not in rels:
        raise UsageError(f"unknown release '{release}'",
                         f"use one of: {', '.join(rels)}")
    return dict(rels[release])


# -- resolved recipe ----------------------------------------------------------
@dataclass(frozen=True)
class AptRepo:
    url: str
    suite: str
    components: tuple[str, ...]
    key_url: str | None = None
    key_fingerprint: str | None = None

    def line(self) -> str:
        return f"deb {self.url} {self.suite} {' '.join(self.components)}"


@dataclass(frozen=True)
class SourceBuild:
    url: str
    build: str                      # script name in elements/imagekit-database/source-builds/


@dataclass(frozen=True)
class UserPackage:
    path: Path
    kind: str                       # "deb" or "tar"


@dataclass(frozen=True)
class Recipe:
    db: str
    version: str                    # x.y as in the table (the Trove datastore version name)
    source: str                     # distro / community / enterprise
    release: str                    # bookworm, jammy, noble, xenial
    distro: str                     # debian / ubuntu
    style: str = "native"           # native / container
    pkg: str = ""                   # registered with Trove ("packages")
    install: tuple[str, ...] = ()   # apt packages
    repo: AptRepo | None = None
    source_build: SourceBuild | None = None
    service: str = ""
    tuning: tuple[str, ...] = ()
    docker_image: str | None = None
    user_package: UserPackage | None = None
    note: str | None = None
    python: str = ""
    requested_version: str | None = field(default=None, compare=False)

    @property
    def suffix(self) -> str:
        return SUFFIX[self.source]

    @property
    def image_base(self) -> str:
        """<distro>_<release>_<db>_<x_y>[_c|_e] (+ _container for that style)."""
        parts = [self.distro, self.release, self.db, self.version]
        if self.suffix:
            parts.append(self.suffix)
        if self.style == "container":
            parts.append("container")
        return re.sub(r"[.\-]", "_", "_".join(parts))

    @property
    def install_kind(self) -> str:
        if self.style == "container":
            return "container"
        if self.user_package:
            return self.user_package.kind
        if self.source_build:
            return "source"
        return "repo" if self.repo else "distro"

    def as_dict(self) -> dict[str, Any]:
        return {
            "db": self.db, "version": self.version, "source": self.source,
            "release": self.release, "distro": self.distro, "style": self.style,
            "pkg": self.pkg, "install": list(self.install), "install_kind": self.install_kind,
            "repo": None if not self.repo else {
                "url": self.repo.url, "suite": self.repo.suite,
                "components": list(self.repo.components), "key_url": self.repo.key_url,
                "key_fingerprint": self.repo.key_fingerprint},
            "source_build": None if not self.source_build else {
                "url": self.source_build.url, "build": self.source_build.build},
            "service": self.service, "tuning": list(self.tuning),
            "docker_image": self.docker_image,
            "user_package": None if not self.user_package else {
                "file": self.user_package.path.name, "kind": self.user_package.kind},
            "image_base": self.image_base,
        }


# -- the rules ----------------------------------------------------------------
def cut_version(version: str) -> str:
    """'1.2.7' -> '1.2'; one or two components are kept as given."""
    v = version.strip()
    parts = v.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else v


def _matches(entry_version: str, wanted: str) -> bool:
    if entry_version == wanted:
        return True
    # One-component upstream majors (PostgreSQL 15): "15.4" asks for 15.
    return "." not in entry_version and wanted.split(".")[0] == entry_version


def _entries(db: str, source: str, release: str, style: str) -> list[dict[str, Any]]:
    spec = table()["databases"][db]
    if style == "container":
        return list(spec.get("container") or [])
    by_release = spec.get(source) or {}
    return list(by_release.get(release) or [])


class RecipeMiss(RecipeError):
    """No table entry for the request; `table` is the supported table."""

    def __init__(self, message: str, hint: str | None, table_text: str) -> None:
        super().__init__(message, hint)
        self.table = table_text


def supported_rows(db: str | None = None) -> list[tuple[str, str, str, str, str, str]]:
    """(db, release, source, version, pkg, note) for every entry, in table order;
    the first row of each (db, release, source) group is its default."""
    rows = []
    dbs = table()["databases"]
    for name in ([db] if db else sorted(dbs)):
        spec = dbs[name]
        for release in release_names():
            for source in SOURCES:
                for i, e in enumerate((spec.get(source) or {}).get(release) or []):
                    note = e.get("note") or ""
                    if i == 0:
                        note = ("default; " + note) if note else "default"
                    rows.append((name, release, source, str(e["version"]), e.get("pkg", ""), note))
        for i, e in enumerate(spec.get("container") or []):
            rows.append((name, "any", "container", str(e["version"]), e.get("image", ""),
                         "default" if i == 0 else ""))
    return rows


def table_text(db: str | None = None) -> str:
    rows = [("DATABASE", "RELEASE", "SOURCE", "VERSION", "PACKAGE/IMAGE", "NOTE")]
    rows += supported_rows(db)
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _miss(db: str, release: str, source: str, style: str, version: str | None) -> RecipeMiss:
    what = f"{db}" + (f" (version {version})" if version else "")
    if style == "container":
        msg = f"{what} is not supported as a container image by this tool"
    elif source == "distro":
        msg = f"{what} is not supported for {release} from the distribution by this tool"
    else:
        msg = f"{what} is not supported for {release} in the {source} edition by this tool"
    return RecipeMiss(msg, "choose a version, database source (-c/-e) or release from the "
                           "table above", table_text(db))


def check_user_package(path: str | Path) -> UserPackage:
    """-p: a .deb (checked to be a Debian package) or a tar/tgz/bz2 whose
    root holds setup.sh."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(f"-p {path}: no such file")
    name = p.name.lower()
    if name.endswith(".deb"):
        with open(p, "rb") as f:
            head = f.read(72)
        if not (head.startswith(b"!<arch>\n") and b"debian-binary" in head):
            raise UsageError(f"-p {path}: not a Debian package (.deb)",
                             "pass a .deb built with dpkg-deb, or a tar/tgz/bz2 holding setup.sh")
        return UserPackage(p.resolve(), "deb")
    if name.endswith(TAR_SUFFIXES):
        try:
            with tarfile.open(p) as tf:
                names = {m.name.removeprefix("./") for m in tf.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError) as exc:
            raise UsageError(f"-p {path}: not a readable tar archive ({exc})") from exc
        if "setup.sh" not in names:
            raise UsageError(f"-p {path}: the archive has no setup.sh at its root",
                             "put an install script named setup.sh in the archive's top folder "
                             "(it runs inside the image build)")
        return UserPackage(p.resolve(), "tar")
    raise UsageError(f"-p {path}: unsupported package type",
                     "use a .deb, or a .tar, .tgz (.tar.gz) or .bz2 (.tar.bz2) archive with setup.sh")


def resolve(db: str, version: str | None = None, *, community: bool = False,
            enterprise: bool = False, release: str | None = None, style: str | None = None,
            package: str | Path | None = None) -> Recipe:
    """The recipe for a request, or RecipeMiss / UsageError."""
    data = table()
    if not db:
        raise UsageError("-d <database> must be specified",
                         f"one of: {', '.join(databases())}")
    if db not in data["databases"]:
        raise UsageError(f"unsupported database '{db}'",
                         f"use one of: {', '.join(databases())}")
    if community and enterprise:
        raise UsageError("-c (community) and -e (enterprise) cannot be used together")
    release = release or default_release()
    rel = release_info(release)
    style = style or data.get("default_style", "native")
    if style not in data.get("styles", ("native",)):
        raise UsageError(f"unknown image style '{style}'", "use native or container")
    source = "enterprise" if enterprise else "community" if community else "distro"
    if style == "container" and source != "distro":
        raise UsageError("-c/-e select where a natively installed database comes from; "
                         "container images run the database's docker image",
                         "drop -c/-e, or use --style native")
    if package is not None and not version:
        raise UsageError("-p <package> needs -v <version>",
                         "give the version of the database in the package, e.g. -v 15")
    wanted = cut_version(version) if version else None
    user_pkg = check_user_package(package) if package is not None else None
    spec = data["databases"][db]

    entries = _entries(db, source, release, style)
    entry = None
    if wanted is None:
        entry = entries[0] if entries else None
    else:
        entry = next((e for e in entries if _matches(str(e["version"]), wanted)), None)

    if user_pkg is not None:
        # The user's package replaces the table's install step; the table
        # still names the service and the registered package when it knows
        # the version.
        base = entry or {}
        pkg = base.get("pkg") or spec.get("substitute_pkg", "")
        return Recipe(db=db, version=str(base.get("version", wanted)), source=source,
                      release=release, distro=rel["distro"], style=style, pkg=pkg,
                      install=(), repo=None, source_build=None,
                      service=base.get("service", spec.get("service", db)),
                      tuning=tuple(spec.get("tuning") or ()), user_package=user_pkg,
                      python=str(rel.get("python", "")), requested_version=version)

    if entry is None:
        raise _miss(db, release, source, style, wanted)

    if style == "container":
        return Recipe(db=db, version=str(entry["version"]), source="distro", release=release,
                      distro=rel["distro"], style="container", pkg="docker.io",
                      install=("docker.io",), service="docker", docker_image=entry["image"],
                      note=entry.get("note"), python=str(rel.get("python", "")),
                      requested_version=version)

    ctx = {"release": release, "distro": rel["distro"], "version": str(entry["version"])}
    repo = None
    if entry.get("repo"):
        r = entry["repo"]
        repo = AptRepo(url=r["url"].format(**ctx), suite=r["suite"].format(**ctx),
                       components=tuple(c.format(**ctx) for c in r.get("components", ["main"])),
                       key_url=r["key_url"].format(**ctx) if r.get("key_url") else None,
                       key_fingerprint=r.get("key_fingerprint"))
    src = None
    if entry.get("source"):
        src = SourceBuild(url=entry["source"]["url"], build=entry["source"]["build"])
    install = tuple(entry.get("install") or ([] if src else [entry["pkg"]]))
    return Recipe(db=db, version=str(entry["version"]), source=source, release=release,
                  distro=rel["distro"], style="native", pkg=entry["pkg"], install=install,
                  repo=repo, source_build=src,
                  service=entry.get("service", spec.get("service", db)),
                  tuning=tuple(spec.get("tuning") or ()), note=entry.get("note"),
                  python=str(rel.get("python", "")), requested_version=version)
