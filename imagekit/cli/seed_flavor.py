"""`dbflavor-show`, `dbflavor-change`, `dbflavor-upload`: the original tool's
flavor commands with its option letters, on top of `imagekit flavor`.

Kept: -d (one of the five databases, mandatory), -p (show the predefined
defaults), -f SIZE with -c/-m/-r (at least one; -1 restores the default;
vCPU 1-128, RAM 1024-262144 MB, disk 1-128 GB), the fixed-width NAME FLAVOR
VCPUS MEM(MBs) VDISK1(GBs) table, the merged table printed after a change,
exit status 1 for bad arguments and 3 when the cloud cannot be used.
-s and -b (the database-volume and backup-storage sizes removed from the
flavors in 2017) are accepted, as the original's shell parser did, and
ignored with a warning.
Fixed: --help exits 0; -d matches the database name exactly (not as a
prefix); a non-numeric value is an error message, not a traceback; a flavor
changed twice is stored once; upload talks to the cloud through clouds.yaml
(--os-cloud or OS_CLOUD) instead of lxc-attach on the controller, and is
idempotent (equal flavors skipped, different ones reported, --replace).
The dbimagerc is read for the proxies; DBIMAGE_CONTROLLER_IP is not used."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from imagekit import flavors, ui
from imagekit.cli import flavor as flavor_cli
from imagekit.cli import report_error
from imagekit.errors import ImagekitError, UsageError

EXIT_ARGS = 1

EPILOG_UPLOAD = ("environment: OS_CLOUD, OS_CLIENT_CONFIG_FILE (the cloud, from clouds.yaml), "
                 "DBIMAGERC (the dbimagerc file; its http_proxy/https_proxy/no_proxy are used).")


def _ignored_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("accepted and ignored (removed from the flavors in 2017)")
    g.add_argument("-s", dest="ignored_s", metavar="GB", help="database volume size (ignored)")
    g.add_argument("-b", dest="ignored_b", metavar="GB", help="backup storage size (ignored)")


def show_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dbflavor-show", usage="dbflavor-show -d db [ -p ]",
        description="Show the flavors of a database: the values in effect (changes made with "
                    "dbflavor-change merged over the predefined table), or with -p the "
                    "predefined defaults. The original dbflavor-show options; 'imagekit flavor "
                    "show' has more.")
    flavor_cli.add_show_options(p, db_required=True)
    _ignored_options(p)
    return p


def change_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dbflavor-change", usage="dbflavor-change -d db -f flavor { [-c vcpus] | [-m MB] | "
                                      "[-r GB] }",
        description="Change a flavor's vCPUs (-c), RAM (-m) or root disk (-r); -1 restores the "
                    "predefined value. The change is stored in the user's config folder "
                    "(~/.config/imagekit/flavors.yaml); the database's flavors are printed "
                    "afterwards. The original dbflavor-change options.")
    flavor_cli.add_change_options(p)
    _ignored_options(p)
    return p


def upload_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dbflavor-upload", usage="dbflavor-upload -d db [ --os-cloud CLOUD ] [ --replace ] "
                                      "[ --dry-run ]",
        description="Create the database's flavors as public Nova flavors named DB-SIZE in the "
                    "cloud (clouds.yaml). Existing equal flavors are skipped; different ones are "
                    "reported (exit status 3) unless --replace. The original dbflavor-upload "
                    "options, plus --os-cloud, --replace and --dry-run.",
        epilog=EPILOG_UPLOAD)
    flavor_cli.add_upload_options(p)
    _ignored_options(p)
    return p


def _run(parser: argparse.ArgumentParser, argv: list[str] | None,
         body: Callable[[argparse.Namespace], int]) -> int:
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:      # argparse: 0 for --help, 2 for bad usage -> the original's 1
        return 0 if exc.code == 0 else EXIT_ARGS
    ui.configure()
    for opt, attr in (("-s", "ignored_s"), ("-b", "ignored_b")):
        if getattr(args, attr, None) is not None:
            ui.warn(f"{opt} is ignored: the database-volume and backup-storage sizes were removed "
                    "from the flavors (they never reached OpenStack)")
    try:
        return body(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except ImagekitError as exc:
        code = report_error(exc, False)
        return EXIT_ARGS if isinstance(exc, UsageError) else code


def _show(args: argparse.Namespace) -> int:
    flavor_cli.render_plain(flavor_cli.selected(args.db, args.predefined))
    return 0


def _change(args: argparse.Namespace) -> int:
    flavor_cli.do_change(args)
    flavor_cli.render_plain(flavors.current(args.db))
    return 0


def _upload(args: argparse.Namespace) -> int:
    from imagekit import dbimagerc
    dbimagerc.load()
    outcomes = flavor_cli.do_upload(args)
    flavor_cli.render_outcomes(outcomes)
    flavor_cli.check_differences(outcomes)
    return 0


def show_main(argv: list[str] | None = None) -> int:
    return _run(show_parser(), argv, _show)


def change_main(argv: list[str] | None = None) -> int:
    return _run(change_parser(), argv, _change)


def upload_main(argv: list[str] | None = None) -> int:
    return _run(upload_parser(), argv, _upload)
