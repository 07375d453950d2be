"""The image checks: pure functions from what was read in the guest
(`GuestEvidence`) and the options to findings. No appliance here, so every
rule can be tested quickly; the real images are checked in tests/check."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from imagekit import releases
from imagekit.check import datastores
from imagekit.check.evidence import CONF_D, CONF_D_PATH, GuestEvidence, PathStat, normal_ref
from imagekit.check.findings import Finding, Severity, found
from imagekit.errors import ImagekitError
from imagekit.guest.facts import Passwd

DEFAULT_MIN_FREE = 256 * 1024 * 1024
DEFAULT_GUEST_USER = "ubuntu"          # Trove's injected_config_owner default
STYLES = ("native", "container")


@dataclass(frozen=True)
class CheckOptions:
    """What the operator told `imagekit check` (all optional)."""
    db: str | None = None
    version: str | None = None
    style: str | None = None           # native | container | None = tell from the image
    guest_user: str | None = None      # default: the agent unit's User=, else ubuntu
    allow_baked_config: bool = False
    min_free: int = DEFAULT_MIN_FREE
    config_drive: bool = False         # the cloud's Trove sets use_nova_server_config_drive
    trove_release: str | None = None   # the controller's release (cloud checks)
    service_project: str = "service"     # Trove's service project (cloud checks)
    glance_image: str | None = None    # the image's id or name in Glance (cloud checks)


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


# -- helpers -------------------------------------------------------------------------------
def guest_user(ev: GuestEvidence, opts: CheckOptions) -> str:
    unit = ev.facts.agent.unit
    return opts.guest_user or (unit.user if unit and unit.user else None) or DEFAULT_GUEST_USER


def user_gids(ev: GuestEvidence, user: Passwd) -> set[int]:
    gids = {user.gid}
    for group, members in ev.group_members.items():
        if user.name in members and group in ev.group_ids:
            gids.add(ev.group_ids[group])
    return gids


def _allows(st: PathStat, uid: int, gids: set[int], bit: int) -> bool:
    if uid == 0:
        return True
    if st.uid == uid:
        return bool((st.mode >> 6) & bit)
    if st.gid in gids:
        return bool((st.mode >> 3) & bit)
    return bool(st.mode & bit)


def can_write_dir(ev: GuestEvidence, user: Passwd) -> tuple[bool, str]:
    """Whether `user` can create files in conf.d: search (x) on every folder
    above it, write and search on conf.d itself. Returns (ok, the blocking path)."""
    gids = user_gids(ev, user)
    for path in CONF_D_PATH:
        st = ev.path_stats.get(path)
        if st is None:
            return False, path
        need = 3 if path == CONF_D else 1
        if not all(_allows(st, user.uid, gids, b) for b in (1, 2) if b & need):
            return False, path
    return True, ""


def _locked(field: str) -> bool:
    return field.startswith(("!", "*"))


def _ini(text: str) -> Iterator[tuple[str, str, str]]:
    """(section, key, value) of an ini file, tolerant of anything odd."""
    section = "DEFAULT"
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            section = m.group(1).strip()
            continue
        if "=" in line:
            k, v = line.split("=", 1)
            yield section, k.strip().lower(), v.strip()


_URL_PASSWORD = re.compile(r"://[^/@\s:]*:[^@/\s]+@")
_SECRET_KEYS = {"rabbit_password", "nova_proxy_admin_pass", "admin_password", "os_password",
                "container_registry_password", "trove_auth_password"}
_SECRET_SECTIONS = {"service_credentials", "keystone_authtoken"}


def secrets_in(text: str) -> list[str]:
    """What controller secrets an agent configuration file holds (names only)."""
    out = []
    for section, key, value in _ini(text):
        if not value:
            continue
        if key in ("transport_url", "connection") and _URL_PASSWORD.search(value):
            out.append(f"{key} with a password" if section == "DEFAULT"
                       else f"[{section}] {key} with a password")
        elif key in _SECRET_KEYS:
            out.append(key)
        elif section.lower() in _SECRET_SECTIONS and key == "password":
            out.append(f"[{section}] password")
    return out


def guest_id_in(text: str) -> bool:
    return any(key == "guest_id" and value for _, key, value in _ini(text))


# -- the checks -----------------------------------------------------------------------------
def check_agent(ev: GuestEvidence, opts: CheckOptions) -> Iterator[Finding]:
    ag = ev.facts.agent
    if not ag.installed:
        yield found("agent-missing", "no Trove guest agent (no trove package, no "
                    "guest-agent unit) in the image")
        return
    unit = ag.unit
    if unit is None:
        yield found("agent-unit-missing", f"the agent at {ag.path} has no systemd unit "
                    "(guest-agent.service)")
    else:
        if not unit.enabled:
            yield found("agent-unit-disabled", f"{unit.name} is not enabled (no symlink in a "
                        "*.wants folder)",
                        f"enable it: imagekit customize IMAGE -o OUT --link {unit.path}:"
                        f"/etc/systemd/system/multi-user.target.wants/{unit.name}")
        if not unit.reads_conf_d:
            yield found("agent-unit-no-conf-d", f"{unit.name} starts "
                        f"'{unit.exec_start or '(no ExecStart)'}' without "
                        "--config-dir=/etc/trove/conf.d")
        if unit.user and unit.user not in ev.facts.users and unit.user != guest_user(ev, opts):
            yield found("agent-unit-user-missing", f"{unit.name} runs as User={unit.user}, "
                        "which does not exist in the image")
    if ag.path is None:
        # only a unit: the code is missing
        yield found("agent-missing", f"{unit.name if unit else 'the unit'} exists but the agent's "
                    "code (a trove package) is not in the image")
        return
    if not ag.release:
        what = (f"trove {ag.version} belongs to no release in recipes/trove-releases.yaml"
                if ag.version else "the agent has no version metadata")
        yield found("agent-release-unknown", f"{what} ({ag.path}) and the image has no "
                    "/etc/imagekit/guest-agent.json")
    elif ag.version and ag.recorded_release:
        installed = releases.release_of(ag.version)
        if installed and installed != ag.recorded_release:
            yield found("agent-release-inconsistent", f"the image records release "
                        f"{ag.recorded_release} but trove {ag.version} ({installed}) is installed")


def check_cloud_init(ev: GuestEvidence, opts: CheckOptions) -> Iterator[Finding]:
    ci = ev.facts.cloud_init
    if not ci.installed:
        yield found("cloud-init-missing", "cloud-init is not installed")
        return
    if ci.datasources is None:
        yield found("cloud-init-datasources-unset", "no datasource_list in /etc/cloud/cloud.cfg "
                    "or cloud.cfg.d: cloud-init probes every datasource")
        return
    names = {d.strip().lower() for d in ci.datasources}
    shown = f"[{', '.join(ci.datasources)}] ({ci.datasource_file})"
    has_cd, has_os = "configdrive" in names, "openstack" in names
    if not has_cd and not has_os:
        yield found("cloud-init-datasources-unusable", f"datasource_list {shown} has neither "
                    "ConfigDrive nor OpenStack")
    elif not opts.config_drive and not has_os:
        yield found("cloud-init-datasource-mismatch", f"datasource_list {shown} lacks OpenStack: "
                    "Trove (since Yoga) delivers user-data through the metadata service",
                    "add OpenStack: datasource_list: [ ConfigDrive, OpenStack ] (or, if this "
                    "cloud's Trove sets use_nova_server_config_drive=True, check with "
                    "--config-drive)")
    elif opts.config_drive and not has_cd:
        yield found("cloud-init-datasource-mismatch", f"datasource_list {shown} lacks ConfigDrive, "
                    "and this cloud's Trove delivers user-data on a config drive",
                    "add ConfigDrive: datasource_list: [ ConfigDrive, OpenStack ]",
                    severity=Severity.WARNING)


def check_users(ev: GuestEvidence, opts: CheckOptions) -> Iterator[Finding]:
    name = guest_user(ev, opts)
    user = ev.facts.users.get(name)
    how = ("--guest-user" if opts.guest_user else
           "the agent unit's User=" if ev.facts.agent.unit and ev.facts.agent.unit.user else
           "Trove's default injected_config_owner")
    if user is None:
        yield found("guest-user-missing", f"user '{name}' ({how}) does not exist in the image")
    if not ev.facts.agent.installed:
        return          # agent-missing says it all: the agent's install makes conf.d
    conf_d = ev.path_stats.get(CONF_D)
    if conf_d is None or not conf_d.is_dir:
        yield found("conf-d-missing", f"{CONF_D} does not exist" if conf_d is None
                    else f"{CONF_D} is not a folder",
                    f"imagekit customize IMAGE -o OUT --mkdir {CONF_D} --chown "
                    f"{name}:root:{CONF_D}")
        return
    if user is not None:
        ok, blocker = can_write_dir(ev, user)
        if not ok:
            st = ev.path_stats.get(blocker)
            detail = (f"{blocker} is {oct(st.mode)} owned by uid {st.uid}:gid {st.gid}"
                      if st else f"{blocker} is missing")
            yield found("conf-d-not-writable", f"user '{name}' (uid {user.uid}) cannot write "
                        f"{CONF_D}: {detail}",
                        f"imagekit customize IMAGE -o OUT --chown {name}:root:/etc/trove "
                        f"--chown {name}:root:{CONF_D}")


def check_baked(ev: GuestEvidence, opts: CheckOptions) -> Iterator[Finding]:
    for path in ev.guest_info:
        yield found("baked-guest-info", f"{path} is in the image (per-instance values)",
                    f"imagekit customize IMAGE -o OUT --delete {path}")
    for f in ev.trove_files:
        if f.path in ev.guest_info:
            continue
        if guest_id_in(f.text):
            yield found("baked-guest-id", f"{f.path} sets guest_id",
                        f"remove guest_id from {f.path}")
    for path in ev.private_keys:
        yield found("private-key", f"private key {path} is in the image",
                    f"imagekit customize IMAGE -o OUT --delete {path}; for ssh access use "
                    "nova_keypair in trove.conf")
    for name in dict.fromkeys(["root", guest_user(ev, opts)]):
        if name in ev.shadow:
            field, where = ev.shadow[name], "/etc/shadow"
        elif ev.passwd_password.get(name, "x") != "x":
            field, where = ev.passwd_password[name], "/etc/passwd"
        else:
            continue
        if _locked(field):
            continue
        what = "an empty password (login without one)" if field == "" else "a password hash"
        yield found("password-hash", f"{name} has {what} in {where}",
                    f"lock it: imagekit customize IMAGE -o OUT --run-command 'passwd -l {name}'")
    sev = Severity.WARNING if opts.allow_baked_config else None
    for f in ev.trove_files:
        names = secrets_in(f.text)
        if names:
            yield found("controller-secret", f"{f.path} holds {', '.join(dict.fromkeys(names))}",
                        severity=sev)


# -- what the image's agent runs (imagekit.releases, recipes/trove-releases.yaml) ------------
def agent_release(ev: GuestEvidence) -> releases.ReleaseInfo | None:
    """What the image's agent release runs; None when there is no agent or its
    release is unknown (agent-release-unknown says so)."""
    ag = ev.facts.agent
    if not ag.installed or not ag.release:
        return None
    try:
        return releases.release_datastores(ag.release)
    except ImagekitError:
        return None


def _guest_info(ev: GuestEvidence) -> dict[str, str]:
    for f in ev.trove_files:
        if f.path.endswith("/guest_info.conf"):
            return {k: v for sec, k, v in _ini(f.text) if sec == "DEFAULT"}
    return {}


def image_datastore(ev: GuestEvidence, opts: CheckOptions) -> tuple[str | None, str | None, str]:
    """(datastore, version, where it was told): -d/-v, else the build record
    (/etc/imagekit/build.json), else a guest_info.conf in the image."""
    if opts.db:
        return datastores.ALIASES.get(opts.db, opts.db), opts.version, "-d"
    recipe = (ev.runtime.build_record or {}).get("recipe") or {}
    if isinstance(recipe, dict) and recipe.get("db"):
        return (str(recipe.get("manager") or recipe["db"]),
                str(recipe["version"]) if recipe.get("version") else None,
                "/etc/imagekit/build.json")
    info = _guest_info(ev)
    if info.get("datastore_manager"):
        return info["datastore_manager"], info.get("datastore_version"), "guest_info.conf"
    return None, None, ""


def docker_installed(ev: GuestEvidence) -> bool:
    return bool(datastores.installed(datastores.DOCKER, ev.facts.packages)
                or ev.runtime.has("/usr/bin/dockerd", "/usr/sbin/dockerd"))


def _agent_conf(ev: GuestEvidence) -> list[tuple[str, str, str]]:
    return [t for f in ev.trove_files if not f.path.endswith("/guest_info.conf")
            for t in _ini(f.text)]


def resolve_style(ev: GuestEvidence, opts: CheckOptions) -> str | None:
    if opts.style:
        return opts.style
    if datastores.installed(datastores.DOCKER, ev.facts.packages):
        return "container"
    if opts.db and datastores.native(opts.db) is None:
        return "container"
    if datastores.any_native(ev.facts.packages):
        return "native"
    return None


def check_runtime(ev: GuestEvidence, opts: CheckOptions) -> Iterator[Finding]:
    pkgs, units = ev.facts.packages, ev.facts.enabled_units
    style = resolve_style(ev, opts)
    info = agent_release(ev)
    natives = datastores.any_native(pkgs)
    if info is not None and info.runtime == "docker" and (
            style == "native" or (not docker_installed(ev) and natives)):
        what = ", ".join(dict.fromkeys(p.name for _, p in natives)) or "a native database"
        yield found("native-db-with-docker-agent", f"the {info.series} agent (trove "
                    f"{ev.facts.agent.version or info.trove_version}) runs databases only as "
                    f"docker containers, but the image has "
                    + ("no docker and " if not docker_installed(ev) else "")
                    + f"{what} installed natively")
        return
    if style is None:
        yield found("runtime-missing", "no docker and no database server package in the image"
                    + (f" (for {opts.db})" if opts.db else ""))
        return
    if style == "container":
        docker = datastores.installed(datastores.DOCKER, pkgs)
        if not docker:
            yield found("docker-missing", "container style, but no docker package "
                        "(docker.io, docker-ce) is installed")
            return
        if not datastores.enabled(datastores.DOCKER, units):
            yield found("docker-disabled", f"{docker[0].name} is installed but neither "
                        "docker.service nor docker.socket is enabled")
        unit = ev.facts.agent.unit
        agent_user = ev.facts.users.get(unit.user) if unit and unit.user else None
        if agent_user is not None and agent_user.uid != 0:
            docker_gid = ev.group_ids.get("docker")
            if docker_gid is None or docker_gid not in user_gids(ev, agent_user):
                yield found("docker-group", f"the agent runs as {agent_user.name}, who is not in "
                            "the docker group", f"imagekit customize IMAGE -o OUT --run-command "
                            f"'usermod -aG docker {agent_user.name}'")
        if info is not None and info.runtime == "docker":
            for name, pkg in natives:
                rt = datastores.native(name)
                on = datastores.enabled(rt, units) if rt else []
                if on:
                    yield found("native-db-enabled-beside-docker", f"{pkg.name} is installed and "
                                f"{', '.join(on)} enabled beside docker (the {info.series} agent "
                                f"runs {name} in a container)",
                                "disable it: imagekit customize IMAGE -o OUT "
                                + " ".join(f"--delete /etc/systemd/system/*.wants/{u}" for u in on))
                    break
        return
    # native
    if opts.db:
        rt = datastores.native(opts.db)
        if rt is None:
            known = ", ".join(datastores.known())
            yield found("db-package-missing", f"imagekit knows no native package for '{opts.db}' "
                        f"(known: {known})", "use --style container, or a known datastore")
            return
        have = datastores.installed(rt, pkgs)
    else:
        pairs = datastores.any_native(pkgs)
        rt = datastores.native(pairs[0][0]) if pairs else None
        have = [p for _, p in pairs]
    if rt is None or not have:
        yield found("db-package-missing", f"no {opts.db or 'database'} server package is "
                    "installed (native style)")
        return
    if opts.version and not any(datastores.version_matches(p, opts.version) for p in have):
        got = ", ".join(f"{p.name} {p.version}" for p in have)
        yield found("db-version-mismatch", f"{rt.name} {opts.version} requested, installed: {got}")
    if not datastores.enabled(rt, units):
        yield found("db-service-disabled", f"{', '.join(p.name for p in have)} is installed but "
                    f"no {rt.name} service is enabled")


def check_agent_fit(ev: GuestEvidence, opts: CheckOptions) -> Iterator[Finding]:
    """What the agent's release needs: a manager for the image's datastore, and
    (docker era) its marker folder, owned by its user."""
    info = agent_release(ev)
    if info is None:
        return
    db, _, told = image_datastore(ev, opts)
    # only names that are a manager of some release: a cloud's datastore may be
    # named anything (its version names the manager)
    if db and _known_manager(db) and not info.has_manager(db):
        yield found("datastore-without-manager", f"the image is for {db} ({told}) but the "
                    f"{info.series} agent has managers for {', '.join(info.managers)} only: it "
                    "would refuse to start")
    if info.agent_dir.startswith("/"):
        unit = ev.facts.agent.unit
        name = (unit.user if unit and unit.user else None) or guest_user(ev, opts)
        user = ev.facts.users.get(name)
        st = ev.runtime.agent_dir
        fix = (f"imagekit customize IMAGE -o OUT --mkdir {info.agent_dir} --chown "
               f"{name}:{name}:{info.agent_dir}")
        if st is None or not st.is_dir:
            yield found("guest-agent-folder", f"{info.agent_dir} does not exist" if st is None
                        else f"{info.agent_dir} is not a folder", fix)
        elif user is not None and user.uid != 0 and st.uid != user.uid:
            yield found("guest-agent-folder", f"{info.agent_dir} is owned by uid {st.uid}, not "
                        f"by the agent's user {name} (uid {user.uid})", fix)


def _known_manager(db: str) -> bool:
    from imagekit import releases
    return any(db in r.managers for r in releases.all_release_datastores())


def check_db_image(ev: GuestEvidence, opts: CheckOptions) -> Iterator[Finding]:
    """The database image the docker-era agent will start is in the guest."""
    info = agent_release(ev)
    if info is None or info.runtime != "docker" or not docker_installed(ev):
        return
    if resolve_style(ev, opts) != "container":
        return
    db, version, told = image_datastore(ev, opts)
    if not db or not version or not info.has_manager(db):
        return
    conf = _agent_conf(ev)
    name = next((v for sec, k, v in reversed(conf) if sec == db and k == "docker_image" and v),
                info.docker_image(db))
    if not name:
        return
    ref = normal_ref(f"{name}:{version}")
    if ref in ev.runtime.db_images:
        return
    registry = next((v for _, k, v in conf if k == "container_registry" and v), None)
    where = (", ".join(ev.runtime.db_images_read) if ev.runtime.db_images_read
             else "no /var/lib/imagekit/db-images/index.json, no docker image store")
    have = ", ".join(ev.runtime.db_images) or "none"
    yield found("db-image-missing", f"{ref} ([{db}] docker_image {name}, version {version} from "
                f"{told}) is not in the image (read: {where}; images: {have})"
                + (f"; docker would pull it from {registry}" if registry else
                   "; no registry is configured, docker would try Docker Hub"),
                severity=Severity.WARNING if registry else None)


# cloud-init's default renderer order (cloudinit/net/renderers.py DEFAULT_PRIORITY)
DEFAULT_RENDERERS = ("eni", "sysconfig", "netplan", "networkd", "freebsd", "netbsd", "openbsd",
                     "networkmanager")
_RENDERER_PROGRAMS = {"netplan": ("/usr/sbin/netplan", "/sbin/netplan"),
                      "networkd": ("/lib/systemd/systemd-networkd",
                                   "/usr/lib/systemd/systemd-networkd")}
NETWORKD = "systemd-networkd.service"


def _available(ev: GuestEvidence, renderer: str) -> bool:
    rt = ev.runtime
    if renderer == "eni":       # cloud-init: ifquery, ifup, ifdown and /etc/network/interfaces
        return (all(rt.has(f"/sbin/{p}", f"/usr/sbin/{p}") for p in ("ifquery", "ifup", "ifdown"))
                and rt.has("/etc/network/interfaces"))
    return renderer in _RENDERER_PROGRAMS and rt.has(*_RENDERER_PROGRAMS[renderer])


def network_renderer(ev: GuestEvidence) -> str | None:
    """The renderer cloud-init would pick: the first available of its list
    (only eni, netplan and networkd are judged; the others are not Debian's)."""
    order = ev.runtime.renderers or DEFAULT_RENDERERS
    return next((r for r in order if _available(ev, r)), None)


def check_network(ev: GuestEvidence, opts: CheckOptions) -> Iterator[Finding]:
    if not ev.facts.cloud_init.installed:
        return
    chosen = network_renderer(ev)
    order = ", ".join(ev.runtime.renderers or DEFAULT_RENDERERS)
    src = ev.runtime.renderers_file or "cloud-init's default"
    if chosen is None:
        yield found("network-renderer-unapplied", f"no network renderer of [{order}] ({src}) is "
                    "available: no ifupdown (/sbin/ifup), no netplan, no systemd-networkd")
    elif chosen == "networkd" and NETWORKD not in ev.facts.enabled_units:
        yield found("network-renderer-unapplied", f"cloud-init would render for networkd (first "
                    f"available of [{order}], {src}) but {NETWORKD} is not enabled, and there is "
                    "no ifupdown or netplan")
    if chosen != "eni":
        stale = [p for p, names in ev.runtime.eni_stanzas
                 if p.startswith("/etc/network/interfaces.d/") and {"eth0", "eth1"} & set(names)]
        if stale:
            yield found("stale-ifupdown-stanza", f"{', '.join(stale)} configure eth0/eth1 for "
                        f"ifupdown, which is not what configures the network "
                        f"({chosen or 'nothing'} is)",
                        "delete them: imagekit customize IMAGE -o OUT "
                        + " ".join(f"--delete {p}" for p in stale))


def check_space(ev: GuestEvidence, opts: CheckOptions) -> Iterator[Finding]:
    sp = ev.root_space
    if sp is not None and sp.free < opts.min_free:
        yield found("root-fs-low-space", f"the root filesystem has {human(sp.free)} free of "
                    f"{human(sp.size)}; at least {human(opts.min_free)} wanted")


CHECKS: tuple[Callable[[GuestEvidence, CheckOptions], Iterator[Finding]], ...] = (
    check_agent, check_cloud_init, check_network, check_users, check_baked, check_runtime,
    check_agent_fit, check_db_image, check_space,
)


def run(ev: GuestEvidence, opts: CheckOptions) -> list[Finding]:
    """Every offline finding for one guest, in table order of the checks."""
    return [f for check in CHECKS for f in check(ev, opts)]
