"""The original tool's five command names (dbimage-make, dbimage-upload,
dbflavor-show, dbflavor-change, dbflavor-upload) with their original options.
(not implemented yet)"""
from __future__ import annotations

import sys


def _todo(name: str) -> int:
    print(f"error: {name} is not implemented yet", file=sys.stderr)
    return 1


def dbimage_make(argv: list[str] | None = None) -> int:
    return _todo("dbimage-make")


def dbimage_upload(argv: list[str] | None = None) -> int:
    return _todo("dbimage-upload")


def dbflavor_show(argv: list[str] | None = None) -> int:
    return _todo("dbflavor-show")


def dbflavor_change(argv: list[str] | None = None) -> int:
    return _todo("dbflavor-change")


def dbflavor_upload(argv: list[str] | None = None) -> int:
    return _todo("dbflavor-upload")
