"""`imagekit make`: build a Trove guest database image with diskimage-builder,
on this host or on a builder reached over ssh (-i).

The original dbimage-make letters (-d -v -c -e -k -i -b -p -I) are defined
once here, in `add_original_options`, and shared with the `dbimage-make`
console script (imagekit/cli/seed_make.py)."""
from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

from imagekit import paths, recipes, releases, ui
from imagekit.build.plan import BuildPlan, extra_elements_from_env, is_key_file, read_public_key
from imagekit.build.ssh import parse_target
from imagekit.errors import UsageError

DESCRIPTION = (
    "Build an OpenStack Trove guest image for a database with diskimage-builder: the database "
    "from the recipe table (recipes/databases.yaml: distribution packages, -c community or "
    "-e enterprise vendor repositories, or your own -p package), the Trove guest agent at a "
    "pinned release in its own venv, cloud-init for ConfigDrive and OpenStack. The build runs on "
    "this host or on a builder of the target architecture over ssh (-i); the image and the "
    "build log land in images/ as <distro>_<release>_<db>_<x_y>[_c|_e].qcow2 and .log.")

EPILOG = (
    "Builder login (dbimagerc variables): DBIMAGE_DIB_PRIVATE_SSH_KEY (key file) or "
    "DBIMAGE_DIB_PASSWD (needs sshpass); DBIMAGE_DIB_SSH_PORT. DBIMAGE_MYELEMENTS adds element "
    "folders from elements/. DIB_DISTRIBUTION_MIRROR and DIB_DEBIAN_SECURITY_MIRROR override the "
    "mirrors read from the builder's apt sources; http_proxy, https_proxy and no_proxy pass "
    "through. Run 'imagekit make --table' for the supported databases.")


def add_original_options(p: argparse.ArgumentParser) -> None:
    """The original dbimage-make options, same letters and meaning."""
    p.add_argument("-d", dest="database", metavar="DB",
                   help="database: " + ", ".join(recipes.databases()))
    p.add_argument("-v", dest="db_version", metavar="VERSION",
                   help="database version; x.y.z is cut to x.y (default: the first entry of the "
                        "source in the recipe table)")
    ed = p.add_mutually_exclusive_group()
    ed.add_argument("-c", dest="community", action="store_true",
                    help="community edition (the vendor's repository)")
    ed.add_argument("-e", dest="enterprise", action="store_true",
                    help="enterprise edition (you accept the vendor's terms)")
    p.add_argument("-k", dest="key", metavar="KEY",
                   help="for DBA access: an ssh public key file put into the guest user's "
                        "authorized_keys, or (without -I) a Nova keypair name the upload reads "
                        "from the cloud; no private key is ever baked in")
    p.add_argument("-i", dest="builder", metavar="HOST",
                   help="build on this host over ssh: [USER@]HOST[:PORT] (default: this host; "
                        "'localhost' means this host without ssh)")
    p.add_argument("-b", dest="user", metavar="USER", default=None,
                   help="ssh user on the builder and the guest user in the image (default: ubuntu)")
    p.add_argument("-p", dest="package", metavar="PKG",
                   help="your own database package instead of the table's: a .deb, or a tar/tgz/bz2 "
                        "whose root holds setup.sh (run inside the build); needs -v")
    p.add_argument("-I", dest="build_only", action="store_true",
                   help="build the qcow2 only: never contact a cloud")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from imagekit.cli import common_options
    # A fresh copy of the general options: -v is the database version here
    # (--verbose stays), as in the original dbimage-make.
    p = sub.add_parser("make", parents=[common_options()], conflict_handler="resolve",
                       help="build a Trove guest database image with diskimage-builder",
                       description=DESCRIPTION, epilog=EPILOG)
    add_original_options(p)
    g = p.add_argument_group("imagekit options")
    g.add_argument("--release", choices=recipes.release_names(), default=None,
                   help=f"distribution release of the image (default: {recipes.default_release()})")
    g.add_argument("--style", choices=("native", "container"), default=None,
                   help="native: the database installed in the image; container: the "
                        "distribution's docker, the database runs as a container (default: what "
                        "the --trove-release agent runs: container from victoria on, see --table)")
    g.add_argument("--db-image", metavar="SPEC", default=None,
                   help="container style: the database's container image, preloaded into the "
                        "image so that an instance needs no registry: 'distro' (default: built "
                        "from the release's own packages), a docker-archive/OCI archive FILE, or "
                        "a registry REF pulled on this host")
    g.add_argument("--trove-release", metavar="SERIES", default=None,
                   help="OpenStack series (or trove version) of the guest agent; must match the "
                        f"controller's Trove (default: {releases.default_series()})")
    g.add_argument("--trove-source", metavar="SRC", default="pypi",
                   help="where trove comes from: pypi (default), a git URL (git+https://...@REF) "
                        "or a local trove tree")
    g.add_argument("--trove-from-index", action="store_true",
                   help="pip install trove inside the build from the package index instead of "
                        "this host's wheelhouse (this host's CA bundle is passed in for the build "
                        "only); automatic for a foreign architecture without binary wheels")
    g.add_argument("--arch", metavar="ARCH", default=None,
                   help="image architecture (amd64/x86_64, ppc64el/ppc64le, arm64); must be the "
                        "builder's unless --cross (default: the builder's)")
    g.add_argument("--cross", action="store_true",
                   help="allow an architecture other than the builder's (qemu-user emulation: slow)")
    g.add_argument("--output-dir", metavar="DIR", type=Path, default=None,
                   help="where the image and log go (default: images/ of the tree)")
    g.add_argument("--no-compress", dest="compress", action="store_false",
                   help="skip qcow2 compression (faster, larger)")
    g.add_argument("--image-size", metavar="GB", type=int, default=None,
                   help="image size in GB (default: DIB's estimate)")
    g.add_argument("--debug-agent", action="store_true",
                   help="guest agent debug logging (the original's DIB_MYDEBUG=true)")
    g.add_argument("--dry-run", action="store_true", help="print the build plan and stop")
    g.add_argument("--table", action="store_true",
                   help="print the supported databases, versions and sources, and which "
                        "datastores each trove release's agent runs (and how), and stop")
    g.add_argument("--os-cloud", dest="clouds", action="append", metavar="CLOUD", default=[],
                   help="without -I: the cloud(s) the image is uploaded to by 'imagekit upload' "
                        "(default: OS_CLOUD)")
    g.add_argument("--json", dest="json_events", action="store_true",
                   help="progress as JSON event lines on stdout, the result as the last line")
    p.set_defaults(func=run)


