"""`imagekit flavor show|change|upload`: the database flavors — the
predefined table (recipes/flavors.yaml), the user's overrides (config dir),
and public `<db>-<size>` Nova flavors in one or more clouds."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rich.table import Table

from imagekit import flavors, ui
from imagekit.cloud import flavors as nova
from imagekit.errors import CloudError

DESCRIPTION = (
    "The database flavors: five sizes (tiny, small, medium, large, xlarge) per database, with "
    "vCPUs, RAM and root disk from the predefined table (recipes/flavors.yaml). 'change' stores "
    "an override in the user's config folder (IMAGEKIT_CONFIG_DIR or ~/.config/imagekit/"
    "flavors.yaml); 'upload' creates them as public Nova flavors named DB-SIZE.")


def _db_choices() -> str:
    return ", ".join(flavors.table().databases)


def add_show_options(p: argparse.ArgumentParser, *, db_required: bool) -> None:
    p.add_argument("-d", "--db", dest="db", required=db_required, metavar="DB",
                   help=f"the database ({_db_choices()})" + ("" if db_required else
                                                            "; default: all of them"))
    p.add_argument("-p", "--predefined", action="store_true",
                   help="show the predefined defaults, without the overrides")


def add_change_options(p: argparse.ArgumentParser) -> None:
    lim = flavors.table().limits
    p.add_argument("-d", "--db", dest="db", required=True, metavar="DB",
                   help=f"the database ({_db_choices()})")
    p.add_argument("-f", "--flavor", dest="size", required=True, metavar="SIZE",
                   help=f"the flavor size ({', '.join(flavors.table().sizes)})")
    p.add_argument("-c", "--vcpus", metavar="N",
                   help=f"number of vCPUs, {lim['vcpus'][0]}-{lim['vcpus'][1]}; -1 restores the "
                        "default")
    p.add_argument("-m", "--ram", metavar="MB",
                   help=f"RAM in MB, {lim['ram'][0]}-{lim['ram'][1]}; -1 restores the default")
    p.add_argument("-r", "--disk", metavar="GB",
                   help=f"root disk in GB, {lim['disk'][0]}-{lim['disk'][1]}; -1 restores the "
                        "default")


def add_upload_options(p: argparse.ArgumentParser, *, db_help_suffix: str = "") -> None:
    p.add_argument("-d", "--db", dest="db", required=True, metavar="DB",
                   help=f"the database ({_db_choices()}){db_help_suffix}")
    p.add_argument("--os-cloud", action="append", metavar="CLOUD",
                   help="a cloud in clouds.yaml; repeat for several clouds (default: OS_CLOUD, "
                        "or the only cloud defined)")
    p.add_argument("--replace", action="store_true",
                   help="delete and recreate flavors whose values differ from the table (Nova "
                        "cannot edit a flavor; running instances keep their copy)")
    p.add_argument("--dry-run", action="store_true",
                   help="say what would be created or replaced; change nothing")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("flavor", parents=[common], help="show, change and upload the database "
                       "flavors", description=DESCRIPTION)
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    s = cmds.add_parser("show", parents=[common], help="show the flavors of a database",
                        description="Show the flavors in effect (overrides merged over the "
                                    "defaults; the CHANGED column says which differ), or with -p "
                                    "the predefined defaults. -d filters by the exact name.")
    add_show_options(s, db_required=False)
    s.add_argument("--json", action="store_true", help="print the flavors as JSON")
    s.set_defaults(func=run_show)

    c = cmds.add_parser("change", parents=[common], help="change a flavor's vCPUs, RAM or disk",
                        description="Change one flavor's values. At least one of -c, -m, -r; "
                                    "-1 restores that value's default. The override is stored "
                                    "once per flavor, and removed when the values equal the "
                                    "defaults again. Prints the database's flavors afterwards.")
    add_change_options(c)
    c.set_defaults(func=run_change)

    u = cmds.add_parser("upload", parents=[common], help="create the flavors in Nova",
                        description="Create the database's flavors (as shown by 'show') as "
                                    "public Nova flavors DB-SIZE, no ephemeral disk, no swap. "
                                    "Idempotent: an existing flavor with the same values is "
                                    "skipped; one with other values is reported (exit status 3) "
                                    "and left alone unless --replace.")
    add_upload_options(u)
    u.add_argument("--json", action="store_true", help="print the outcome as JSON")
    u.set_defaults(func=run_upload)


# --- show -------------------------------------------------------------------------

def selected(db: str | None, predefined: bool) -> list[flavors.Flavor]:
    if db:
        flavors.check_db(db)
    return flavors.defaults(db) if predefined else flavors.current(db)


def render_table(rows: list[flavors.Flavor], *, predefined: bool) -> None:
    t = Table(show_header=True)
    for col, justify in (("flavor", "left"), ("vCPUs", "right"), ("RAM (MB)", "right"),
                         ("disk (GB)", "right"), ("changed", "left")):
        t.add_column(col, justify=justify)
    for f in rows:
        if predefined or not flavors.is_changed(f):
            mark = ""
        else:
            d = flavors.table().flavors[(f.db, f.size)]
            mark = f"yes (default {d.vcpus}/{d.ram}/{d.disk})"
        t.add_row(f.name, str(f.vcpus), str(f.ram), str(f.disk), mark)
    ui.out.print(t)


def render_plain(rows: list[flavors.Flavor]) -> None:
    """The original dbflavor-show's fixed-width columns."""
    ui.out.print(f"{'NAME':<12}{'FLAVOR':<10}{'VCPUS':>7}{'MEM(MBs)':>11}{'VDISK1(GBs)':>13}",
                 markup=False)
    for f in rows:
        ui.out.print(f"{f.db:<12}{f.size:<10}{f.vcpus:>7}{f.ram:>11}{f.disk:>13}", markup=False)


