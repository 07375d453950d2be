"""Database flavors: the predefined table (recipes/flavors.yaml, never
modified) and the user's overrides (<config dir>/flavors.yaml, written by
`imagekit flavor change`).

The overrides file is a mapping database -> size -> values, so a flavor is
stored at most once (the original appended a second copy when an already
changed flavor was changed again). Only flavors that differ from the default
are stored: a change that lands on the default values removes the entry."""
from __future__ import annotations

import fcntl
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from imagekit import paths
from imagekit.errors import RecipeError, UsageError

ATTRS = ("vcpus", "ram", "disk")
# attribute -> (what it is called in messages, the original's option letter)
LABELS = {"vcpus": ("vCPUs", "-c"), "ram": ("RAM (MB)", "-m"), "disk": ("root disk (GB)", "-r")}
RESTORE = -1


@dataclass(frozen=True)
class Flavor:
    db: str
    size: str
    vcpus: int
    ram: int        # MB
    disk: int       # GB, root disk

    @property
    def name(self) -> str:
        """The Nova flavor name, e.g. mysql-small."""
        return f"{self.db}-{self.size}"

    def values(self) -> tuple[int, int, int]:
        return (self.vcpus, self.ram, self.disk)


@dataclass(frozen=True)
class Table:
    limits: dict[str, tuple[int, int]]
    sizes: tuple[str, ...]
    databases: tuple[str, ...]
    flavors: dict[tuple[str, str], Flavor]

    def default(self, db: str, size: str) -> Flavor:
        check_db(db, self)
        if size not in self.sizes:
            raise UsageError(f"unknown flavor size '{size}'",
                             f"use one of: {', '.join(self.sizes)}")
        return self.flavors[(db, size)]


def _int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecipeError(f"{where}: '{value}' is not a whole number")
    return value


def _load_table(path: Path) -> Table:
    try:
        data = yaml.safe_load(path.read_text())
        limits = {a: (_int(data["limits"][a][0], f"{path}: limits.{a}"),
                      _int(data["limits"][a][1], f"{path}: limits.{a}")) for a in ATTRS}
        sizes = tuple(str(s) for s in data["sizes"])
        flavors: dict[tuple[str, str], Flavor] = {}
        for db, by_size in data["flavors"].items():
            if set(by_size) != set(sizes):
                raise RecipeError(f"{path}: {db} must define exactly the sizes {', '.join(sizes)}")
            for size, vals in by_size.items():
                f = Flavor(str(db), str(size),
                           *(_int(vals[a], f"{path}: {db}.{size}.{a}") for a in ATTRS))
                _check_ranges(f, limits, where=f"{path}: {f.name}")
                flavors[(f.db, f.size)] = f
    except (OSError, yaml.YAMLError, KeyError, TypeError, IndexError) as exc:
        raise RecipeError(f"cannot read the flavor table {path}: {exc}",
                          "restore recipes/flavors.yaml from the repository") from exc
    return Table(limits, sizes, tuple(str(d) for d in data["flavors"]), flavors)


@functools.cache
def table() -> Table:
    """The predefined flavors (recipes/flavors.yaml)."""
    return _load_table(paths.recipes_dir() / "flavors.yaml")


def _check_ranges(f: Flavor, limits: dict[str, tuple[int, int]], where: str) -> None:
    for attr in ATTRS:
        lo, hi = limits[attr]
        value = getattr(f, attr)
        if not lo <= value <= hi:
            label, opt = LABELS[attr]
            raise UsageError(f"{where}: {label} must be between {lo} and {hi} (got {value})",
                             f"give {opt} a value in that range, or {opt} -1 for the default")


def check_db(db: str, tab: Table | None = None) -> str:
    tab = tab or table()
    if db not in tab.databases:
        raise UsageError(f"unknown database '{db}'",
                         f"use one of: {', '.join(tab.databases)}")
    return db


