"""Configuration parameters of a datastore version, from Trove's
validation-rules.json, through the management parameters API.

Trove's API (2026.2) accepts only the data types `integer` (with both `min`
and `max`) and `string`; `boolean`, `float` and unbounded integers are
refused with HTTP 400 although trove-manage loads them. So:

1. every parameter is sent to the API (created, or modified when it
   differs; equal ones are left alone);
2. what the API refuses is loaded with `trove-manage
   db_load_datastore_config_parameters` on a controller (see
   `imagekit.cloud.controller`) when one is configured;
3. otherwise it is reported, with the file of the refused rules and the
   command to load them, never dropped silently.

Only the first parameter of each refused kind is sent (the API decides by
type and bounds alone); the others of that kind are refused with the same
answer without asking again."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagekit import paths, ui
from imagekit.cloud import naming
from imagekit.cloud.errors import translate
from imagekit.errors import CloudError, RecipeError


@dataclass(frozen=True)
class Parameter:
    name: str
    restart_required: bool
    type: str
    min: float | None = None
    max: float | None = None

    @property
    def kind(self) -> str:
        """What the API's acceptance depends on: the type, and bounds for integers."""
        if self.type == "integer" and (self.min is None or self.max is None):
            return "integer without min and max"
        return self.type

    def rule(self) -> dict[str, Any]:
        r: dict[str, Any] = {"name": self.name, "restart_required": self.restart_required,
                             "type": self.type}
        if self.min is not None:
            r["min"] = self.min
        if self.max is not None:
            r["max"] = self.max
        return r


@dataclass(frozen=True)
class Refusal:
    name: str
    kind: str
    reason: str


@dataclass(frozen=True)
class ParamsResult:
    rules: Path
    total: int
    created: tuple[str, ...] = field(default=())
    updated: tuple[str, ...] = field(default=())
    unchanged: tuple[str, ...] = field(default=())
    refused: tuple[Refusal, ...] = field(default=())
    via_controller: tuple[str, ...] = field(default=())
    refused_file: Path | None = None

    @property
    def not_loaded(self) -> tuple[Refusal, ...]:
        done = set(self.via_controller)
        return tuple(r for r in self.refused if r.name not in done)

    def summary(self) -> str:
        loaded = len(self.created) + len(self.updated) + len(self.unchanged)
        parts = [f"{loaded} of {self.total} through the API ({len(self.created)} new, "
                 f"{len(self.updated)} changed)"]
        if self.via_controller:
            parts.append(f"{len(self.via_controller)} with trove-manage on the controller")
        if self.not_loaded:
            kinds = Counter(r.kind for r in self.not_loaded)
            parts.append(f"{len(self.not_loaded)} refused by the API and not loaded (" +
                         ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) + ")")
        return "; ".join(parts)


# -- the rules ------------------------------------------------------------------------
def rules_file(datastore: str, version: str, override: Path | None = None) -> Path:
    """recipes/validation-rules/<ds>/<x.y>/validation-rules.json if present,
    else <ds>/validation-rules.json (the original's lookup order)."""
    if override is not None:
        if not override.is_file():
            raise RecipeError(f"{override}: no such validation-rules file")
        return override
    base = paths.recipes_dir() / "validation-rules" / datastore
    for cand in (base / naming.short_version(version) / "validation-rules.json",
                 base / "validation-rules.json"):
        if cand.is_file():
            return cand
    known = sorted(p.name for p in (paths.recipes_dir() / "validation-rules").iterdir()
                   if p.is_dir())
    raise RecipeError(f"no validation rules for datastore '{datastore}' (known: {', '.join(known)})",
                      "pass --validation-rules FILE (Trove ships them as "
                      "trove/templates/<datastore>/validation-rules.json)")


def load_rules(path: Path) -> tuple[Parameter, ...]:
    try:
        data = json.loads(path.read_text())
        items = data["configuration-parameters"]
        return tuple(Parameter(str(p["name"]), bool(p.get("restart_required", False)),
                               str(p["type"]), p.get("min"), p.get("max")) for p in items)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RecipeError(f"{path}: not a Trove validation-rules file ({exc})",
                          'expected {"configuration-parameters": [{"name", "restart_required", '
                          '"type", "min", "max"}, ...]}') from exc


def write_rules(params: tuple[Parameter, ...] | list[Parameter], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"configuration-parameters": [p.rule() for p in params]},
                               indent=2) + "\n")
    return path


