"""`imagekit make` (not implemented yet)."""
from __future__ import annotations

import argparse

from imagekit.errors import ImagekitError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("make", parents=[common], help="(not implemented yet)",
                       description="(not implemented yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise ImagekitError("imagekit make is not implemented yet")
