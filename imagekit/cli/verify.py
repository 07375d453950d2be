"""`imagekit verify IMAGE -d DB -v VERSION`: boot the image as a real Trove
instance in the devcloud and prove it becomes ACTIVE and serves its
database (docs/devcloud-compute.md says how the devcloud boots it)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from imagekit import ui
from imagekit.errors import UsageError, VerifyFailed

DESCRIPTION = (
    "Boot IMAGE as a Trove instance in the devcloud (imagekit devcloud: real Keystone, Glance, "
    "Nova API, Trove API, taskmanager, conductor and RabbitMQ; servers run as local qemu VMs) "
    "and watch it: VM started, kernel up, cloud-init wrote the injected files, agent started, "
    "agent connected to the bus, prepare received, database container healthy, conductor saw "
    "HEALTHY, API ACTIVE, query answered (a user made through the Trove API, a query with the "
    "database's own client through the forwarded port). IMAGE goes to the devcloud's Glance and "
    "a throw-away datastore version points at it; without IMAGE the image datastore version "
    "DB VERSION already points at is booted. On failure the phase that stalled and the first "
    "real error (the agent's log, read from the VM's disk through libguestfs, and the console) "
    "are printed with a hint, exit status 6. The instance, its VM and everything thrown away "
    "are removed afterwards, also on Ctrl-C; --keep leaves them for a look "
    "(imagekit shell --write never needed: the server's disk is an overlay). Note: here -v is "
    "the datastore version; --verbose says more.")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from imagekit.cli import common_options
    p = sub.add_parser("verify", parents=[common_options()], conflict_handler="resolve",
                       help="boot an image as a Trove instance in the devcloud and query it",
                       description=DESCRIPTION)
    p.add_argument("image", nargs="?", metavar="IMAGE",
                   help="the image to boot (default: the one DB VERSION points at)")
    p.add_argument("-d", "--datastore", required=True, metavar="DB",
                   help="the datastore: postgresql, mariadb or mysql")
    p.add_argument("-v", "--datastore-version", required=True, metavar="VERSION",
                   help="the datastore version (e.g. 15): the agent runs <docker_image>:VERSION")
    p.add_argument("--os-cloud", default="devcloud", metavar="CLOUD",
                   help="the devcloud's cloud name (default: devcloud)")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="the devcloud's state folder (default: ~/.cache/imagekit/devcloud)")
    p.add_argument("--timeout", type=float, default=1200.0, metavar="S",
                   help="seconds from create to ACTIVE before giving up (default: 1200; TCG "
                        "boots take 4-8 min here)")
    p.add_argument("--keep", action="store_true",
                   help="leave the instance, its VM's disk overlay and console log afterwards")
    p.add_argument("--json", action="store_true", dest="json_out",
                   help="print the result as JSON (schema imagekit.verify/1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imagekit.verify.runner import VerifyOptions, verify
    image = Path(args.image).expanduser() if args.image else None
    if image is not None and not image.exists():
        raise UsageError(f"{args.image}: no such image file")
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    res = verify(VerifyOptions(image=image, datastore=args.datastore,
                               version=args.datastore_version, cloud=args.os_cloud,
                               state_dir=args.state_dir, timeout=args.timeout, keep=args.keep))
    if args.json_out:
        ui.out.print(json.dumps(res.to_json(), indent=2), markup=False, highlight=False)
    else:
        for p in res.phases:
            mark = f"{p.seconds:7.1f} s" if p.seconds is not None else "      -  "
            ui.out.print(f"  {mark}  {p.title}", markup=False)
        if res.ok:
            ui.out.print(f"verified: {args.datastore} {args.datastore_version} instance "
                         f"{res.instance_id} ACTIVE, HEALTHY, {res.query}", markup=False)
        if res.kept:
            ui.out.print("kept: " + ", ".join(f"{k} {v}" for k, v in res.kept.items()),
                         markup=False)
    if not res.ok:
        where = f"stalled before '{res.stalled}': " if res.stalled else ""
        raise VerifyFailed(f"{where}{res.error}", res.hint)
    return 0
