"""Guest-agent patches, tried on host-side copies with GNU patch.

All or nothing: the files the patches touch are read from the image, every
patch is applied in order to copies in a temporary folder, and only when all
of them applied does the caller upload the results. A patch that is already
applied (it reverses cleanly) is skipped. A failure names the patch, the
file and the hunk."""
from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagekit import paths
from imagekit.errors import GuestError, PlanError
from imagekit.tools.run import run

_HEADER = re.compile(r"^(---|\+\+\+) (\S+)")


@dataclass(frozen=True)
class PatchFile:
    path: Path
    sha256: str
    targets: tuple[str, ...]       # paths relative to the tree, after stripping

    @property
    def name(self) -> str:
        return self.path.name


def _strip(path: str, n: int) -> str | None:
    if path == "/dev/null":
        return None
    parts = path.split("/")
    return "/".join(parts[n:]) if len(parts) > n else None


def parse(path: Path, strip: int = 1) -> PatchFile:
    """The files a unified diff touches; PlanError if it is not one or a path
    would leave the tree."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanError(f"patch {path}: cannot be read ({exc.strerror})")
    text = data.decode(errors="replace")
    targets: list[str] = []
    old: str | None = None
    saw_old = False
    for line in text.splitlines():
        if line.startswith("GIT binary patch") or line.startswith("Binary files "):
            raise PlanError(f"patch {path.name}: binary patches are not supported")
        m = _HEADER.match(line)
        if not m:
            continue
        if m.group(1) == "---":
            old, saw_old = m.group(2), True
            continue
        if not saw_old:
            continue
        new = m.group(2)
        rel = _strip(new, strip) or _strip(old or "/dev/null", strip)
        saw_old = False
        if not rel:
            raise PlanError(f"patch {path.name}: cannot tell which file '{new}' is "
                            f"(after stripping {strip} component(s))")
        if rel.startswith("/") or ".." in rel.split("/"):
            raise PlanError(f"patch {path.name}: target {rel!r} would leave the guest-agent tree")
        if rel not in targets:
            targets.append(rel)
    if not targets:
        raise PlanError(f"patch {path.name}: not a unified diff (no ---/+++ file headers)",
                        "make it with 'git diff' or 'diff -u'")
    return PatchFile(path, hashlib.sha256(data).hexdigest(), tuple(targets))


def release_set(release: str, root: Path | None = None) -> tuple[Path, ...]:
    """patches/<release>/*.patch, in name order (empty when the folder is missing)."""
    folder = (root or paths.patches_dir()) / release
    return tuple(sorted(folder.glob("*.patch"))) if folder.is_dir() else ()


@dataclass(frozen=True)
class Trial:
    """The outcome of applying every patch to host-side copies."""
    status: tuple[tuple[str, str], ...]          # (patch name, applied | already applied)
    new: Mapping[str, bytes | None]              # rel path -> new content (None: deleted), changed only


def _failure(patch: PatchFile, output: str, agent_path: str) -> GuestError:
    current = None
    for line in output.splitlines():
        m = re.match(r"(?:patching|checking) file '?([^']+?)'?$", line.strip())
        if m:
            current = m.group(1)
        m = re.search(r"Hunk #(\d+) FAILED at (\d+)", line)
        if m:
            return GuestError(
                f"patch {patch.name} does not apply to {agent_path}/{current}: hunk #{m.group(1)} "
                f"FAILED at line {m.group(2)}; nothing was changed",
                "the patch was written for other sources (check the Trove release of the image "
                "with imagekit inspect); fix or drop the patch")
        if "can't find file to patch" in line or "No file to patch" in line:
            missing = next((t for t in patch.targets), "?")
            return GuestError(f"patch {patch.name}: {agent_path}/{missing} is not in the image's "
                              "guest-agent tree; nothing was changed",
                              "check the patch paths (they are applied with -p1 from the folder "
                              "holding trove/)")
    tail = " | ".join(output.strip().splitlines()[-3:])
    return GuestError(f"patch {patch.name} does not apply to {agent_path}: {tail}; nothing was "
                      "changed", "check the patch against the image's Trove release")


def trial(patch_files: Sequence[PatchFile], originals: Mapping[str, bytes | None],
          agent_path: str, strip: int = 1) -> Trial:
    """Apply every patch, in order, to copies of `originals` (rel path ->
    bytes, None = not in the image). GuestError on the first failure."""
    with tempfile.TemporaryDirectory(prefix="imagekit-patch-") as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        for rel, data in originals.items():
            if data is not None:
                f = root / rel
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
        status: list[tuple[str, str]] = []
        # -f: never guess that a patch is reversed; --fuzz=0: context must match exactly
        base = ["patch", f"-p{strip}", "-f", "--fuzz=0", "--no-backup-if-mismatch",
                "--reject-file=-", "-d", str(root)]
        for p in patch_files:
            # Forward first: a reverse check alone can match elsewhere in a file
            # with repeated blocks (trove's cfg.py has near-identical sections).
            fwd = run(base + ["--dry-run", "-i", str(p.path)], check=False)
            if fwd.returncode != 0:
                rev = run(base + ["-R", "--dry-run", "-i", str(p.path)], check=False)
                if rev.returncode == 0:
                    status.append((p.name, "already applied"))
                    continue
                raise _failure(p, fwd.stdout + fwd.stderr, agent_path)
            done = run(base + ["-i", str(p.path)], check=False)
            if done.returncode != 0:
                raise _failure(p, done.stdout + done.stderr, agent_path)
            status.append((p.name, "applied"))
        new: dict[str, bytes | None] = {}
        for rel, data in originals.items():
            f = root / rel
            after = f.read_bytes() if f.is_file() else None
            if after != data:
                new[rel] = after
    return Trial(tuple(status), new)
