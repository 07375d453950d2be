"""What the checks need from a mounted guest, read once (pread-based, cheap):
the facts of imagekit.guest.facts plus shadow entries, group members, the
/etc/trove tree with its files' text, private keys, folder permissions and
free space. Everything here only reads; the checks themselves are pure
functions of `GuestEvidence` (offline.py)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from imagekit.guest import facts as facts_mod
from imagekit.guest.facts import GuestFacts

TROVE_DIR = "/etc/trove"
CONF_D = "/etc/trove/conf.d"
# Paths whose permissions decide whether the guest user can write conf.d.
CONF_D_PATH = ("/", "/etc", TROVE_DIR, CONF_D)
# Where guest_info has lived (Kilo+ conf.d, pre-Kilo /etc/guest_info).
GUEST_INFO_PATHS = (f"{CONF_D}/guest_info.conf", "/etc/guest_info")
MAX_SCAN = 1024 * 1024          # files bigger than this under /etc/trove are not read
MAX_FILES = 500
_PRIVATE = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")


@dataclass(frozen=True)
class PathStat:
    path: str
    uid: int
    gid: int
    mode: int          # permission bits only
    is_dir: bool


@dataclass(frozen=True)
class GuestFile:
    path: str
    text: str


@dataclass(frozen=True)
class Space:
    free: int          # bytes available to unprivileged users
    size: int


# -- how the agent's database and the network would run ------------------------------------
BUILD_RECORD = "/etc/imagekit/build.json"
AGENT_DIR = "/opt/trove-guestagent"           # the docker-era agent's prepare markers
DB_IMAGES_INDEX = "/var/lib/imagekit/db-images/index.json"
DOCKER_REPOSITORIES = "/var/lib/docker/image/overlay2/repositories.json"
# Programs whose presence decides which cloud-init network renderer is available.
PROGRAMS = ("/sbin/ifup", "/usr/sbin/ifup", "/sbin/ifdown", "/usr/sbin/ifdown", "/sbin/ifquery",
            "/usr/sbin/ifquery", "/etc/network/interfaces", "/usr/sbin/netplan", "/sbin/netplan",
            "/lib/systemd/systemd-networkd", "/usr/lib/systemd/systemd-networkd",
            "/usr/bin/dockerd", "/usr/sbin/dockerd")
ENI_FILES = ("/etc/network/interfaces", "/etc/network/interfaces.d")
_IFACE = re.compile(r"^\s*(?:auto|allow-hotplug|iface)\s+(.+)$", re.M)


@dataclass(frozen=True)
class RuntimeEvidence:
    """The database runtime and network of a guest, as far as files tell."""
    build_record: dict[str, Any] | None = None      # /etc/imagekit/build.json
    agent_dir: PathStat | None = None               # /opt/trove-guestagent
    programs: tuple[str, ...] = ()                  # those of PROGRAMS that exist
    renderers: tuple[str, ...] | None = None        # cloud-init system_info.network.renderers
    renderers_file: str | None = None
    eni_stanzas: tuple[tuple[str, tuple[str, ...]], ...] = ()   # (file, interfaces named)
    db_images: tuple[str, ...] = ()                 # image refs in the guest's docker store
    db_images_read: tuple[str, ...] = ()            # the store files that were read

    def has(self, *programs: str) -> bool:
        return any(p in self.programs for p in programs)


def _json(g: Any, path: str) -> Any:
    text = facts_mod.read_text(g, path, limit=MAX_SCAN)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def normal_ref(ref: str) -> str:
    """docker.io/library/postgres:15 -> postgres:15; a ref without a tag gets :latest."""
    r = ref.strip()
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if r.startswith(prefix):
            r = r[len(prefix):]
            break
    if "@" not in r and ":" not in r.rsplit("/", 1)[-1]:
        r += ":latest"
    return r


def db_images(g: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Image refs imagekit preloads (index.json beside the tarballs, loaded at
    first boot) plus those docker's own store already has."""
    refs, read = [], []
    index = _json(g, DB_IMAGES_INDEX)
    if isinstance(index, list):
        read.append(DB_IMAGES_INDEX)
        refs += [normal_ref(str(e["ref"])) for e in index if isinstance(e, dict) and e.get("ref")]
    repos = _json(g, DOCKER_REPOSITORIES)
    if isinstance(repos, dict):
        read.append(DOCKER_REPOSITORIES)
        for tags in (repos.get("Repositories") or {}).values():
            refs += [normal_ref(t) for t in (tags or {}) if "@" not in t]
    return tuple(dict.fromkeys(refs)), tuple(read)


