"""What running operations produced: per-file changes, per-operation results,
the result of a whole run. Frozen, JSON-friendly (`to_dict`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# What happened to one guest path.
ACTIONS = ("created", "replaced", "unchanged", "appended", "deleted", "mode", "owner", "linked",
           "truncated", "ran", "skipped")


@dataclass(frozen=True)
class Change:
    path: str
    action: str
    detail: str = ""
    sha256: str | None = None      # of the new content, for files written

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "action": self.action}
        if self.detail:
            d["detail"] = self.detail
        if self.sha256:
            d["sha256"] = self.sha256
        return d


@dataclass(frozen=True)
class OpResult:
    index: int
    kind: str
    summary: str
    seconds: float
    changes: tuple[Change, ...] = ()
    inputs: tuple[tuple[str, str], ...] = ()      # (name, sha256) of host-side inputs
    details: tuple[tuple[str, Any], ...] = ()     # exit code, output, key types...
    note: str = ""
    implicit: bool = False                        # added by the engine (relabel, machine-id)

    @property
    def changed(self) -> tuple[str, ...]:
        """Guest paths this operation actually changed."""
        return tuple(c.path for c in self.changes if c.action not in ("unchanged", "skipped"))

    def detail(self, key: str, default: Any = None) -> Any:
        return dict(self.details).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"index": self.index, "op": self.kind, "summary": self.summary,
                             "seconds": round(self.seconds, 3),
                             "inputs": dict(self.inputs),
                             "changes": [c.to_dict() for c in self.changes]}
        if self.details:
            d["details"] = dict(self.details)
        if self.note:
            d["note"] = self.note
        if self.implicit:
            d["implicit"] = True
        return d


@dataclass(frozen=True)
class RunResult:
    """The result of `run_plan`: where the output and its manifest are, what
    every operation did, how many appliance launches it took (1)."""
    source: Path
    output: Path | None
    manifest_path: Path | None
    mode: str
    operations: tuple[OpResult, ...]
    launches: int
    seconds: float
    dry_run: bool = False
    overlay_bytes: int = 0          # what the session wrote into its overlay
    manifest: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "output": str(self.output) if self.output else None,
                "manifest": str(self.manifest_path) if self.manifest_path else None,
                "mode": self.mode, "dry_run": self.dry_run, "launches": self.launches,
                "seconds": round(self.seconds, 3), "overlay_bytes": self.overlay_bytes,
                "operations": [o.to_dict() for o in self.operations]}