def _as_json(rows: list[flavors.Flavor]) -> list[dict]:
    return [{"name": f.name, **asdict(f), "changed": flavors.is_changed(f)} for f in rows]


def run_show(args: argparse.Namespace) -> int:
    rows = selected(args.db, args.predefined)
    if args.json:
        print(json.dumps(_as_json(rows), indent=2))
    else:
        render_table(rows, predefined=args.predefined)
    return 0


# --- change ---------------------------------------------------------------------

def describe_change(ch: flavors.Change) -> str:
    parts = [f"{flavors.LABELS[a][0]} {getattr(ch.before, a)} -> {getattr(ch.after, a)}"
             for a in flavors.ATTRS if getattr(ch.before, a) != getattr(ch.after, a)]
    if ch.action == "unchanged":
        return f"{ch.after.name}: nothing to change"
    where = flavors.overrides_path()
    if ch.action == "removed":
        return f"{ch.after.name}: {', '.join(parts)} (back to the defaults; override removed)"
    return f"{ch.after.name}: {', '.join(parts)} (stored in {where})"


def do_change(args: argparse.Namespace) -> flavors.Change:
    ch = flavors.change(args.db, args.size, vcpus=args.vcpus, ram=args.ram, disk=args.disk)
    ui.info(describe_change(ch))
    return ch


def run_change(args: argparse.Namespace) -> int:
    do_change(args)
    render_table(flavors.current(args.db), predefined=False)
    return 0


# --- upload ---------------------------------------------------------------------

def do_upload(args: argparse.Namespace) -> list[nova.Outcome]:
    """Upload to every --os-cloud; CloudError (exit 3) at the end when some
    existing flavor differs and --replace was not given."""
    from imagekit.cloud.connect import connect

    wanted = flavors.current(flavors.check_db(args.db))
    outcomes: list[nova.Outcome] = []
    for name in list(dict.fromkeys(args.os_cloud or [])) or [None]:
        conn = connect(name)
        cloud = conn.config.name
        what = "planning" if args.dry_run else "uploading"
        with ui.step(f"{what} {len(wanted)} {args.db} flavors in cloud '{cloud}'") as step:
            done = nova.upload(conn, wanted, cloud=cloud, replace=args.replace,
                               dry_run=args.dry_run)
            counts: dict[str, int] = {}
            for o in done:
                counts[o.action] = counts.get(o.action, 0) + 1
            step["note"] = ", ".join(f"{n} {a}" for a, n in counts.items())
        outcomes += done
    return outcomes


def render_outcomes(outcomes: list[nova.Outcome]) -> None:
    t = Table(show_header=True)
    t.add_column("cloud", no_wrap=True)
    t.add_column("flavor", no_wrap=True)
    t.add_column("vCPUs/RAM MB/disk GB", justify="right", no_wrap=True)
    t.add_column("action")
    for o in outcomes:
        action = o.action + (f": {'; '.join(o.differences)}" if o.differences else "")
        t.add_row(o.cloud, o.flavor.name, f"{o.flavor.vcpus}/{o.flavor.ram}/{o.flavor.disk}",
                  action)
    ui.out.print(t)


def check_differences(outcomes: list[nova.Outcome]) -> None:
    differ = [o for o in outcomes if o.action == nova.DIFFERS]
    if differ:
        listing = "; ".join(f"{o.flavor.name} in '{o.cloud}' ({', '.join(o.differences)})"
                            for o in differ)
        raise CloudError(f"{len(differ)} existing flavor(s) differ from the table and were left "
                         f"alone: {listing}",
                         "run again with --replace to delete and recreate them, or change the "
                         "table's values with 'imagekit flavor change'")


def run_upload(args: argparse.Namespace) -> int:
    outcomes = do_upload(args)
    if args.json:
        print(json.dumps([{"cloud": o.cloud, "flavor": o.flavor.name, "vcpus": o.flavor.vcpus,
                           "ram": o.flavor.ram, "disk": o.flavor.disk, "action": o.action,
                           "differences": list(o.differences), "id": o.flavor_id}
                          for o in outcomes], indent=2))
    else:
        render_outcomes(outcomes)
    check_differences(outcomes)
    return 0