# -- the API --------------------------------------------------------------------------
def _mgmt(trove: Any) -> Any:
    from troveclient.v1.management import MgmtConfigurationParameters
    return MgmtConfigurationParameters(trove)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def existing(trove: Any, version_id: str) -> dict[str, dict[str, Any]]:
    """name -> {type, restart_required, min, max} as Trove holds them."""
    out = {}
    for p in _mgmt(trove).list_all_parameter_by_version(version_id):
        info = p._info if hasattr(p, "_info") else vars(p)
        out[info["name"]] = {"type": info.get("type"),
                             "restart_required": bool(info.get("restart_required")),
                             "min": _int_or_none(info.get("min_size")),
                             "max": _int_or_none(info.get("max_size"))}
    return out


def _same(p: Parameter, have: dict[str, Any]) -> bool:
    if have["type"] != p.type or have["restart_required"] != p.restart_required:
        return False
    if p.type != "integer":
        return True  # Trove's view shows bounds of integers only
    return (have["min"], have["max"]) == (_int_or_none(p.min), _int_or_none(p.max))


def _send(mgmt: Any, version_id: str, p: Parameter, modify: bool) -> None:
    call = mgmt.modify if modify else mgmt.create
    call(version_id, p.name, p.restart_required, p.type,
         max_size=p.max if p.max is not None else None,
         min_size=p.min if p.min is not None else None)


def sync_parameters(trove: Any, *, version_id: str, datastore: str, version: str, rules: Path,
                    cloud: str, controller: Any = None) -> ParamsResult:
    """Bring the version's parameters to `rules` (see the module doc)."""
    params = load_rules(rules)
    have = existing(trove, version_id)
    mgmt = _mgmt(trove)
    created, updated, unchanged, refused = [], [], [], []
    refused_kinds: dict[str, str] = {}
    with ui.step(f"configuration parameters of {datastore} {version} ({len(params)} rules)") as st:
        for p in params:
            if p.name in have and _same(p, have[p.name]):
                unchanged.append(p.name)
                continue
            if p.kind in refused_kinds:
                refused.append(Refusal(p.name, p.kind, refused_kinds[p.kind]))
                continue
            try:
                _send(mgmt, version_id, p, modify=p.name in have)
            except Exception as exc:
                status = getattr(exc, "http_status", None) or getattr(exc, "code", None)
                if status != 400:
                    mapped = translate(exc, f"loading configuration parameter {p.name}", cloud)
                    raise (mapped or exc) from exc
                reason = str(getattr(exc, "message", None) or exc).strip()
                refused_kinds[p.kind] = reason
                refused.append(Refusal(p.name, p.kind, reason))
                ui.verbose(f"the API refuses '{p.kind}' parameters: {reason}")
                continue
            (updated if p.name in have else created).append(p.name)
        st["note"] = f"{len(created)} new, {len(updated)} changed, {len(unchanged)} equal, " \
                     f"{len(refused)} refused"
    result = ParamsResult(rules=rules, total=len(params), created=tuple(created),
                          updated=tuple(updated), unchanged=tuple(unchanged),
                          refused=tuple(refused))
    if not refused:
        return result
    by_name = {p.name: p for p in params}
    subset = [by_name[r.name] for r in refused]
    out = write_rules(subset, paths.cache_dir() / "refused-rules" /
                      f"{cloud}-{datastore}-{naming.short_version(version)}.json")
    via: tuple[str, ...] = ()
    if controller is not None:
        with ui.step(f"loading {len(subset)} refused parameters with trove-manage on "
                     f"{controller.where}"):
            controller.load_parameters(datastore, version, out)
        after = existing(trove, version_id)
        via = tuple(p.name for p in subset if p.name in after and _same(p, after[p.name]))
        missing = [p.name for p in subset if p.name not in via]
        if missing:
            raise CloudError(f"trove-manage on {controller.where} did not load {len(missing)} "
                             f"parameters (e.g. {missing[0]})",
                             f"check that it runs the Trove of cloud '{cloud}' "
                             "(DBIMAGE_TROVE_MANAGE and its config file)")
    return ParamsResult(rules=rules, total=len(params), created=tuple(created),
                        updated=tuple(updated), unchanged=tuple(unchanged),
                        refused=tuple(refused), via_controller=via, refused_file=out)
