"""Trove versions and OpenStack release series (data: recipes/trove-releases.yaml)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

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
def _table() -> tuple[str, tuple[Release, ...]]:
    data = yaml.safe_load((paths.recipes_dir() / "trove-releases.yaml").read_text())
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
