"""Cloud profiles: what ties a Trove guest image to one cloud.

A profile is the cloud-wide guest-agent configuration (the controller's
trove-guestagent.conf: transport_url, rabbit settings, registry...), an
optional CA bundle, the cloud-init datasource list and the guest user that
owns the configuration. Per-instance values (guest_id, tenant_id, a
guest_info.conf...) are refused: Trove injects those at boot.

    profile = load_profile("cloud-a.yaml")              # YAML profile
    profile = load_profile("trove-guestagent.conf")     # a controller's file

The YAML format is documented in docs/plan-format.md."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from imagekit.engine import ini
from imagekit.errors import PlanError

PROFILE_SCHEMA = 1
DEFAULT_DATASOURCES = ("ConfigDrive", "OpenStack")
# [DEFAULT] keys of guest_info.conf: one value per instance, written by Trove at boot.
PER_INSTANCE_KEYS = ("guest_id", "tenant_id", "instance_rpc_encr_key", "datastore_manager",
                     "datastore_version", "datastore_registry_ext")
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s+[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")
_KNOWN_KEYS = {"version", "name", "guest_user", "datasources", "ca_bundle", "ca_name",
               "guest_agent", "guest_agent_conf"}


@dataclass(frozen=True)
class CloudProfile:
    name: str = ""
    agent_conf: bytes = b""                 # trove-guestagent.conf, verbatim
    guest_user: str | None = None           # None: the agent unit's User= in the image
    ca_bundle: bytes | None = None          # PEM certificates
    ca_name: str = "imagekit-cloud-ca"
    datasources: tuple[str, ...] | None = DEFAULT_DATASOURCES   # None: leave as in the image
    origin: Path | None = None

    def sha256(self) -> str:
        h = hashlib.sha256()
        for part in (self.name.encode(), self.agent_conf, (self.guest_user or "").encode(),
                     self.ca_bundle or b"", self.ca_name.encode(),
                     ",".join(self.datasources or ()).encode() if self.datasources is not None else b"-"):
            h.update(hashlib.sha256(part).digest())
        return h.hexdigest()

    def summary(self) -> dict[str, Any]:
        """For manifests and dry runs: no secrets, only hashes."""
        return {"name": self.name, "sha256": self.sha256(),
                "agent_conf_sha256": hashlib.sha256(self.agent_conf).hexdigest(),
                "guest_user": self.guest_user, "datasources": list(self.datasources)
                if self.datasources is not None else None,
                "ca_bundle_sha256": hashlib.sha256(self.ca_bundle).hexdigest()
                if self.ca_bundle else None}

    def validate(self) -> None:
        what = f"profile {self.name or '(unnamed)'}"
        if not self.agent_conf.strip():
            raise PlanError(f"{what}: no guest-agent configuration",
                            "give guest_agent: (sections) or guest_agent_conf: (a file)")
        try:
            text = self.agent_conf.decode()
        except UnicodeDecodeError:
            raise PlanError(f"{what}: the guest-agent configuration is not UTF-8 text")
        try:
            entries = ini.parse(text)
        except ini.IniSyntaxError as exc:
            raise PlanError(f"{what}: trove-guestagent.conf {exc}")
        for e in entries:
            if e.section in ("DEFAULT", "") and e.key in PER_INSTANCE_KEYS:
                raise PlanError(f"{what}: [{e.section or 'DEFAULT'}] {e.key} is a per-instance "
                                "value; Trove injects it at boot (guest_info.conf)",
                                f"remove {e.key} from the profile")
        if self.ca_bundle is not None and not _PEM.search(self.ca_bundle):
            raise PlanError(f"{what}: the CA bundle holds no PEM certificate",
                            "give a file with -----BEGIN CERTIFICATE----- blocks")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.ca_name):
            raise PlanError(f"{what}: bad ca_name {self.ca_name!r}")
        if self.guest_user is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}",
                                                            self.guest_user):
            raise PlanError(f"{what}: bad guest_user {self.guest_user!r}")
        for ds in self.datasources or ():
            if not re.fullmatch(r"[A-Za-z0-9]{1,32}", ds):
                raise PlanError(f"{what}: bad cloud-init datasource name {ds!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: Path | None, *, name: str = "",
                     origin: Path | None = None) -> CloudProfile:
        what = f"profile {origin or name or ''}".strip()
        unknown = set(data) - _KNOWN_KEYS
        if unknown:
            raise PlanError(f"{what}: unknown key(s) {', '.join(sorted(unknown))}",
                            f"the keys are {', '.join(sorted(_KNOWN_KEYS))}")
        if data.get("version", PROFILE_SCHEMA) != PROFILE_SCHEMA:
            raise PlanError(f"{what}: profile version {data.get('version')!r} is not supported")
        conf_file, sections = data.get("guest_agent_conf"), data.get("guest_agent")
        if bool(conf_file) == bool(sections):
            raise PlanError(f"{what}: give exactly one of guest_agent (sections) and "
                            "guest_agent_conf (a trove-guestagent.conf file)")
        if conf_file:
            agent_conf = _read(_rel(conf_file, base), what)
        else:
            if not isinstance(sections, Mapping) or not all(isinstance(v, Mapping) or v is None
                                                            for v in sections.values()):
                raise PlanError(f"{what}: guest_agent must map section names to key: value mappings")
            agent_conf = ini.render({str(k): dict(v or {}) for k, v in sections.items()}).encode()
        ca = data.get("ca_bundle")
        ds = data.get("datasources", list(DEFAULT_DATASOURCES))
        if isinstance(ds, str):
            ds = [x.strip() for x in ds.split(",") if x.strip()]
        if ds is not None and not isinstance(ds, list):
            raise PlanError(f"{what}: datasources must be a list such as [ConfigDrive, OpenStack]")
        prof = cls(name=str(data.get("name") or name or "profile"), agent_conf=agent_conf,
                   guest_user=str(data["guest_user"]) if data.get("guest_user") else None,
                   ca_bundle=_read(_rel(ca, base), what) if ca else None,
                   ca_name=str(data.get("ca_name") or "imagekit-cloud-ca"),
                   datasources=tuple(str(x) for x in ds) if ds is not None else None,
                   origin=origin)
        prof.validate()
        return prof


def _rel(value: Any, base: Path | None) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() or base is None else base / p


def _read(p: Path, what: str) -> bytes:
    try:
        return p.read_bytes()
    except OSError as exc:
        raise PlanError(f"{what}: cannot read {p} ({exc.strerror})", "check the path")


def load_profile(path: Path | str) -> CloudProfile:
    """A profile from a YAML file, or from a controller's trove-guestagent.conf
    (INI: used verbatim, datasources ConfigDrive, OpenStack)."""
    p = Path(path)
    data = _read(p, "profile")
    text = data.decode(errors="replace")
    first = next((ln.strip() for ln in text.splitlines()
                  if ln.strip() and not ln.lstrip().startswith(("#", ";"))), "")
    if p.suffix in (".conf", ".ini") or first.startswith("["):
        prof = CloudProfile(name=p.stem, agent_conf=data, origin=p)
        prof.validate()
        return prof
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"profile {p}: neither a YAML profile nor an INI file ({exc})")
    if not isinstance(parsed, Mapping):
        raise PlanError(f"profile {p}: expected a YAML mapping (see docs/plan-format.md)")
    return CloudProfile.from_mapping(parsed, p.resolve().parent, name=p.stem, origin=p)
