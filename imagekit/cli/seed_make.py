"""Original-tool command (not implemented yet)."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("error: not implemented yet", file=sys.stderr)
    return 1