def _is_this_host(name: str) -> bool:
    short, full = socket.gethostname(), socket.getfqdn()
    return name in ("localhost", short, full, short.split(".")[0])


def plan_from_args(args: argparse.Namespace) -> BuildPlan:
    """Resolve the options, the recipe table and the environment into a plan."""
    if not args.database:
        raise UsageError("-d <database> must be specified",
                         f"one of: {', '.join(recipes.databases())}")
    rel = releases.lookup(getattr(args, "trove_release", None) or releases.default_series())
    if args.database in recipes.databases():
        # what the agent of that release can run decides before any recipe
        recipes.check_agent_runs(args.database, getattr(args, "style", None), rel.series,
                                 getattr(args, "release", None))
    recipe = recipes.resolve(args.database, args.db_version, community=args.community,
                             enterprise=args.enterprise, release=getattr(args, "release", None),
                             style=getattr(args, "style", None), package=args.package,
                             trove_release=rel.series)
    if not rel.pin:
        raise UsageError(f"no trove version is pinned for the {rel.series} series",
                         "pin one in recipes/trove-releases.yaml or choose a newer --trove-release")
    guest_user = args.user or "ubuntu"
    target = None
    if args.builder and not _is_this_host(args.builder.split("@")[-1].split(":")[0]):
        target = parse_target(args.builder, args.user)
    key = keypair = None
    if args.key and (args.build_only or is_key_file(args.key)):
        key = read_public_key(args.key)
    elif args.key:
        keypair = args.key
    out = getattr(args, "output_dir", None) or paths.images_dir()
    return BuildPlan(
        recipe=recipe, trove_version=rel.pin, trove_release=rel.series,
        trove_source=getattr(args, "trove_source", "pypi"), guest_user=guest_user, target=target,
        arch=getattr(args, "arch", None), cross=getattr(args, "cross", False),
        output_dir=Path(out).resolve(), compress=getattr(args, "compress", True),
        image_size_gb=getattr(args, "image_size", None),
        extra_elements=extra_elements_from_env(dict(os.environ), remote=target is not None),
        authorized_key=key,
        agent_debug=getattr(args, "debug_agent", False) or
        os.environ.get("DIB_MYDEBUG", "").lower() == "true",
        build_only=args.build_only, keypair=keypair,
        trove_from_index=getattr(args, "trove_from_index", False),
        clouds=tuple(getattr(args, "clouds", None) or ()),
        db_image=getattr(args, "db_image", None),
    )


def print_plan(plan: BuildPlan) -> None:
    width = max(len(k) for k, _ in plan.summary())
    for k, v in plan.summary():
        ui.out.print(f"{k.ljust(width)}  {v}", markup=False)


def run(args: argparse.Namespace) -> int:
    if args.table:
        ui.out.print(recipes.table_text(args.database), markup=False)
        ui.out.print("", markup=False)
        ui.out.print(releases.datastore_table_text((args.database,) if args.database in
                                                   recipes.databases() else None), markup=False)
        return 0
    try:
        plan = plan_from_args(args)
    except recipes.RecipeMiss as miss:
        ui.err.print(miss.table, markup=False)
        raise
    if args.dry_run:
        print_plan(plan)
        return 0
    return execute(plan)


def execute(plan: BuildPlan) -> int:
    from imagekit.build import handoff
    from imagekit.build.make import make
    if not plan.build_only:
        # Without -I the original uploaded and registered the image: that is
        # `imagekit upload`'s job; refuse before building rather than after.
        handoff.require(plan.clouds)
    result = make(plan)
    ui.event("result", image=str(result.image), log=str(result.log), arch=result.arch,
             builder=result.builder, seconds=round(result.seconds, 1))
    ui.info(f"built {result.image} ({result.image.stat().st_size / 2**20:.0f} MiB, "
            f"{result.arch}, {result.seconds:.0f} s); log: {result.log}")
    if not plan.build_only:
        return handoff.upload(plan, result.image)
    return 0
