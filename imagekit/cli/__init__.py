"""The `imagekit` command line: one argparse parser with a subcommand per
module in this package. Each module defines `register(subparsers, common)`
which adds its parser and sets `func` (called with the parsed args, returns
the exit code)."""
from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from imagekit import __version__, ui
from imagekit.errors import ImagekitError

# Subcommand modules, in the order `imagekit --help` lists them.
COMMANDS = (
    "make", "customize", "upload", "verify", "flavor", "inspect", "check", "shell", "doctor",
    "devcloud",
)

DESCRIPTION = ("Build (diskimage-builder), customize (libguestfs, one appliance launch), check, "
               "inspect and upload OpenStack Trove guest database images.")


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts, before or after its name."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("general options")
    g.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                   help="say more (backend choice, commands run); repeat for more")
    g.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                   help="print only results and errors")
    g.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show a traceback on errors")
    g.add_argument("--backend", choices=("auto", "kvm", "tcg"), default=argparse.SUPPRESS,
                   help="libguestfs appliance accelerator (default: auto = probe KVM once per "
                        "host, fall back to TCG; env IMAGEKIT_BACKEND)")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(prog="imagekit", description=DESCRIPTION, parents=[common],
                                     epilog="Run 'imagekit COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"imagekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"imagekit.cli.{name.replace('-', '_')}").register(sub, common)
    return parser


def report_error(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    if isinstance(exc, ImagekitError):
        msg = exc.message.replace("\n", " ")
        print(f"error: {msg}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    print("hint: run again with --debug and report the traceback", file=sys.stderr)
    return 70


def run_parsed(args: argparse.Namespace) -> int:
    ui.configure(verbose=getattr(args, "verbose", 0) or 0, quiet=getattr(args, "quiet", False),
                 json_events=getattr(args, "json_events", False), debug=getattr(args, "debug", False))
    if getattr(args, "backend", None):
        import os
        os.environ["IMAGEKIT_BACKEND"] = args.backend
    try:
        rc = args.func(args)
        return int(rc or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the one place errors become messages
        return report_error(exc, getattr(args, "debug", False))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_parsed(args)
