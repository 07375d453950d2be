"""The database recipes: database x release x source -> what is installed and
what is registered with Trove (data: recipes/databases.yaml).

`resolve()` turns a request (database, version, -c/-e, release, style, -p
package) into a frozen `Recipe`, with the original tool's rules: x.y.z is cut
to x.y, the match on x.y is exact, the first entry of a source is its
default, neither -c nor -e means the distro source, -c with -e is refused,
and a miss prints the supported table (`RecipeMiss.table`) and fails.

Given a trove release, the style follows what its guest agent runs
(imagekit.releases: container for the docker-era agents, Victoria on) and a
container recipe names the agent's default docker image tagged with the
datastore version (`postgres:15`); the container default of a distribution
release is the version it can build from its own packages (`distro_build`)."""
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
    docker_image: str | None = None  # container style: the image ref the agent runs, "postgres:15"
    user_package: UserPackage | None = None
    note: str | None = None
    python: str = ""
    requested_version: str | None = field(default=None, compare=False)
    manager: str = ""               # the agent's datastore_manager (= db)
    runtime: str = "native"         # how the agent runs it: native | docker
    trove_release: str | None = None  # the series the style was resolved for (None: not given)
    db_image_name: str | None = None  # container: the agent's [<manager>] docker_image, "postgres"
    distro_build: str | None = None   # container: the distro package the image is built from

    @property
    def db_image_ref(self) -> str | None:
        """The image the agent starts: <docker_image>:<datastore version>."""
        return self.docker_image

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
            "manager": self.manager or self.db, "runtime": self.runtime,
            "trove_release": self.trove_release, "db_image_name": self.db_image_name,
            "distro_build": self.distro_build,
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
        entries = list(spec.get("container") or [])
        # the release's distro-buildable version first: it is the default
        entries.sort(key=lambda e: release not in (e.get("distro_build") or {}))
        return entries
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
        entries = spec.get("container") or []
        built_for = {r for e in entries for r in (e.get("distro_build") or {})}
        for i, e in enumerate(entries):
            built = e.get("distro_build") or {}
            note = ("; ".join(f"default for {r} (built from {p})" for r, p in built.items())
                    if built else "registry pull")
            if i == 0:
                note = ("default for other releases; " if built_for else "default; ") + note
            rows.append((name, "any", "container", str(e["version"]),
                         f"{_image_name(name, e, None)}:{e['version']}", note))
    return rows


def _image_name(db: str, entry: dict[str, Any], trove_release: str | None) -> str:
    """The recipe's image name, else the agent's [<db>] docker_image default of
    the release (the default series when none is given)."""
    if entry.get("image"):
        return str(entry["image"]).split(":")[0]
    from imagekit import releases
    info = releases.release_datastores(trove_release)
    if not info.docker_image(db):
        info = releases.release_datastores(None)
    return info.docker_image(db) or db


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


def check_agent_runs(db: str, style: str | None, trove_release: str | None,
                     release: str | None = None) -> None:
    """Refuse (RecipeMiss with the release x datastore table) what the guest
    agent of `trove_release` cannot run: a datastore it has no manager for, a
    native image for an agent that runs databases only in docker (or a
    container image for a native one), an image Python its package refuses."""
    from imagekit import releases
    info = releases.release_datastores(trove_release)
    tbl = releases.datastore_table_text()
    if not info.has_manager(db):
        with_it = [i.series for i in releases.all_release_datastores() if i.has_manager(db)]
        raise RecipeMiss(
            f"the {info.series} guest agent has no {db} manager (it runs "
            f"{', '.join(info.managers)}); an instance would never start",
            (f"choose another database, or an agent release that has one "
             f"(--trove-release {with_it[-1]} or older)") if with_it else
            "choose another database", tbl)
    def newest(runtime: str) -> str:
        pinned = [i.series for i in releases.all_release_datastores()
                  if i.runtime == runtime and releases.lookup(i.series).pin]
        if pinned:
            return f"--trove-release {pinned[-1]}"
        return ("an agent older than Victoria (ussuri or older), none of which is pinned in "
                "recipes/trove-releases.yaml yet")
    runs = "docker" if style == "container" else "native"
    if style and runs != info.runtime:
        if info.runtime == "docker":
            raise RecipeMiss(
                f"the {info.series} guest agent runs {db} only as a docker container; "
                "--style native cannot work",
                f"drop --style native (container is the default for {info.series}), or choose "
                f"an agent release that runs databases natively: {newest('native')}",
                tbl)
        raise RecipeMiss(
            f"the {info.series} guest agent runs {db} from packages in the image, not in "
            "docker; --style container cannot work",
            f"drop --style container (native is the default for {info.series}), or choose a "
            f"docker-era agent: {newest('docker')}", tbl)
    python = str(release_info(release or default_release()).get("python") or "")
    if python and info.python_requires and info.python_ok(python) is False:
        raise RecipeMiss(
            f"trove {info.trove_version} ({info.series}) needs Python {info.python_requires}; "
            f"{release or default_release()} has Python {python}",
            "choose a newer distribution release (--release) or an older --trove-release", tbl)


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
            package: str | Path | None = None, trove_release: str | None = None) -> Recipe:
    """The recipe for a request, or RecipeMiss / UsageError. With
    `trove_release` the default style is what that release's agent runs."""
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
    agent = None
    if trove_release:
        from imagekit import releases
        agent = releases.release_datastores(trove_release)
        style = style or ("container" if agent.runtime == "docker" else "native")
    style = style or data.get("default_style", "native")
    if style not in data.get("styles", ("native",)):
        raise UsageError(f"unknown image style '{style}'", "use native or container")
    source = "enterprise" if enterprise else "community" if community else "distro"
    if style == "container" and source != "distro":
        raise UsageError("-c/-e select where a natively installed database comes from; "
                         "container images run the database's docker image",
                         "drop -c/-e, or use --style native")
    if package is not None and style == "container":
        raise UsageError("-p installs a database package in the image; a container-style image "
                         "runs the database's docker image instead",
                         "drop -p, or build a native image (--style native with an agent "
                         "release that runs databases natively)")
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
                      python=str(rel.get("python", "")), requested_version=version,
                      manager=db, runtime="docker" if style == "container" else "native",
                      trove_release=agent.series if agent else None)

    if entry is None:
        raise _miss(db, release, source, style, wanted)

    if style == "container":
        name = _image_name(db, entry, agent.series if agent else None)
        built = (entry.get("distro_build") or {}).get(release)
        note = entry.get("note") or (f"image built from {release}'s {built}" if built
                                     else "image pulled from a registry")
        return Recipe(db=db, version=str(entry["version"]), source="distro", release=release,
                      distro=rel["distro"], style="container", pkg="docker.io",
                      install=("docker.io",), service="docker",
                      docker_image=f"{name}:{entry['version']}",
                      note=note, python=str(rel.get("python", "")),
                      requested_version=version, manager=db, runtime="docker",
                      trove_release=agent.series if agent else None, db_image_name=name,
                      distro_build=built)

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
                  python=str(rel.get("python", "")), requested_version=version,
                  manager=db, runtime="native", trove_release=agent.series if agent else None)
