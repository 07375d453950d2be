"""What `imagekit upload` puts into Glance: the golden image re-targeted to a
cloud (the original dbimage-upload's "update the image so that it works with
the targeted cloud"), checked offline.

The re-target is one plan through the customization engine (one appliance
launch, on an overlay; the golden image is never modified):

  guest-config      the cloud profile (trove-guestagent.conf, CA, datasources)
  run-command       each -s command (before the key: a command may create the
                    -b user)
  ssh-inject        the -k keypair's public key, read from the cloud's Nova,
                    into the guest user's authorized_keys (-b, default ubuntu)
  regen-host-keys   fresh ssh host keys (and machine-id reset)

Its output lands in images/retarget/<golden>-<key>.qcow2 (the engine's
manifest beside it), where <key> hashes every input (golden image identity,
profile, key, user, commands, imagekit version): a re-run with the same
inputs reuses the file, so Glance sees the same bytes and nothing is sent
again. `--as-is` uploads the file unchanged.

The offline checks (imagekit.check) run on the file that will be uploaded;
the OS facts Glance gets as properties come from the same inspection."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imagekit import __version__, paths, ui
from imagekit.check.findings import Finding, Severity
from imagekit.guest.image import CheckedImage, check_image

DEFAULT_USER = "ubuntu"          # the original's guest user, and imagekit make's default
SIDECAR = ".prepared.json"
REGISTERED = ".registered.json"


@dataclass(frozen=True)
class Inputs:
    """Everything the uploaded file depends on (hashable: clouds with equal
    inputs share one re-target)."""
    source: Path
    retarget: bool
    profile: Path | None = None
    profile_sha256: str | None = None
    public_key: str | None = None
    keypair: str | None = None
    user: str | None = None
    commands: tuple[str, ...] = ()

    @classmethod
    def make(cls, source: Path, *, retarget: bool, profile: Path | None, public_key: str | None,
             keypair: str | None, user: str | None, commands: tuple[str, ...]) -> Inputs:
        digest = hashlib.sha256(profile.read_bytes()).hexdigest() if profile else None
        return cls(source.resolve(), retarget, profile, digest, public_key, keypair, user,
                   tuple(commands))

    def key(self) -> str:
        st = self.source.stat()
        data = {"source": [str(self.source), st.st_size, st.st_mtime_ns, st.st_ino],
                "retarget": self.retarget, "profile": self.profile_sha256,
                "public_key": self.public_key, "user": self.user,
                "commands": list(self.commands), "imagekit": __version__}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Prepared:
    """The file to upload for a group of clouds, and what is known about it."""
    path: Path
    disk_format: str
    virtual_size: int
    provenance: str                      # sha256 of the manifest beside the file
    manifest: Path | None
    os_distro: str | None
    os_version: str | None
    architecture: str | None
    guest_user: str | None
    style: str | None
    findings: tuple[Finding, ...] = field(default=())
    reused: bool = False                 # an earlier run's re-target output
    launches: int = 0
    clouds: tuple[str, ...] = field(default=())
    key: str = ""
    rules: Path | None = None            # validation-rules.json of the image's own Trove tree

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"], d["manifest"] = str(self.path), str(self.manifest) if self.manifest else None
        d["rules"] = str(self.rules) if self.rules else None
        d["findings"] = [f.to_json() for f in self.findings]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prepared:
        d = dict(d)
        d["path"] = Path(d["path"])
        d["manifest"] = Path(d["manifest"]) if d.get("manifest") else None
        d["rules"] = Path(d["rules"]) if d.get("rules") else None
        d["findings"] = tuple(Finding(f["id"], Severity(f["severity"]), f["message"], f["fix"])
                              for f in d.get("findings", ()))
        d["clouds"] = tuple(d.get("clouds", ()))
        return cls(**d)


def _reused(hit: Prepared, clouds: tuple[str, ...]) -> Prepared:
    from dataclasses import replace
    if hit.rules is not None and not hit.rules.is_file():
        hit = replace(hit, rules=None)
    return replace(hit, clouds=clouds, reused=True, launches=0)


def image_rules(g: Any, db: str) -> bytes | None:
    """trove/templates/<db>/validation-rules.json of the guest agent's own
    Trove tree (the rules of exactly the agent's release), when it has one."""
    from imagekit.guest.facts import AGENT_GLOBS, read_bytes
    for pattern in AGENT_GLOBS:
        for pkg in sorted(g.glob_expand(pattern)):
            data = read_bytes(g, f"{pkg.rstrip('/')}/templates/{db}/validation-rules.json")
            if data:
                return data
    return None


def _keep_rules(data: bytes | None, dest: Path) -> Path | None:
    """Write the image's rules beside the uploaded file (or in the cache) when
    they are a usable rules file; None otherwise."""
    from imagekit.cloud import params
    from imagekit.errors import RecipeError
    if not data:
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    try:
        params.load_rules(dest)
    except RecipeError as exc:
        ui.warn(f"the image's {dest.name} is not usable ({exc.message}); using imagekit's rules")
        dest.unlink(missing_ok=True)
        return None
    return dest


def check_source(path: Path) -> CheckedImage:
    """The golden image, opened safely (format from qemu-img, backing files
    and truncation checked) before anything else happens."""
    return check_image(path)


def output_for(inputs: Inputs, key: str) -> Path:
    return paths.images_dir() / "retarget" / f"{inputs.source.stem}-{key[:12]}.qcow2"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR)