def cloud_renderers(g: Any) -> tuple[tuple[str, ...] | None, str | None]:
    """system_info: network: renderers from cloud.cfg and cloud.cfg.d (the last file wins)."""
    found: tuple[tuple[str, ...] | None, str | None] = (None, None)
    files = ["/etc/cloud/cloud.cfg"] + sorted(g.glob_expand("/etc/cloud/cloud.cfg.d/*.cfg"))
    for path in files:
        text = facts_mod.read_text(g, path, limit=MAX_SCAN)
        if not text or "renderers" not in text:
            continue
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        net = ((data or {}).get("system_info") or {}).get("network") if isinstance(data, dict) else None
        if isinstance(net, dict) and isinstance(net.get("renderers"), list):
            found = (tuple(str(r) for r in net["renderers"]), path)
    return found


def eni_stanzas(g: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """ifupdown files and the interfaces their auto/iface lines name."""
    files = []
    if g.is_file(ENI_FILES[0], followsymlinks=True):
        files.append(ENI_FILES[0])
    files += _regular_files(g, ENI_FILES[1])
    out = []
    for path in files:
        text = facts_mod.read_text(g, path, limit=MAX_SCAN) or ""
        names = []
        for m in _IFACE.finditer(text):
            words = m.group(1).split()
            names += words if not m.group(0).lstrip().startswith("iface") else words[:1]
        if names:
            out.append((path, tuple(dict.fromkeys(names))))
    return tuple(out)


def runtime(g: Any) -> RuntimeEvidence:
    record = _json(g, BUILD_RECORD)
    renderers, renderers_file = cloud_renderers(g)
    images, read = db_images(g)
    return RuntimeEvidence(
        build_record=record if isinstance(record, dict) else None,
        agent_dir=_stat(g, AGENT_DIR),
        programs=tuple(p for p in PROGRAMS if g.exists(p)),
        renderers=renderers, renderers_file=renderers_file,
        eni_stanzas=eni_stanzas(g), db_images=images, db_images_read=read)


@dataclass(frozen=True)
class GuestEvidence:
    facts: GuestFacts
    shadow: dict[str, str]                  # user -> password field, only users with an entry
    passwd_password: dict[str, str]         # user -> 2nd field of /etc/passwd
    group_members: dict[str, tuple[str, ...]]
    group_ids: dict[str, int]
    path_stats: dict[str, PathStat | None]  # CONF_D_PATH (followed symlinks); None = missing
    trove_files: tuple[GuestFile, ...]      # text of the regular files under /etc/trove
    guest_info: tuple[str, ...]             # guest_info files that exist
    private_keys: tuple[str, ...]
    root_space: Space | None
    runtime: RuntimeEvidence = field(default_factory=RuntimeEvidence)


def _stat(g: Any, path: str) -> PathStat | None:
    try:
        if not g.exists(path):
            return None
        st = g.statns(path)
    except RuntimeError:
        return None
    return PathStat(path, st["st_uid"], st["st_gid"], st["st_mode"] & 0o7777,
                    (st["st_mode"] & 0o170000) == 0o040000)


def shadow(g: Any) -> dict[str, str]:
    out = {}
    for line in (facts_mod.read_text(g, "/etc/shadow") or "").splitlines():
        parts = line.split(":")
        if len(parts) > 1 and parts[0]:
            out[parts[0]] = parts[1]
    return out


def passwd_passwords(g: Any) -> dict[str, str]:
    out = {}
    for line in (facts_mod.read_text(g, "/etc/passwd") or "").splitlines():
        parts = line.split(":")
        if len(parts) > 1 and parts[0]:
            out[parts[0]] = parts[1]
    return out


def group_table(g: Any) -> tuple[dict[str, int], dict[str, tuple[str, ...]]]:
    ids: dict[str, int] = {}
    members: dict[str, tuple[str, ...]] = {}
    for line in (facts_mod.read_text(g, "/etc/group") or "").splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and parts[2].isdigit():
            ids[parts[0]] = int(parts[2])
            members[parts[0]] = tuple(m.strip() for m in parts[3].split(",") if m.strip())
    return ids, members


def _regular_files(g: Any, folder: str) -> list[str]:
    """Regular files under `folder` (not following symlinked folders)."""
    if not g.is_dir(folder, followsymlinks=True):
        return []
    try:
        names = g.find(folder)
    except RuntimeError:
        return []
    out = []
    for rel in names:
        p = f"{folder.rstrip('/')}/{rel.lstrip('/')}"
        try:
            if g.is_file(p, followsymlinks=False):
                out.append(p)
        except RuntimeError:
            continue
        if len(out) >= MAX_FILES:
            break
    return sorted(out)


def trove_files(g: Any) -> list[tuple[str, bytes]]:
    out = []
    for p in _regular_files(g, TROVE_DIR):
        data = facts_mod.read_bytes(g, p, limit=MAX_SCAN)
        if data is not None:
            out.append((p, data))
    return out


def _homes(users: dict[str, facts_mod.Passwd]) -> list[str]:
    homes = {"/root"}
    for u in users.values():
        if u.home and u.home not in ("/", "/nonexistent") and (u.uid == 0 or u.uid >= 1000
                                                               or u.home.startswith("/home/")):
            homes.add(u.home.rstrip("/"))
    return sorted(homes)


def private_keys(g: Any, users: dict[str, facts_mod.Passwd],
                 trove: list[tuple[str, bytes]]) -> list[str]:
    """ssh private keys in users' ~/.ssh (id_* without .pub, or PEM private key
    content) and any private key under /etc/trove."""
    found = set()
    candidates: set[str] = set()
    for home in _homes(users):
        candidates.update(g.glob_expand(f"{home}/.ssh/*"))
    candidates.update(g.glob_expand("/home/*/.ssh/*"))
    for p in sorted(candidates):
        name = p.rsplit("/", 1)[1]
        if name.endswith(".pub") or name in ("authorized_keys", "authorized_keys2", "known_hosts",
                                              "config", "known_hosts.old"):
            continue
        try:
            if not g.is_file(p, followsymlinks=True):
                continue
        except RuntimeError:
            continue
        head = facts_mod.read_bytes(g, p, limit=MAX_SCAN) or b""
        if name.startswith("id_") or _PRIVATE.search(head):
            found.add(p)
    for p, data in trove:
        if _PRIVATE.search(data):
            found.add(p)
    return sorted(found)


def root_space(g: Any) -> Space | None:
    try:
        st = g.statvfs("/")
    except RuntimeError:
        return None
    return Space(free=st["bavail"] * st["frsize"], size=st["blocks"] * st["frsize"])


def collect(g: Any, root: str, facts: GuestFacts | None = None) -> GuestEvidence:
    """Everything the offline checks look at; the guest must be mounted."""
    facts = facts or facts_mod.collect(g, root)
    ids, members = group_table(g)
    trove = trove_files(g)
    return GuestEvidence(
        facts=facts,
        shadow=shadow(g),
        passwd_password=passwd_passwords(g),
        group_members=members,
        group_ids=ids,
        path_stats={p: _stat(g, p) for p in CONF_D_PATH},
        trove_files=tuple(GuestFile(p, d.decode(errors="replace")) for p, d in trove),
        guest_info=tuple(p for p in GUEST_INFO_PATHS if g.is_file(p, followsymlinks=True)),
        private_keys=tuple(private_keys(g, facts.users, trove)),
        root_space=root_space(g),
        runtime=runtime(g),
    )
