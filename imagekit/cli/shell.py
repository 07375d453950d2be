"""`imagekit shell IMAGE`: an interactive inspection shell over a guest image
(imagekit/shell/), in one appliance launch."""
from __future__ import annotations

import argparse
import sys

from imagekit.shell import repl
from imagekit.shell.runner import against_images
from imagekit.shell.session import Session


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "shell", parents=[common],
        help="an interactive shell inside a guest image (read-only unless --write)",
        description="Open IMAGE in one libguestfs appliance launch and look around: ls, cd, cat, "
                    "less, grep, find, stat, tree, df, du, file, download; what the image is: os, "
                    "packages, services, users, keys, trove; diff against another image. "
                    "Read-only by default: the image's bytes and mtime do not change. With "
                    "--write, upload/edit/rm/mkdir/chmod change an overlay and 'save OUT' writes "
                    "a new image (the source is never modified). 'man imagekit-shell' lists the "
                    "shell's commands.")
    p.add_argument("image", metavar="IMAGE", help="qcow2 or raw image file")
    p.add_argument("--write", action="store_true",
                   help="allow changes (to an overlay; kept only by 'save OUT')")
    p.add_argument("-c", "--command", dest="script", metavar="'CMD; CMD'",
                   help="run these commands without a prompt and leave; the first failing "
                        "command stops them and the exit status is 1")
    p.add_argument("--against", action="append", default=[], metavar="IMAGE2",
                   help="attach IMAGE2 read-only too, for 'diff PATH --against IMAGE2' "
                        "(repeatable; with -c, diff's images are attached by themselves)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    against = list(args.against)
    if args.script is not None:
        against += [p for p in against_images(args.script) if p not in against]
    session = Session.open(args.image, write=args.write, against=against)
    try:
        if args.script is not None:
            return repl.script(session, [args.script])
        if not sys.stdin.isatty():
            return repl.script(session, sys.stdin)
        return repl.interactive(session)
    finally:
        session.close()
