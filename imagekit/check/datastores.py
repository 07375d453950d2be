"""What "the database is installed and enabled" means per datastore, for the
native style (the database from a distribution or vendor package), and what
docker means for the container style."""
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
                 (r"docker\.service",))


def native(db: str) -> Runtime | None:
    key = db.strip().lower()
    return NATIVE.get(ALIASES.get(key, key))


def installed(runtime: Runtime, pkgs: tuple[Package, ...] | list[Package]) -> list[Package]:
    pats = [re.compile(p) for p in runtime.packages]
    return [p for p in pkgs if any(r.fullmatch(p.name) for r in pats)]


def enabled(runtime: Runtime, units: tuple[str, ...] | list[str]) -> list[str]:
    pats = [re.compile(p) for p in runtime.services]
    return [u for u in units if any(r.fullmatch(u) for r in pats)]


def any_native(pkgs: tuple[Package, ...] | list[Package]) -> list[tuple[str, Package]]:
    out = []
    for name, rt in NATIVE.items():
        for p in installed(rt, pkgs):
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
