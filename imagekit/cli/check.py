"""`imagekit check IMAGE [IMAGE...]`: the reasons an instance from an image
would stay in BUILD, found before upload (docs/checks.md lists them all)."""
from __future__ import annotations

import argparse
import json
import re
from typing import Any

from imagekit import ui
from imagekit.check import render
from imagekit.check.offline import DEFAULT_MIN_FREE, STYLES, CheckOptions, human
from imagekit.check.runner import check_images
from imagekit.errors import CheckFailed, UsageError

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024 ** 2, "mb": 1000 ** 2,
          "mib": 1024 ** 2, "g": 1024 ** 3, "gb": 1000 ** 3, "gib": 1024 ** 3, "t": 1024 ** 4,
          "tb": 1000 ** 4, "tib": 1024 ** 4}


def parse_size(text: str) -> int:
    """'256M', '1G', '1.5GiB', '1000000' -> bytes (K/M/G/T are binary)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"not a size: '{text}' (examples: 256M, 1G, 1.5GiB)")
    return int(float(m.group(1)) * _UNITS[unit])


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "check", parents=[common], conflict_handler="resolve",
        help="find the reasons an instance would stay in BUILD, before upload",
        description="Check Trove guest images offline for the reasons an instance would stay in "
                    "BUILD: the guest agent and its unit, its Trove release, cloud-init and its "
                    "datasources, the guest user and /etc/trove/conf.d, per-instance values, "
                    "keys, passwords and controller secrets baked in, the database runtime, "
                    "free space and the qcow2 file itself; with --os-cloud also the controller's "
                    "release, the image's visibility to Trove, the datastore version's image "
                    "tags and its flavors. Several images are checked in one appliance launch, "
                    "read-only. Each finding has a stable id (docs/checks.md), a severity, a "
                    "message and a fix; the exit status is 4 when an error was found. Note: "
                    "here -v is the datastore version; --verbose says more.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="qcow2 or raw image file")
    p.add_argument("--os-cloud", metavar="CLOUD",
                   help="also run the cloud-aware checks against this clouds.yaml cloud")
    p.add_argument("-d", "--datastore", metavar="DB",
                   help="the datastore the image is for (mysql, mariadb, postgresql, ...)")
    p.add_argument("-v", "--datastore-version", metavar="VER",
                   help="the datastore version (needs -d)")
    p.add_argument("--style", choices=STYLES,
                   help="how the database runs: native (a package in the image) or container "
                        "(docker; Victoria and later). Default: told from the image")
    p.add_argument("--guest-user", metavar="USER",
                   help="the user Trove's injected files are owned by (trove.conf "
                        "injected_config_owner); default: the agent unit's User=, else ubuntu")
    p.add_argument("--config-drive", action="store_true",
                   help="the cloud's Trove delivers user-data on a config drive "
                        "(use_nova_server_config_drive=True); default: the metadata service")
    p.add_argument("--allow-baked-config", action="store_true",
                   help="controller secrets in /etc/trove are warnings, not errors")
    p.add_argument("--min-free", type=parse_size, default=DEFAULT_MIN_FREE, metavar="SIZE",
                   help=f"free space the root filesystem needs (default {human(DEFAULT_MIN_FREE)};"
                        " K, M, G, T are binary units)")
    p.add_argument("--trove-release", metavar="SERIES",
                   help="the controller's Trove release (2026.2, epoxy or a trove version); "
                        "default: asked from the cloud")
    p.add_argument("--service-project", metavar="PROJECT", default="service",
                   help="Trove's service project, for the image visibility check "
                        "(default: service)")
    p.add_argument("--glance-image", metavar="ID|NAME",
                   help="the image's copy in Glance (default: found by its checksum)")
    p.add_argument("--json", action="store_true",
                   help="print the findings as JSON (schema imagekit.check/1)")
    p.set_defaults(func=run)


def options(args: argparse.Namespace) -> CheckOptions:
    if args.datastore_version and not args.datastore:
        raise UsageError("-v/--datastore-version needs -d/--datastore", "give both: -d mysql -v 8.4")
    if args.trove_release:
        from imagekit import releases
        from imagekit.errors import RecipeError
        try:
            releases.lookup(args.trove_release)
        except RecipeError as exc:
            raise UsageError(exc.message, exc.hint) from None
    return CheckOptions(db=args.datastore, version=args.datastore_version, style=args.style,
                        guest_user=args.guest_user, allow_baked_config=args.allow_baked_config,
                        min_free=args.min_free, config_drive=args.config_drive,
                        trove_release=args.trove_release, service_project=args.service_project,
                        glance_image=args.glance_image)


def connect(cloud: str) -> Any:
    from imagekit.cloud.connect import connect as cloud_connect
    return cloud_connect(cloud)


def run(args: argparse.Namespace) -> int:
    opts = options(args)
    conn = connect(args.os_cloud) if args.os_cloud else None
    results = check_images(args.images, opts, conn=conn)
    if args.json:
        print(json.dumps(render.to_json(results), indent=2))
    else:
        render.render(results, ui.out)
    errors = sum(len(r.errors) for r in results)
    if errors:
        bad = sum(1 for r in results if r.errors)
        ids = sorted({f.id for r in results for f in r.errors})
        raise CheckFailed(f"{errors} error(s) in {bad} of {len(results)} image(s): "
                          f"{', '.join(ids)}",
                          "each finding's fix says what to change (docs/checks.md explains "
                          "every id)")
    return 0
