"""`dbimage-make`: the original tool's build command with exactly its options
(-d -v -c -e -k -i -b -p -I), on top of `imagekit make`.

Kept from the original: the option letters and meanings, x.y.z cut to x.y,
-c with -e refused, the supported table printed on a miss, the resolved
variables printed before the build (ipAddrDib=..., dbName=...), the image
name <distro>_<release>_<db>_<x_y>[_c|_e].qcow2 and its log in images/, the
exit codes (1 bad arguments, 4 builder unreachable, 5 build failed).
Fixed: --help exits 0; -p works; -i defaults to this host; -k also takes a
public key file (with -I a build never contacts a cloud; a keypair name goes
to the upload); without -I the upload is `imagekit upload`'s job."""
from __future__ import annotations

import argparse
import os
import sys

from imagekit import recipes, ui
from imagekit.build.ssh import BuilderUnreachable
from imagekit.cli import make as make_cli
from imagekit.cli import report_error
from imagekit.errors import BuildError, ImagekitError

EXIT_ARGS, EXIT_BUILDER, EXIT_BUILD = 1, 4, 5


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dbimage-make",
        usage="dbimage-make -d db-name [ -v db-version ] [ -c | -e ] [ -k key-name|key-file ] "
              "[ -i dib-ip-addr ] [ -b dib-user ] [ -p pkg ] [ -I ]",
        description="Create a bootable Trove guest image holding the named database (-d) at the "
                    "given version (-v), built with diskimage-builder on this host or on the "
                    "builder -i. The image and its DIB log go to images/ as "
                    "<distro>_<release>_<db>_<x_y>[_c|_e].qcow2 and .log. The original "
                    "dbimage-make options; 'imagekit make' has more.",
        epilog=make_cli.EPILOG)
    make_cli.add_original_options(p)
    return p


def _print_variables(args: argparse.Namespace) -> None:
    """The original printed every resolved variable before starting."""
    pkg_type = ""
    if args.package:
        name = os.path.basename(args.package)
        pkg_type = name.split(".", 1)[1] if "." in name else ""
    rows = [("ipAddrDib", args.builder or "localhost"), ("dbName", args.database),
            ("dbVersion", args.db_version or ""), ("pkg", args.package or ""),
            ("pkgType", pkg_type), ("cloudKey", args.key or ""), ("dibUser", args.user or "ubuntu"),
            ("communityEdition", "yes" if args.community else "no"),
            ("enterpriseEdition", "yes" if args.enterprise else "no"),
            ("uploadImage", "no" if args.build_only else "yes"),
            ("dibRelease", os.environ.get("DIB_RELEASE", "")),
            ("dibDebug", os.environ.get("DIB_MYDEBUG", ""))]
    for k, v in rows:
        print(f"{k}={v}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:       # argparse: 0 for --help, 2 for bad usage -> the original's 1
        return 0 if exc.code == 0 else EXIT_ARGS
    ui.configure()
    _print_variables(args)
    try:
        plan = make_cli.plan_from_args(args)
    except recipes.RecipeMiss as miss:
        print(miss.table, file=sys.stderr)
        report_error(miss, False)
        return EXIT_ARGS
    except ImagekitError as exc:
        report_error(exc, False)
        return EXIT_ARGS
    try:
        return make_cli.execute(plan)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BuildError as exc:
        report_error(exc, False)
        return EXIT_BUILDER if isinstance(exc, BuilderUnreachable) else EXIT_BUILD
    except ImagekitError as exc:
        return report_error(exc, False)


if __name__ == "__main__":
    raise SystemExit(main())
