"""What "the database is installed and enabled" means per datastore, for the
native style (the database from a distribution or vendor package), and what
docker means for the container style. The package and service names of the
recipes table (recipes/databases.yaml, what `imagekit make` installs) are
added to the patterns below, which also cover images made elsewhere."""
from __future__ import annotations

import re
from dataclasses import dataclass

from imagekit.guest.facts import Package


@dataclass(frozen=True)
class Runtime:
    name: str
    packages: tuple[str, ...]      # regexes (full match) of the server package names
    services: tuple[str, ...]      # regexes (full match) of systemd unit names


NATIVE: dict[str, Runtime] = {
    "mysql": Runtime("mysql", (r"mysql-server(-[\d.]+)?", r"mysql-community-server",
                               r"percona-server-server(-[\d.]+)?"),
                     (r"mysql\.service", r"mysqld\.service")),
    "mariadb": Runtime("mariadb", (r"mariadb-server(-[\d.]+)?",),
                       (r"mariadb\.service", r"mysql\.service", r"mysqld\.service")),
    "percona": Runtime("percona", (r"percona-server-server(-[\d.]+)?",),
                       (r"mysql\.service", r"mysqld\.service")),
    "postgresql": Runtime("postgresql", (r"postgresql-\d+", r"postgresql"),
                          (r"postgresql\.service", r"postgresql@.+\.service")),
    "redis": Runtime("redis", (r"redis-server",), (r"redis-server\.service", r"redis\.service")),
    "mongodb": Runtime("mongodb", (r"mongodb-org-server", r"mongodb-server", r"mongodb"),
                       (r"mongod\.service", r"mongodb\.service")),
}
ALIASES = {"postgres": "postgresql", "pgsql": "postgresql", "mongo": "mongodb",
           "percona-server": "percona"}

DOCKER = Runtime("docker", (r"docker\.io", r"docker-ce", r"moby-engine", r"docker-engine"),
                 (r"docker\.service", r"docker\.socket"))


def _from_recipes(db: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(package names, service names) the recipes table knows for `db`."""
    from imagekit import recipes
    try:
        spec = recipes.table()["databases"].get(db) or {}
    except Exception:  # noqa: BLE001 - no recipes table: the patterns alone
        return (), ()
    if not spec:
        return (), ()
    pkgs, services = set(), {spec.get("service") or db}
    for source in recipes.SOURCES:
        for entries in (spec.get(source) or {}).values():
            for e in entries or ():
                if e.get("pkg"):
                    pkgs.add(str(e["pkg"]))
                if e.get("service"):
                    services.add(str(e["service"]))
    return tuple(sorted(pkgs)), tuple(sorted(services))


def native(db: str) -> Runtime | None:
    key = db.strip().lower()
    key = ALIASES.get(key, key)
    pkgs, services = _from_recipes(key)
    base = NATIVE.get(key)
    if base is None and not pkgs:
        return None
    return Runtime(key,
                   (base.packages if base else ()) + tuple(re.escape(p) for p in pkgs),
                   (base.services if base else ()) +
                   tuple(rf"{re.escape(s)}(@.+)?\.service" for s in services))


def installed(runtime: Runtime, pkgs: tuple[Package, ...] | list[Package]) -> list[Package]:
    pats = [re.compile(p) for p in runtime.packages]
    return [p for p in pkgs if any(r.fullmatch(p.name) for r in pats)]


def enabled(runtime: Runtime, units: tuple[str, ...] | list[str]) -> list[str]:
    pats = [re.compile(p) for p in runtime.services]
    return [u for u in units if any(r.fullmatch(u) for r in pats)]


def known() -> tuple[str, ...]:
    from imagekit import recipes
    try:
        names = set(recipes.databases())
    except Exception:  # noqa: BLE001 - no recipes table
        names = set()
    return tuple(sorted(names | set(NATIVE)))


def any_native(pkgs: tuple[Package, ...] | list[Package]) -> list[tuple[str, Package]]:
    out = []
    for name in known():
        rt = native(name)
        for p in installed(rt, pkgs) if rt else ():
            out.append((name, p))
    return out


def version_matches(pkg: Package, wanted: str) -> bool:
    """'15' matches postgresql-15 and 15.14-0+deb12u1; '10.11' matches
    1:10.11.14-0+deb12u2; '8.0' matches mysql-server-8.0."""
    w = wanted.strip()
    if re.search(rf"-{re.escape(w)}$", pkg.name):
        return True
    ver = pkg.version.split(":", 1)[-1]
    return ver == w or bool(re.match(rf"{re.escape(w)}[.+~-]", ver))