def parse_value(attr: str, text: str | int | None) -> int | None:
    """A number from the command line: None (not given), -1 (the default) or
    a whole number; anything else is a UsageError naming the option."""
    if text is None or isinstance(text, int):
        return text
    try:
        return int(str(text).strip())
    except ValueError:
        label, opt = LABELS[attr]
        raise UsageError(f"{opt}: '{text}' is not a whole number ({label})",
                         f"give {opt} a number, or {opt} -1 for the default") from None


# --- the overrides file -------------------------------------------------------

def overrides_path() -> Path:
    return paths.config_dir() / "flavors.yaml"


HEADER = ("# imagekit flavor overrides: database -> size -> values that differ from\n"
          "# recipes/flavors.yaml. Written by 'imagekit flavor change' (or dbflavor-change).\n")


def _read_overrides(path: Path, tab: Table) -> dict[tuple[str, str], Flavor]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
        entries = data.get("flavors") or {}
        out = {}
        for db, by_size in entries.items():
            for size, vals in (by_size or {}).items():
                base = tab.default(str(db), str(size))
                f = replace(base, **{a: _int(vals[a], f"{path}: {db}.{size}.{a}")
                                     for a in ATTRS if a in vals})
                _check_ranges(f, tab.limits, where=f"{path}: {f.name}")
                out[(f.db, f.size)] = f
        return out
    except (yaml.YAMLError, AttributeError, TypeError, RecipeError, UsageError) as exc:
        raise UsageError(f"cannot use the flavor overrides {path}: {exc}",
                         "fix or delete that file (it only holds changes made with "
                         "'imagekit flavor change')") from exc


def _write_overrides(path: Path, overrides: dict[tuple[str, str], Flavor], tab: Table) -> None:
    nested: dict[str, dict[str, dict[str, int]]] = {}
    for db in tab.databases:
        for size in tab.sizes:
            f = overrides.get((db, size))
            if f is not None:
                nested.setdefault(db, {})[size] = {a: getattr(f, a) for a in ATTRS}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(HEADER + yaml.safe_dump({"flavors": nested}, sort_keys=False,
                                           default_flow_style=None))
    os.replace(tmp, path)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- what the commands use ------------------------------------------------------

def defaults(db: str | None = None) -> list[Flavor]:
    tab = table()
    dbs = [check_db(db, tab)] if db else list(tab.databases)
    return [tab.flavors[(d, s)] for d in dbs for s in tab.sizes]


def current(db: str | None = None, path: Path | None = None) -> list[Flavor]:
    """The flavors in effect: overrides merged over the defaults, filtered by
    the exact database name (the original matched by prefix)."""
    tab = table()
    over = _read_overrides(path or overrides_path(), tab)
    return [over.get((f.db, f.size), f) for f in defaults(db)]


def is_changed(f: Flavor) -> bool:
    return f != table().flavors[(f.db, f.size)]


@dataclass(frozen=True)
class Change:
    before: Flavor
    after: Flavor
    default: Flavor
    action: str          # "unchanged", "stored" or "removed" (back to the default)


def change(db: str, size: str, *, vcpus: int | str | None = None, ram: int | str | None = None,
           disk: int | str | None = None, path: Path | None = None) -> Change:
    """Set some of a flavor's values (-1: back to the default). Writes only
    when something changes; the result equal to the default removes the entry."""
    tab = table()
    wanted = {a: parse_value(a, v) for a, v in (("vcpus", vcpus), ("ram", ram), ("disk", disk))}
    base = tab.default(check_db(db, tab), size)
    if all(v is None for v in wanted.values()):
        raise UsageError("nothing to change", "give at least one of -c VCPUS, -m MB, -r GB")
    path = path or overrides_path()
    with _locked(path):
        over = _read_overrides(path, tab)
        before = over.get((db, size), base)
        new = {a: (getattr(base, a) if v == RESTORE else v)
               for a, v in wanted.items() if v is not None}
        after = replace(before, **new)
        _check_ranges(after, tab.limits, where=after.name)
        if after == before:
            return Change(before, after, base, "unchanged")
        if after == base:
            over.pop((db, size), None)
            action = "removed"
        else:
            over[(db, size)] = after
            action = "stored"
        _write_overrides(path, over, tab)
    return Change(before, after, base, action)
