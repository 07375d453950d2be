"""Names imagekit gives to what it puts into a cloud, kept compatible with the
original dbimage-upload:

  Glance image   <db>-<x.y>[-c|-e]<DBIMAGE_SOURCE>-<YYYY-MM-DD>   postgresql-15-dib-2026-11-22
  image tags     trove, <db>, <x.y>
  Trove          datastore <db>, datastore version <x.y>

DBIMAGE_SOURCE ("-dib" by default) is pasted in verbatim, as the original did,
so that names stay sortable next to images it uploaded."""
from __future__ import annotations

import datetime as _dt
import os
import re

from imagekit.errors import UsageError

DEFAULT_SOURCE = "-dib"
EDITIONS = {"community": "c", "enterprise": "e"}
TROVE_TAG = "trove"
# What Glance accepts in a name is wide; we keep to what the original produced.
_SOURCE_OK = re.compile(r"^[A-Za-z0-9._-]*$")
_VERSION_OK = re.compile(r"^[0-9A-Za-z]+(\.[0-9A-Za-z]+)*$")
_DB_OK = re.compile(r"^[a-z][a-z0-9_]*$")


def short_version(version: str) -> str:
    """The original's -v rule: more than two dot-separated parts are cut to
    x.y ('9.5.3' -> '9.5'); one or two parts stay as given ('15' -> '15')."""
    v = version.strip()
    if not v or not _VERSION_OK.match(v):
        raise UsageError(f"'{version}' is not a database version",
                         "give it as digits and dots, e.g. -v 15 or -v 10.11")
    return ".".join(v.split(".")[:2])


def edition_suffix(edition: str | None) -> str:
    """'' (distro), '-c' (community) or '-e' (enterprise)."""
    if not edition:
        return ""
    try:
        return "-" + EDITIONS[edition]
    except KeyError:
        raise UsageError(f"unknown edition '{edition}'", "use community (-c) or enterprise (-e)")


def source_tag(env: dict[str, str] | None = None) -> str:
    """DBIMAGE_SOURCE from the environment (or dbimagerc), '-dib' when unset."""
    env = os.environ if env is None else env
    src = env.get("DBIMAGE_SOURCE")
    src = DEFAULT_SOURCE if src is None else src.strip()
    if not _SOURCE_OK.match(src):
        raise UsageError(f"DBIMAGE_SOURCE='{src}' contains characters an image name should not have",
                         "use letters, digits, '.', '_' and '-' only, e.g. DBIMAGE_SOURCE=-dib")
    return src


def image_prefix(db: str, version: str, edition: str | None = None,
                 source: str = DEFAULT_SOURCE) -> str:
    """The dateless start of the Glance name: 'postgresql-15-dib'."""
    if not _DB_OK.match(db):
        raise UsageError(f"'{db}' is not a database name", "e.g. -d postgresql")
    return f"{db}-{short_version(version)}{edition_suffix(edition)}{source}"


def image_name(db: str, version: str, edition: str | None = None, source: str = DEFAULT_SOURCE,
               day: _dt.date | None = None) -> str:
    """'postgresql-15-dib-2026-11-22' (today when no day is given)."""
    day = day or _dt.date.today()
    return f"{image_prefix(db, version, edition, source)}-{day.isoformat()}"


def image_tags(db: str, version: str) -> tuple[str, ...]:
    """Glance tags: 'trove', the datastore and its x.y version."""
    return (TROVE_TAG, db, short_version(version))


def datastore_version_name(version: str) -> str:
    """Trove datastore version name: x.y, like the original's trove-manage call."""
    return short_version(version)
