"""The original tool's `dbimagerc`: a file of `export VAR=value` lines that
its scripts sourced. imagekit reads it without running a shell: only
assignments of the variables it knows (DBIMAGE_*, DIB_*, the proxies) are
taken, and a variable already set in the environment wins.

Looked for in this order: $DBIMAGERC, ./dbimagerc, ./scripts/dbimagerc (the
original's place, when run from its folder), ~/.config/imagekit/dbimagerc."""
from __future__ import annotations

import os
import re
import shlex
from collections.abc import MutableMapping
from pathlib import Path

from imagekit import paths
from imagekit.errors import UsageError

PROXIES = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def known(name: str) -> bool:
    return name.startswith(("DBIMAGE_", "DIB_")) or name in PROXIES


def candidates(env: MutableMapping[str, str] | None = None) -> list[Path]:
    env = os.environ if env is None else env
    out = []
    if env.get("DBIMAGERC"):
        out.append(Path(env["DBIMAGERC"]).expanduser())
    out += [Path("dbimagerc"), Path("scripts") / "dbimagerc", paths.config_dir() / "dbimagerc"]
    return out


def parse(text: str, origin: str = "dbimagerc") -> dict[str, str]:
    """The known assignments of a dbimagerc (comments and other lines ignored)."""
    values: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = _ASSIGN.match(line)
        if not m or not known(m.group(1)):
            continue
        raw = m.group(2).strip()
        try:
            words = shlex.split(raw, comments=True)
        except ValueError as exc:
            raise UsageError(f"{origin}:{n}: cannot read the value of {m.group(1)} ({exc})",
                             "quote the value like the shell would: VAR='a value'")
        if "$" in raw.replace("\\$", "") and not raw.startswith("'"):
            raise UsageError(f"{origin}:{n}: {m.group(1)} uses shell expansion, which imagekit "
                             "does not run", "write the value out, or export it before running")
        values[m.group(1)] = " ".join(words)
    return values


def load(env: MutableMapping[str, str] | None = None) -> Path | None:
    """Put the first dbimagerc's values into `env` (os.environ) where unset.
    Returns the file read, or None."""
    env = os.environ if env is None else env
    explicit = bool(env.get("DBIMAGERC"))
    for path in candidates(env):
        if path.is_file():
            for key, value in parse(path.read_text(), str(path)).items():
                env.setdefault(key, value)
            return path
        if explicit and path == Path(env["DBIMAGERC"]).expanduser():
            raise UsageError(f"DBIMAGERC={env['DBIMAGERC']}: no such file")
    return None
