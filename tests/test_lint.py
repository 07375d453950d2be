"""Linters run as tests."""
from __future__ import annotations

import subprocess

from tests.util import BIN, REPO


def test_ruff_is_clean():
    proc = subprocess.run([str(BIN / "ruff"), "check", "imagekit", "tests", "bench"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
