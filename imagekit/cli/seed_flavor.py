"""Original-tool flavor commands (not implemented yet)."""
from __future__ import annotations

import sys


def _todo() -> int:
    print("error: not implemented yet", file=sys.stderr)
    return 1


def show_main(argv: list[str] | None = None) -> int:
    return _todo()


def change_main(argv: list[str] | None = None) -> int:
    return _todo()


def upload_main(argv: list[str] | None = None) -> int:
    return _todo()
