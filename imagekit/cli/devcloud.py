"""`imagekit devcloud up|down|status`: a throw-away local Trove control plane
(real Keystone, Glance, Nova API and Trove API on 127.0.0.1) for tests and
the demo."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rich.table import Table

from imagekit import ui
from imagekit.cloud import devcloud
from imagekit.cloud.devcloud.layout import default_state_dir, default_venv

DESCRIPTION = (
    "A throw-away local Trove control plane for tests and the demo: Keystone, Glance, the "
    "Nova API and the Trove API, installed from PyPI into their own venv (pinned; ~550 MB, "
    "installed on first use), served by gunicorn on 127.0.0.1 with sqlite. 'up' registers the "
    "catalog (a 'service' project with glance, nova and trove users), a second project with "
    "its own admin user, and writes a clouds.yaml with two clouds: NAME (admin) and "
    "NAME-second. No instance can boot: there is no compute node, scheduler, message bus, "
    "Cinder or Neutron.")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("devcloud", parents=[common], help="a local Trove control plane for tests "
                       "and the demo (up, down, status)", description=DESCRIPTION)
    place = argparse.ArgumentParser(add_help=False)
    place.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                       help=f"where configs, databases, logs and pid files live (default: "
                            f"IMAGEKIT_DEVCLOUD_DIR or {_home(default_state_dir())})")
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    u = cmds.add_parser("up", parents=[common, place], help="start it (idempotent)",
                        description="Start the devcloud, or reuse it when it already runs with "
                                    "the same ports. The last line on stdout is the clouds.yaml "
                                    "path. Holds a lock on the state folder, so concurrent 'up's "
                                    "start it once.")
    u.add_argument("--ports", default=None, metavar="auto|K,G,N,T",
                   help="ports for Keystone, Glance, Nova and Trove: four numbers, or 'auto' for "
                        "free ones (default: the ports it last ran on, else 5000,9292,8774,8779)")
    u.add_argument("--fresh", action="store_true",
                   help="stop it and delete its databases, keys and images first")
    u.add_argument("--cloud-name", default="devcloud", metavar="NAME",
                   help="name of the cloud in clouds.yaml; the second project's cloud is "
                        "NAME-second (default: devcloud)")
    u.add_argument("--venv", type=Path, default=None, metavar="DIR",
                   help=f"the services' venv (default: IMAGEKIT_DEVCLOUD_VENV or "
                        f"{_home(default_venv())})")
    u.set_defaults(func=run_up)

    d = cmds.add_parser("down", parents=[common, place], help="stop it",
                        description="Stop the processes this devcloud started (pid files, "
                                    "checked against each process's command line before it is "
                                    "signalled; SIGTERM to its process group, SIGKILL after 15 s).")
    d.add_argument("--purge", action="store_true",
                   help="also delete its state (databases, keys, images, logs, clouds.yaml)")
    d.set_defaults(func=run_down)

    s = cmds.add_parser("status", parents=[common, place], help="say whether it runs",
                        description="Show each service's pid, port and whether it answers, and "
                                    "the clouds.yaml path. Exits 0 when all four run, 1 otherwise.")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.set_defaults(func=run_status)


def _home(path: Path) -> str:
    home = str(Path.home())
    s = str(path)
    return "~" + s[len(home):] if s.startswith(home + "/") else s


def _options(args: argparse.Namespace, **extra) -> devcloud.Options:
    kw = dict(extra)
    if args.state_dir is not None:
        kw["state_dir"] = args.state_dir
    if getattr(args, "venv", None) is not None:
        kw["venv"] = args.venv
    return devcloud.Options(**kw)


def run_up(args: argparse.Namespace) -> int:
    extra: dict = {"fresh": args.fresh, "cloud_name": args.cloud_name}
    if args.ports == "auto":
        extra["auto_ports"] = True
    elif args.ports:
        extra["ports"] = devcloud.Ports.parse(args.ports)
    stack = devcloud.up(_options(args, **extra))
    ui.info(f"clouds: {', '.join(stack.clouds)} (Keystone {stack.url('keystone')}/v3); "
            f"use: export OS_CLIENT_CONFIG_FILE={stack.clouds_yaml}")
    print(stack.clouds_yaml)
    return 0


def run_down(args: argparse.Namespace) -> int:
    opts = _options(args)
    with ui.step("stopping the devcloud" + (" and deleting its state" if args.purge else "")) \
            as step:
        results = devcloud.down(opts, purge=args.purge)
        stopped = [s for s, r in results.items() if r in ("stopped", "killed")]
        step["note"] = f"stopped {', '.join(stopped)}" if stopped else "nothing was running"
    for svc, what in results.items():
        if what == "not ours":
            ui.warn(f"{svc}: the recorded pid now belongs to another process; left alone")
    return 0


def run_status(args: argparse.Namespace) -> int:
    st = devcloud.status(_options(args))
    if args.json:
        print(json.dumps({**asdict(st), "running": st.running}, indent=2))
        return 0 if st.running else 1
    t = Table(show_header=True)
    for col in ("service", "port", "pid", "state", "http", "log"):
        t.add_column(col)
    for s in st.services:
        state = "[green]running[/]" if s.running else "[red]stopped[/]"
        t.add_row(s.name, str(s.port or "-"), str(s.pid or "-"), state,
                  str(s.http or "-"), _home(Path(s.log)))
    ui.out.print(t)
    ui.out.print(f"state: {_home(Path(st.state_dir))}   venv: {_home(Path(st.venv))} "
                 f"({'installed' if st.venv_ready else 'not installed'})")
    if st.clouds_yaml:
        ui.out.print(f"clouds.yaml: {st.clouds_yaml} (clouds: {', '.join(st.clouds)})")
    return 0 if st.running else 1
