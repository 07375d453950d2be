"""Trove versions and OpenStack release series, and what each series' guest
agent can run (data: recipes/trove-releases.yaml).

`release_datastores(series)` is the release x datastore table as code: the
managers the agent has, whether it runs them from native packages or as docker
containers (Victoria = trove 14 on), the default `[<manager>] docker_image`,
the Python it needs. `imagekit make`, `check` and `upload` decide with it."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import yaml

from imagekit import paths
from imagekit.errors import RecipeError


@dataclass(frozen=True)
class Release:
    major: int
    series: str            # "2026.2", "ocata"
    name: str | None       # code name when the series is numeric
    pin: str | None        # the trove version imagekit installs for this series


@functools.cache
def _data() -> dict[str, Any]:
    return yaml.safe_load((paths.recipes_dir() / "trove-releases.yaml").read_text())


@functools.cache
def _table() -> tuple[str, tuple[Release, ...]]:
    data = _data()
    rels = tuple(Release(int(k), str(v["series"]), v.get("name"), v.get("pin"))
                 for k, v in data["releases"].items())
    return str(data["default"]), rels


def all_releases() -> tuple[Release, ...]:
    return _table()[1]


def default_series() -> str:
    return _table()[0]


def release_of(version: str | None) -> str | None:
    """'26.0.0' -> '2026.2'; None when unknown."""
    if not version:
        return None
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return None
    for r in all_releases():
        if r.major == major:
            return r.series
    return None


def lookup(series_or_version: str) -> Release:
    """Accept a series ('2026.2'), a code name ('epoxy') or a version ('26.0.0')."""
    s = series_or_version.strip().lower()
    for r in all_releases():
        if s in (r.series.lower(), (r.name or "").lower()):
            return r
    series = release_of(s)
    if series and s.count(".") >= 1 and not s.startswith("20"):
        return next(r for r in all_releases() if r.series == series)
    known = ", ".join(r.series for r in all_releases() if r.pin)
    raise RecipeError(f"unknown Trove release '{series_or_version}'",
                      f"use one of: {known} (or a trove version such as 26.0.0)")


# -- what each series' agent runs ---------------------------------------------------------
RUNTIMES = ("native", "docker")


@dataclass(frozen=True)
class ReleaseInfo:
    """The guest agent of one series: what it has managers for and how it runs them."""
    series: str
    name: str | None
    major: int
    trove_version: str | None        # the pinned version, else the one the facts were read from
    runtime: str                     # "native" (packages in the image) or "docker"
    managers: tuple[str, ...]        # datastore_manager values the agent can start with
    docker_images: dict[str, str] = field(default_factory=dict, compare=False)
    python_requires: str | None = None    # Requires-Python of the wheel (None: not declared)
    pythons: tuple[str, ...] = ()    # the Python versions its classifiers list
    agent_dir: str = "~"             # where the agent writes its prepare markers
    checked: str | None = None       # trove version whose package the facts come from

    @property
    def label(self) -> str:
        return self.series + (f" ({self.name})" if self.name else "")

    def has_manager(self, db: str) -> bool:
        return db in self.managers

    def docker_image(self, db: str) -> str | None:
        """The agent's default `[<db>] docker_image` (None: native agent / no manager)."""
        return self.docker_images.get(db)

    def python_ok(self, python: str) -> bool | None:
        """Whether a Python x.y satisfies the release (None: nothing to judge by)."""
        if self.python_requires:
            from packaging.specifiers import SpecifierSet
            return python in SpecifierSet(self.python_requires)
        if self.pythons:
            return python in self.pythons
        return None


def release_datastores(series_or_version: str | None = None) -> ReleaseInfo:
    """The agent facts of a series ('2026.2'), code name ('epoxy') or trove
    version ('26.0.0'); the default series when None."""
    rel = lookup(series_or_version or default_series())
    data = _data()
    row = data["releases"][rel.major]
    agent = data["agents"][row["agent"]]
    return ReleaseInfo(
        series=rel.series, name=rel.name, major=rel.major,
        trove_version=rel.pin or (str(row["checked"]) if row.get("checked") else None),
        runtime=str(agent["runtime"]), managers=tuple(agent["managers"]),
        docker_images=dict(agent.get("docker_images") or {}),
        python_requires=row.get("python"), pythons=tuple(str(p) for p in row.get("pythons") or ()),
        agent_dir=str(agent.get("agent_dir") or "~"),
        checked=str(row["checked"]) if row.get("checked") else None)


def all_release_datastores() -> tuple[ReleaseInfo, ...]:
    return tuple(release_datastores(r.series) for r in all_releases())


def datastore_table_text(dbs: tuple[str, ...] | None = None) -> str:
    """The release x datastore table: per series the trove version, the Python
    it needs and, per datastore, how its agent runs it ('docker postgres' = as a
    container of that image, 'native' = from packages, '-' = no manager)."""
    infos = all_release_datastores()
    if dbs is None:
        from imagekit import recipes
        dbs = recipes.databases()
    header = ("SERIES", "TROVE", "PYTHON", *(d.upper() for d in dbs), "OTHER MANAGERS")
    rows = [header]
    for i in reversed(infos):
        cells = []
        for d in dbs:
            if not i.has_manager(d):
                cells.append("-")
            elif i.runtime == "docker":
                cells.append(f"docker {i.docker_image(d) or d}")
            else:
                cells.append("native")
        others = " ".join(m for m in i.managers if m not in dbs)
        rows.append((i.label, (i.trove_version or "-") + ("" if i.checked else "?"),
                     i.python_requires or ", ".join(i.pythons) or "-", *cells, others))
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("(? = not on PyPI, taken from the series on either side; "
                 "data: recipes/trove-releases.yaml)")
    return "\n".join(lines)
