"""What a Trove guest image is, in a few words per topic: os (the inspect
report), packages, services, users, keys, trove. Every view reads from the
mounted guest through imagekit.guest.facts (pread, glob: daemon calls)."""
from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import re
from typing import Any

from rich.text import Text

from imagekit import report
from imagekit.guest import facts
from imagekit.shell import paths
from imagekit.shell.session import Session

NO_LOGIN = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", "/bin/sync", "")


def os_(s: Session, a: argparse.Namespace) -> None:
    data = report.build(s.app, s.image, s.guest)
    if a.json:
        s.out.line(json.dumps(data, indent=2))
    else:
        report.render(data, s.out.console)


def packages(s: Session, a: argparse.Namespace) -> None:
    pkgs = facts.packages(s.g, s.guest.root)
    if a.pattern:
        glob = any(c in a.pattern for c in "*?[")
        pkgs = [p for p in pkgs if (fnmatch.fnmatchcase(p.name, a.pattern) if glob
                                    else a.pattern in p.name)]
    dbs = {p.name for p in facts.database_packages(pkgs)}
    rows = [[p.name, p.version, "database" if p.name in dbs else ""] for p in pkgs]
    if not s.out.rich:
        rows = [r[:2] for r in rows]
    s.out.table(["package", "version", ""][:3 if s.out.rich else 2], rows,
                title=f"{len(rows)} packages ({s.guest.package_format})" if s.out.rich else None)


def services(s: Session, a: argparse.Namespace) -> None:
    """Enabled units (symlinks in *.wants / *.requires of /etc/systemd/system),
    masked units, the default target."""
    g = s.g
    agent_units = set(facts.AGENT_UNIT_NAMES)
    rows = []
    for folder in sorted(g.glob_expand("/etc/systemd/system/*.wants") +
                         g.glob_expand("/etc/systemd/system/*.requires")):
        folder = folder.rstrip("/")
        by = folder.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        found = paths.entries(g, folder)
        targets = _link_targets(g, folder, [e.name for e in found if e.kind == "l"])
        for e in found:
            note = "trove guest agent" if e.name in agent_units else ""
            rows.append([e.name, by, targets.get(e.name, paths.join(folder, e.name)), note])
    rows.sort()
    units = [e.name for e in paths.entries(g, "/etc/systemd/system") if e.kind == "l"]
    masked = [n for n, t in _link_targets(g, "/etc/systemd/system", units).items()
              if t == "/dev/null"]
    s.out.table(["unit", "wanted by", "unit file", ""], rows,
                title=f"{len(rows)} enabled units" if s.out.rich else None)
    default = "/etc/systemd/system/default.target"
    if g.is_symlink(default):
        s.out.line(f"default target: {g.readlink(default).rsplit('/', 1)[-1]}")
    if masked:
        s.out.line(f"masked: {', '.join(masked)}")


def _link_targets(g: Any, folder: str, names: list[str]) -> dict[str, str]:
    return dict(zip(names, g.readlinklist(folder, names), strict=False)) if names else {}


def _group_members(s: Session) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (facts.read_text(s.g, "/etc/group") or "").splitlines():
        parts = line.split(":")
        if len(parts) >= 4:
            for u in filter(None, parts[3].split(",")):
                out.setdefault(u, []).append(parts[0])
    return out


def _password_state(pw: str) -> str:
    if not pw:
        return "EMPTY or no shadow entry"
    if pw in ("*", "!", "!!", "!*") or pw.startswith("!"):
        return "locked"
    return "set"


def users(s: Session, a: argparse.Namespace) -> None:
    table = facts.passwd(s.g)
    members = _group_members(s)
    _, gnames = s.owners()
    keys = {k.user: k.keys for k in facts.authorized_keys(s.g, table)}
    rows = []
    for u in table.values():
        login = u.shell not in NO_LOGIN
        if not (a.all or login or u.uid == 0 or u.name in keys):
            continue
        rows.append([u.name, str(u.uid), gnames.get(u.gid, str(u.gid)), u.home, u.shell,
                     _password_state(u.password), ",".join(members.get(u.name, [])),
                     str(keys.get(u.name, 0))])
    s.out.table(["user", "uid", "group", "home", "shell", "password", "groups", "ssh keys"], rows,
                title=(f"{len(rows)} of {len(table)} users" + ("" if a.all else
                       " (login shell or ssh keys; -a for all)")) if s.out.rich else None)


# -- keys -------------------------------------------------------------------------
KEY_TYPES = re.compile(r"^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-\S+|sk-\S+)$")


def fingerprint(line: str) -> tuple[str, str, str] | None:
    """(type, SHA256 fingerprint, comment) of an OpenSSH public key line,
    options (command="...") allowed before the key type."""
    fields = line.split()
    for i, f in enumerate(fields[:-1]):
        if KEY_TYPES.match(f):
            try:
                blob = base64.b64decode(fields[i + 1], validate=True)
            except ValueError:
                return None
            fp = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
            return f, f"SHA256:{fp}", " ".join(fields[i + 2:])
    return None


