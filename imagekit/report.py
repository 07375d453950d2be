"""The inspection report of an image: built from one mounted guest, rendered
as rich tables on a terminal or as JSON (schema `imagekit.inspect/1`,
documented in docs/inspect-schema.md; fields are only ever added)."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from imagekit.guest import facts as facts_mod
from imagekit.guest.facts import GuestFacts
from imagekit.guest.image import CheckedImage
from imagekit.guest.session import Appliance, GuestOS

SCHEMA = "imagekit.inspect/1"


def storage(app: Appliance, guest: GuestOS) -> tuple[list[dict], list[dict]]:
    """(partitions, filesystems) of the guest's drive, with space in use for
    the mounted filesystems."""
    layout = app.storage(guest)
    fss = []
    for f in layout["filesystems"]:
        entry: dict[str, Any] = {**f, "used": None, "available": None}
        if entry["mountpoint"] and entry["type"] != "swap":
            try:
                st = app.g.statvfs(entry["mountpoint"])
                entry["used"] = (st["blocks"] - st["bfree"]) * st["frsize"]
                entry["available"] = st["bavail"] * st["frsize"]
            except RuntimeError:
                pass
        fss.append(entry)
    return layout["partitions"], fss


def build(app: Appliance, image: CheckedImage, guest: GuestOS,
          facts: GuestFacts | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict. The guest must be mounted."""
    facts = facts or facts_mod.collect(app.g, guest.root)
    parts, fss = storage(app, guest)
    info = image.info
    agent = asdict(facts.agent)
    return {
        "schema": SCHEMA,
        "image": {"path": str(image.path), "format": info.format,
                  "virtual_size": info.virtual_size, "actual_size": info.actual_size,
                  "backing_file": info.backing_file},
        "partitions": parts,
        "filesystems": fss,
        "root": guest.root,
        "os": {"type": guest.type, "distro": guest.distro, "version": guest.version,
               "major": guest.major, "minor": guest.minor,
               "product_name": facts.os_release.get("PRETTY_NAME") or guest.product_name,
               "codename": facts.os_release.get("VERSION_CODENAME"),
               "arch": guest.arch, "hostname": guest.hostname,
               "package_format": guest.package_format},
        "trove_agent": agent,
        "database_packages": [asdict(p) for p in facts.database_packages],
        "database_services": [{"name": u, "enabled": e}
                              for u, e in facts_mod.database_services(app.g)],
        "packages_total": len(facts.packages),
        "cloud_init": {**asdict(facts.cloud_init),
                       "datasources": list(facts.cloud_init.datasources)
                       if facts.cloud_init.datasources is not None else None},
        "ssh_host_keys": [asdict(k) for k in facts.host_keys],
        "authorized_keys": [{**asdict(a), "comments": list(a.comments)} for a in facts.authorized_keys],
        "trove_conf_d": [asdict(f) for f in facts.trove_conf_d],
    }


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _yn(b: bool) -> str:
    return "yes" if b else "no"


def render(report: dict[str, Any], console: Console) -> None:
    """Human-readable tables (rich; plain text when not a terminal)."""
    img, os_ = report["image"], report["os"]
    t = Table(title=f"{img['path']}", show_header=False, title_justify="left", box=None)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("format", f"{img['format']}, {_size(img['virtual_size'])} virtual, "
                        f"{_size(img['actual_size'])} allocated")
    t.add_row("os", f"{os_['product_name']} ({os_['distro']} {os_['version']}, {os_['arch']})")
    t.add_row("root", report["root"])
    ag = report["trove_agent"]
    if ag["installed"]:
        unit = ag.get("unit") or {}
        t.add_row("trove agent", f"{ag.get('path') or '?'} ({ag.get('kind') or '?'}), "
                                 f"trove {ag.get('version') or '?'}, release {ag.get('release') or '?'}")
        t.add_row("agent unit", f"{unit.get('name', '-')} enabled={_yn(unit.get('enabled', False))}"
                  if unit else "none")
    else:
        t.add_row("trove agent", "not installed")
    dbs = ", ".join(f"{p['name']} {p['version']}" for p in report["database_packages"]) or "none"
    t.add_row("databases", dbs)
    svcs = report.get("database_services") or []
    if svcs:
        t.add_row("database services", ", ".join(f"{s['name']} enabled={_yn(s['enabled'])}"
                                                 for s in svcs))
    ci = report["cloud_init"]
    t.add_row("cloud-init", (f"{ci['version'] or 'installed'}; datasources: "
                             f"{', '.join(ci['datasources']) if ci['datasources'] else 'default (all)'}")
              if ci["installed"] else "not installed")
    keys = ", ".join(k["type"] + ("" if k["private"] and k["public"] else " (partial)")
                     for k in report["ssh_host_keys"]) or "none (regenerated at first boot?)"
    t.add_row("ssh host keys", keys)
    ak = ", ".join(f"{a['user']} ({a['keys']})" for a in report["authorized_keys"]) or "none"
    t.add_row("authorized_keys", ak)
    conf = ", ".join(f"{f['path'].rsplit('/', 1)[1]} {f['mode']} {f['owner']}"
                     for f in report["trove_conf_d"]) or "empty or missing"
    t.add_row("/etc/trove/conf.d", conf)
    console.print(t)
    if report["filesystems"]:
        ft = Table(title="filesystems", title_justify="left")
        for col in ("device", "type", "label", "size", "mounted on", "used", "free"):
            ft.add_column(col)
        for f in report["filesystems"]:
            ft.add_row(f["device"], f["type"], f["label"] or "", _size(f["size"]),
                       f["mountpoint"] or "", _size(f["used"]), _size(f["available"]))
        console.print(ft)
    if report["partitions"]:
        pt = Table(title="partitions", title_justify="left")
        for col in ("device", "table", "start", "size"):
            pt.add_column(col)
        for p in report["partitions"]:
            pt.add_row(p["device"], p["table"], str(p["start"]), _size(p["size"]))
        console.print(pt)
