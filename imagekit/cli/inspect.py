"""`imagekit inspect IMAGE [--json]`: what is in a Trove guest image."""
from __future__ import annotations

import argparse
import json

from imagekit import report, ui
from imagekit.guest.image import check_image
from imagekit.guest.session import Appliance


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "inspect", parents=[common], help="report what is inside a guest image (read-only)",
        description="Report format, sizes, partitions and filesystems, the OS, the Trove guest "
                    "agent, database packages, cloud-init, ssh keys and /etc/trove/conf.d of one "
                    "or more images. Opens them read-only in one appliance launch: the files' "
                    "bytes and mtimes do not change.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="qcow2 or raw image file")
    p.add_argument("--json", action="store_true",
                   help="print the report as JSON (schema imagekit.inspect/1, docs/inspect-schema.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    images = [check_image(p) for p in args.images]
    reports = []
    with Appliance() as app:
        for img in images:
            app.add(img, readonly=True)
        app.launch()
        for i, img in enumerate(images):
            guest = app.inspect(i)
            app.mount(guest, readonly=True)
            with ui.step(f"reading {img.path.name}"):
                reports.append(report.build(app, img, guest))
            app.umount()
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))
    else:
        for r in reports:
            report.render(r, ui.out)
    return 0
