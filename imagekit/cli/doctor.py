"""`imagekit doctor`: host checks, each failure with a one-line fix."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rich.table import Table

from imagekit import doctor, ui


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "doctor", parents=[common], help="check this host: libguestfs, backend, tools, disk, clouds",
        description="Check what imagekit needs on this host: the libguestfs binding and version, "
                    "qemu-img, which appliance accelerator is used (KVM or TCG) and why, an "
                    "appliance launch and its time, diskimage-builder, free disk where images go, "
                    "clouds.yaml. Exits non-zero when something required is broken.")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--no-launch", action="store_true", help="skip the timed appliance launch")
    p.add_argument("--reprobe", action="store_true",
                   help="forget the cached KVM/TCG verdict and probe again")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.reprobe:
        from imagekit.guest import backend
        backend.forget()
    with ui.step("checking this host"):
        checks = doctor.run_checks(launch=not args.no_launch)
    broken = [c for c in checks if c.status == "fail" and c.required]
    if args.json:
        print(json.dumps({"ok": not broken, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        t = Table(show_header=True)
        for col in ("check", "status", "found", "fix"):
            t.add_column(col)
        style = {"ok": "green", "warn": "yellow", "fail": "red"}
        for c in checks:
            t.add_row(c.name, f"[{style[c.status]}]{c.status}[/]", c.detail, c.fix or "")
        ui.out.print(t)
        if broken:
            ui.out.print(f"{len(broken)} required check(s) failed.")
    return 1 if broken else 0