def _cached(inputs: Inputs, key: str) -> Path:
    """Where the facts of an --as-is file are kept (never beside the user's file)."""
    return paths.cache_dir() / "prepared" / f"{key}.json"


def _load(sidecar: Path, key: str, path: Path) -> Prepared | None:
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    if data.get("key") != key or not path.exists():
        return None
    try:
        return Prepared.from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def _save(prepared: Prepared, sidecar: Path) -> None:
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    tmp = sidecar.with_name(sidecar.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(prepared.to_dict(), indent=2) + "\n")
    tmp.replace(sidecar)


def _plan(inputs: Inputs, user: str) -> Any:
    from imagekit.engine.plan import GuestConfig, Plan, RegenHostKeys, RunCommand, SshInject
    from imagekit.engine.profile import load_profile
    ops: list[Any] = []
    if inputs.profile:
        ops.append(GuestConfig(profile=load_profile(inputs.profile)))
    ops += [RunCommand(command=with_proxies(c)) for c in inputs.commands]
    if inputs.public_key:
        ops.append(SshInject(user=user, keys=(inputs.public_key,)))
    ops.append(RegenHostKeys())
    plan = Plan.of(*ops)
    plan.validate()
    return plan


PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


def with_proxies(command: str, env: dict[str, str] | None = None) -> str:
    """The -s command with this host's proxy variables exported first (the
    original passed them as the environment of every play)."""
    import shlex
    env = dict(os.environ) if env is None else env
    exports = [f"{k}={shlex.quote(env[k])}" for k in PROXY_VARS if env.get(k)]
    return f"export {' '.join(exports)}\n{command}" if exports else command


def _guest_user(inputs: Inputs) -> str:
    if inputs.user:
        return inputs.user
    if inputs.profile:
        from imagekit.engine.profile import load_profile
        prof = load_profile(inputs.profile)
        if prof.guest_user:
            return prof.guest_user
    return DEFAULT_USER


def _inspect_and_check(path: Path, *, db: str, version: str) -> dict[str, Any]:
    """One appliance launch: the OS facts and the offline check findings of
    the file that will be uploaded."""
    from imagekit.check.offline import CheckOptions
    from imagekit.check.runner import check_images
    from imagekit.guest.session import Appliance
    checked = check_image(path)
    with ui.step(f"checking {path.name} (one appliance launch)") as st, Appliance() as app:
        drive = app.add(checked, readonly=True)
        app.launch()
        guest = app.inspect(drive)
        res = check_images([path], CheckOptions(db=db, version=version), app=app,
                           drives=[drive])[0]
        app.mount(guest, readonly=True)
        try:
            rules = image_rules(app.g, db)
        finally:
            app.umount()
        st["note"] = f"{len(res.errors)} error(s), {len(res.warnings)} warning(s)"
    return {"disk_format": checked.format, "virtual_size": checked.info.virtual_size,
            "os_distro": guest.distro or None, "os_version": os_version(guest),
            "architecture": guest.arch or None,
            "guest_user": res.summary.get("guest_user"), "style": res.summary.get("style"),
            "findings": tuple(res.findings), "rules_data": rules}


def os_version(guest: Any) -> str | None:
    """Glance's os_version as os-release's VERSION_ID has it: '12' for Debian
    (not its point release 12.12), '22.04' for Ubuntu, else major[.minor]."""
    if not guest.major:
        return None
    if guest.distro == "debian":
        return str(guest.major)
    if guest.distro == "ubuntu":
        return f"{guest.major}.{guest.minor:02d}"
    return guest.version


