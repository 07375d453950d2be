"""`imagekit customize IMAGE -o OUT [operations...]`: change an image in one
appliance launch, on an overlay; the source is never modified.

The operation options come from the operation table (imagekit.engine.plan.
OPERATIONS): their names, metavars and help are said once, there."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from imagekit import ui
from imagekit.engine import OPERATIONS, Plan, load_plan, run_plan
from imagekit.engine.results import RunResult
from imagekit.errors import UsageError

DESCRIPTION = (
    "Apply a plan of operations to a Trove guest image in one libguestfs appliance launch. "
    "The source is opened read-only and changes go to a qcow2 overlay; the output is written "
    "under a temporary name and renamed when everything succeeded, with a provenance manifest "
    "inside the image (/etc/imagekit/manifest.json) and beside it (OUT.manifest.json). "
    "Operations run in command-line order, after those of --plan. Owners are user and group "
    "names resolved through the image's own /etc/passwd and /etc/group. Modes are octal.")
EPILOG = (
    "examples:\n"
    "  imagekit customize golden.qcow2 -o cloud-a.qcow2 --guest-config cloud-a.yaml \\\n"
    "      --ssh-inject ubuntu:file:ops.pub --regen-host-keys --patch release\n"
    "  imagekit customize golden.qcow2 -o cloud-a.qcow2 --plan retarget.yaml --dry-run\n"
    "  imagekit customize golden.qcow2 -o golden-b.qcow2 --thin --write /etc/motd:hello\n"
    "\nThe plan and cloud-profile formats: docs/plan-format.md.")


class _OpAction(argparse.Action):
    """Collect (operation class, value) in command-line order."""

    def __init__(self, option_strings, dest, op_cls=None, **kw):
        self.op_cls = op_cls
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        ops = list(getattr(namespace, self.dest, None) or [])
        ops.append((self.op_cls, values if self.nargs != 0 else None))
        setattr(namespace, self.dest, ops)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("customize", parents=[common],
                       help="change an image in one appliance launch (never modifies the source)",
                       description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", metavar="IMAGE", help="the source image (qcow2 or raw)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="the output image (a standalone qcow2 unless --thin)")
    p.add_argument("--plan", metavar="FILE", type=Path,
                   help="a YAML plan file; its operations run first (docs/plan-format.md)")
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="print the plan and what each operation would change, computed on the "
                        "image opened read-only; nothing is written and no command runs")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--thin", action="store_true",
                      help="write OUT as a qcow2 overlay on IMAGE (relative backing file, same "
                           "folder): a cheap per-cloud variant of a golden image")
    mode.add_argument("--in-place", action="store_true",
                      help="replace IMAGE itself (atomically, when everything succeeded)")
    p.add_argument("--network", action=argparse.BooleanOptionalAction, default=None,
                   help="the appliance's network for commands (default: on when a command runs)")
    p.add_argument("--no-selinux-relabel", action="store_true",
                   help="do not schedule an SELinux relabel even if the image has a policy")
    p.add_argument("--json", dest="json_events", action="store_true",
                   help="JSON event lines on stdout (one per step, then the result)")
    g = p.add_argument_group("operations (applied in command-line order)")
    for cls in OPERATIONS:
        flag = cls.metavar is None
        g.add_argument(f"--{cls.kind}", dest="ops", action=_OpAction, op_cls=cls,
                       nargs=0 if flag else None, metavar=cls.metavar, help=cls.help,
                       default=argparse.SUPPRESS)
    p.set_defaults(func=run)


def build_plan(args: argparse.Namespace) -> Plan:
    base = Path.cwd()
    ops = [cls.from_cli(value, base) for cls, value in getattr(args, "ops", [])]
    plan = load_plan(args.plan) if args.plan else Plan()
    plan = plan + ops
    if args.no_selinux_relabel:
        plan = Plan(plan.operations, selinux_relabel=False, network=plan.network,
                    origin=plan.origin)
    if not plan.operations:
        raise UsageError("no operations given",
                         "give operations (--write, --upload, --guest-config...) or --plan FILE; "
                         "imagekit customize --help lists them")
    return plan


def run(args: argparse.Namespace) -> int:
    plan = build_plan(args)
    plan.validate()
    mode = "thin" if args.thin else "in-place" if args.in_place else "standalone"
    if not args.dry_run and not args.output and mode != "in-place":
        raise UsageError("no output file given", "give -o OUT.qcow2 (or --in-place, or --dry-run)")
    result = run_plan(Path(args.image), plan, Path(args.output) if args.output else None,
                      mode=mode, dry_run=args.dry_run, network=args.network)
    if ui.settings.json_events:
        ui.event("result", **result.to_dict())
    elif args.dry_run:
        render_dry_run(result)
    else:
        render_result(result)
    return 0


def render_dry_run(result: RunResult) -> None:
    out = ui.out
    out.print(f"dry run on {result.source.name} (read-only; nothing written, no command run):")
    for op in result.operations:
        tag = " (implicit)" if op.implicit else ""
        out.print(f"{op.index:3}. {op.summary}{tag}")
        for c in op.changes:
            detail = f"  {c.detail}" if c.detail else ""
            out.print(f"       {c.action:<9} {c.path}{detail}")
        if op.note:
            out.print(f"       note: {op.note}")


def render_result(result: RunResult) -> None:
    size = result.output.stat().st_size if result.output and result.output.exists() else 0
    changed = sum(len(o.changed) for o in result.operations)
    ui.out.print(f"wrote {result.output} ({result.mode}, {size / 2**20:.1f} MiB): "
                 f"{len(result.operations)} operations, {changed} paths changed, "
                 f"{result.launches} appliance launch, {result.seconds:.1f} s")
    ui.out.print(f"manifest {result.manifest_path}")


def dump(result: RunResult) -> str:
    return json.dumps(result.to_dict(), indent=2)