def keys(s: Session, a: argparse.Namespace) -> None:
    g = s.g
    users_by_id, groups_by_id = s.owners()
    rows = []
    for k in facts.host_keys(g):
        priv = f"/etc/ssh/ssh_host_{k.type}_key"
        mode = ""
        if k.private:
            st = g.lstatns(priv)
            mode = f"{st['st_mode'] & 0o7777:04o} {users_by_id.get(st['st_uid'], st['st_uid'])}"
        fp = fingerprint(facts.read_text(g, priv + ".pub") or "") if k.public else None
        rows.append([k.type, "yes" if k.private else "MISSING", mode,
                     fp[1] if fp else ("MISSING" if not k.public else "unreadable")])
    if rows:
        s.out.table(["host key", "private", "mode", "public key fingerprint"], rows,
                    title="ssh host keys (/etc/ssh)" if s.out.rich else None)
    else:
        s.out.line("no ssh host keys (they are made at first boot, if the image does that)")
    ak_rows = []
    for ak in facts.authorized_keys(g, facts.passwd(g)):
        text = facts.read_text(g, ak.path) or ""
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                fp = fingerprint(line)
                ak_rows.append([ak.user, ak.path, fp[0] if fp else "?",
                                fp[1] if fp else "unparsable line", fp[2] if fp else ""])
    if ak_rows:
        s.out.table(["user", "file", "type", "fingerprint", "comment"], ak_rows,
                    title="authorized_keys" if s.out.rich else None)
    else:
        s.out.line("no authorized_keys")


# -- trove ------------------------------------------------------------------------
SECRET_KEY = re.compile(r"(pass(word)?|secret|token|credential|private|_key|^key)\s*$", re.I)
URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]+)(@)")
MASK = "****"


def mask(text: str) -> str:
    """Config text with secrets replaced by ****: values of keys that name
    a password/secret/token/key, and passwords inside URLs (transport_url,
    connection)."""
    out = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if not stripped.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            if SECRET_KEY.search(key) and value.strip():
                line = f"{key}= {MASK}"
            else:
                line = URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", line)
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def trove(s: Session, a: argparse.Namespace) -> None:
    g = s.g
    ag = facts.agent(g)
    rows: list[tuple[str, str]] = []
    if ag.installed and ag.path:
        rows.append(("agent", f"{ag.path} ({ag.kind})"))
        rows.append(("trove version", ag.version or "unknown"))
        rows.append(("release", ag.release or "unknown"
                     + (f" (build record says {ag.recorded_release})"
                        if ag.recorded_release and ag.recorded_release != ag.release else "")))
    else:
        rows.append(("agent", "not installed" if not ag.installed else "unit only, no trove package"))
    u = ag.unit
    if u:
        rows.append(("unit", f"{u.name} ({u.path})"))
        rows.append(("enabled", "yes" if u.enabled else "NO: the agent will not start at boot"))
        rows.append(("runs as", u.user or "root"))
        rows.append(("exec", u.exec_start or "?"))
        rows.append(("reads conf.d", "yes" if u.reads_conf_d else
                     "NO: ExecStart has no --config-dir=/etc/trove/conf.d"))
    else:
        rows.append(("unit", "none found (" + ", ".join(facts.AGENT_UNIT_NAMES) + ")"))
    users_by_id, groups_by_id = s.owners()
    conf = facts.list_dir(g, "/etc/trove/conf.d", users_by_id, groups_by_id)
    if g.is_dir("/etc/trove/conf.d", followsymlinks=True):
        st = g.lstatns("/etc/trove/conf.d")
        rows.append(("conf.d", f"/etc/trove/conf.d {st['st_mode'] & 0o7777:04o} "
                               f"{users_by_id.get(st['st_uid'], st['st_uid'])}:"
                               f"{groups_by_id.get(st['st_gid'], st['st_gid'])}, "
                               f"{len(conf)} file(s)"))
    else:
        rows.append(("conf.d", "/etc/trove/conf.d is missing"))
    record = facts.read_text(g, "/etc/imagekit/manifest.json")
    rows.append(("imagekit manifest", "/etc/imagekit/manifest.json" if record else "none"))
    s.out.pairs(rows, title="Trove guest agent" if s.out.rich else None)
    files = conf + [f for f in facts.list_dir(g, "/etc/trove", users_by_id, groups_by_id)
                    if f.path.endswith(".conf")]
    for f in files:
        s.out.line()
        s.out.styled(Text(f"{f.path} ({f.mode} {f.owner}:{f.group}, {f.size} bytes)", style="bold"))
        text = facts.read_text(g, f.path)
        if text is None:
            s.out.line("(not a regular file)")
        elif text.strip():
            masked = mask(text)
            if s.out.rich:
                s.out.console.print(s.out.highlighted(f.path + ".ini", masked))
            else:
                s.out.raw(masked.encode())
        else:
            s.out.line("(empty)")