def prepare(inputs: Inputs, source: CheckedImage, *, db: str, version: str,
            clouds: tuple[str, ...] = ()) -> Prepared:
    """The file to upload for these inputs: reused when an earlier run made
    it from the same inputs, else re-targeted (or taken as is) and checked."""
    key = inputs.key()
    if not inputs.retarget:
        sidecar = _cached(inputs, key)
        hit = _load(sidecar, key, inputs.source)
        if hit:
            ui.info(f"{inputs.source.name}: unchanged since it was last checked; not checked again")
            return _reused(hit, clouds)
        manifest = _manifest_beside(inputs.source)
        facts = _inspect_and_check(inputs.source, db=db, version=version)
        facts["rules"] = _keep_rules(facts.pop("rules_data"), sidecar.with_suffix(".rules.json"))
        prepared = Prepared(path=inputs.source, manifest=manifest,
                            provenance=_sha256(manifest) if manifest else _identity_hash(inputs),
                            launches=1, clouds=clouds, key=key, **facts)
        _save(prepared, sidecar)
        return prepared
    out = output_for(inputs, key)
    sidecar = _sidecar(out)
    hit = _load(sidecar, key, out)
    if hit:
        ui.info(f"re-target of {inputs.source.name} for {', '.join(clouds) or 'this cloud'}: "
                f"reusing {out} (same inputs)")
        return _reused(hit, clouds)
    out.parent.mkdir(parents=True, exist_ok=True)
    plan = _plan(inputs, _guest_user(inputs))
    ui.info(f"re-targeting {inputs.source.name} for {', '.join(clouds) or 'the cloud'}: "
            f"{len(plan)} operations and the checks, one appliance launch")
    facts, manifest, launches = _retarget_and_check(source, plan, out, db=db, version=version)
    prepared = Prepared(path=out, manifest=manifest,
                        provenance=_sha256(manifest) if manifest else _identity_hash(inputs),
                        launches=launches, clouds=clouds, key=key, **facts)
    _save(prepared, sidecar)
    return prepared


def _retarget_and_check(source: CheckedImage, plan: Any, out: Path, *, db: str,
                        version: str) -> tuple[dict[str, Any], Path | None, int]:
    """The plan through the engine's Workspace, and the offline checks on the
    result before it is saved: one appliance launch for both."""
    from imagekit.check import runner
    from imagekit.check.imagefile import assess
    from imagekit.check.offline import CheckOptions
    from imagekit.engine import Workspace
    opts = CheckOptions(db=db, version=version)
    with Workspace(source, network=plan.runs_guest_code, workdir=out.parent) as ws:
        n = len(plan)
        for i, op in enumerate(plan, 1):
            ws.apply(op, label=f"[{i}/{n}] ")
        ws.finish()                     # relabel, machine-id: check the final state
        with ui.step(f"checking the re-targeted {source.path.name}") as st:
            findings, ev = runner.check_mounted(ws.g, ws.guest.root, opts)
            summary = runner.summarize(ev, opts)
            rules = image_rules(ws.g, db)
            st["note"] = f"{sum(f.is_error for f in findings)} error(s)"
        guest = ws.guest
        saved = ws.save(out, mode="standalone")
        launches = ws.launches
    file_findings = list(assess(saved.output).findings)
    checked = check_image(saved.output)
    facts = {"disk_format": checked.format, "virtual_size": checked.info.virtual_size,
             "os_distro": guest.distro or None, "os_version": os_version(guest),
             "architecture": guest.arch or None, "guest_user": summary.get("guest_user"),
             "style": summary.get("style"), "findings": tuple(file_findings + findings),
             "rules": _keep_rules(rules, out.with_name(out.name + ".validation-rules.json"))}
    return facts, saved.manifest_path, launches


def _manifest_beside(path: Path) -> Path | None:
    for cand in (path.with_name(path.name + ".manifest.json"),
                 path.with_suffix(".manifest.json")):
        if cand.is_file():
            return cand
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _identity_hash(inputs: Inputs) -> str:
    return inputs.key()


def record(prepared: Prepared, outcome: dict[str, Any]) -> None:
    """Remember where a re-target output was registered (beside it, not in the
    manifest, whose hash is the image's provenance)."""
    if prepared.path.parent != paths.images_dir() / "retarget":
        return
    f = prepared.path.with_name(prepared.path.name + REGISTERED)
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError):
        data = {"clouds": {}}
    keep = {k: outcome[k] for k in ("cloud", "upload", "datastore_version") if k in outcome}
    data["clouds"][outcome["cloud"]] = keep
    f.write_text(json.dumps(data, indent=2, default=str) + "\n")
