"""Small helpers shared by the tests."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def sha256(path: os.PathLike | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(path: os.PathLike | str) -> tuple[str, int]:
    """(sha256, mtime_ns): what 'unchanged' means for an image file."""
    return sha256(path), os.stat(path).st_mtime_ns


def run_cli(*args: str, program: str = "imagekit", env: dict | None = None, input: str | None = None,
            timeout: float = 1800, cwd: os.PathLike | str | None = None) -> subprocess.CompletedProcess:
    """Run an installed console script (the real CLI, as an operator would)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(BIN / program), *args], capture_output=True, text=True,
                          env=full_env, input=input, timeout=timeout, cwd=cwd)
