"""`dbimage-upload`: the original tool's command, with its option letters
(-d -v -c -e -f -k -s, and a -b that works) and exit statuses (1 bad
arguments, 3 cloud errors; 4 when the offline checks stop the upload), on
imagekit's upload: the image
is re-targeted (no loop mount, no raw conversion), uploaded as qcow2 to the
cloud named by --os-cloud / OS_CLOUD (clouds.yaml), registered with Trove.

dbimagerc is read like the original sourced it (see imagekit.dbimagerc):
DBIMAGE_SOURCE names the Glance image, DBIMAGE_CONTROLLER_IP (with
DBIMAGE_CTRL_PRIVATE_SSH_KEY or DBIMAGE_CTRL_PASSWD) is the controller for
trove-manage, the proxy variables are exported for the cloud calls and the
commands run in the image."""
from __future__ import annotations

import argparse
import sys

from imagekit import __version__, dbimagerc
from imagekit.cloud import uploadplan
from imagekit.errors import ImagekitError

DESCRIPTION = (
    "Create a Trove datastore from an image made by dbimage-make -I (or imagekit make): the "
    "image is updated for the target cloud (its guest configuration, the -k keypair's public "
    "key in the guest user's authorized_keys, new ssh host keys, the -s command run inside "
    "it), uploaded to Glance as DB-X.Y[-c|-e]$DBIMAGE_SOURCE-DATE and registered as "
    "datastore DB, version X.Y (the default version), with its configuration parameters. "
    "The target cloud comes from clouds.yaml (--os-cloud, or OS_CLOUD). Same as 'imagekit "
    "upload' with the original's options.")

EPILOG = ("dbimagerc ($DBIMAGERC, ./dbimagerc, ./scripts/dbimagerc or "
          "~/.config/imagekit/dbimagerc; the environment wins): DBIMAGE_SOURCE, "
          "DBIMAGE_CONTROLLER_IP, DBIMAGE_CTRL_USER, DBIMAGE_CTRL_SSH_PORT, "
          "DBIMAGE_CTRL_PRIVATE_SSH_KEY, DBIMAGE_CTRL_PASSWD, DBIMAGE_TROVE_MANAGE, http_proxy, "
          "https_proxy, no_proxy.")


EXIT_ARGS = 1       # the original's exit status for bad arguments


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dbimage-upload",
        usage="dbimage-upload -d db-name -v db-version [ -c | -e ] -f image-name "
              "[ -k key-name ] [ -s chroot-cmd ] [ -b dib-user ] [ --os-cloud CLOUD ...]",
        description=DESCRIPTION, epilog=EPILOG)
    uploadplan.add_options(p, seed=True)
    g = p.add_argument_group("general options")
    g.add_argument("--verbose", action="count", default=0, help="say more; repeat for more")
    g.add_argument("-q", "--quiet", action="store_true", help="print only results and errors")
    g.add_argument("--debug", action="store_true", help="show a traceback on errors")
    g.add_argument("--version", action="version", version=f"dbimage-upload (imagekit {__version__})")
    return p


def _echo(args: argparse.Namespace) -> None:
    """The original printed every resolved variable before it started."""
    if args.quiet:
        return
    pairs = (("dbName", args.datastore), ("dbVersion", args.datastore_version),
             ("imageName", args.file), ("cloudKey", args.keypair or ""),
             ("dibUser", args.user or ""), ("communityEdition", "yes" if args.community else ""),
             ("enterpriseEdition", "yes" if args.enterprise else ""),
             ("chrootCmd", " ; ".join(args.run or [])),
             ("clouds", ",".join(args.os_cloud or []) or "(OS_CLOUD)"))
    for k, v in pairs:
        print(f"{k}={v}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    from imagekit.cli import report_error, run_parsed
    from imagekit.cli.upload import run
    try:
        dbimagerc.load()
    except ImagekitError as exc:
        report_error(exc, False)
        return EXIT_ARGS
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:       # argparse: 0 for --help, 2 for bad usage -> the original's 1
        return 0 if exc.code == 0 else EXIT_ARGS
    _echo(args)
    args.func = run
    rc = run_parsed(args)
    return EXIT_ARGS if rc == 2 else rc


if __name__ == "__main__":
    raise SystemExit(main())
