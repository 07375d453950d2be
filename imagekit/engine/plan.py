"""Customization plans: an ordered tuple of typed, frozen operations.

Each operation class says once what it is called (the YAML key, which is
also the CLI option name), how it is parsed from a CLI value or a YAML
entry, how it is validated (before any appliance starts) and how it is
described. What an operation *does* to a guest lives in `engine/ops/`.

    plan = load_plan("retarget.yaml")            # or Plan.of(WriteFile(...), ...)
    plan.validate()                                # PlanError on bad input, no launch
"""
from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import yaml

from imagekit.engine.profile import PER_INSTANCE_KEYS, CloudProfile, load_profile
from imagekit.errors import PlanError

PLAN_SCHEMA = 1
SSH_KEY_TYPES = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                 "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
                 "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss")
HOST_KEY_TYPES = ("rsa", "ecdsa", "ed25519", "dsa")
PER_INSTANCE_FILES = ("guest_info.conf", "guest_info")


# -- small parsers shared by the operations ---------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def guest_path(value: Any, what: str = "guest path", *, glob: bool = False) -> str:
    """A normalized absolute guest path; PlanError otherwise."""
    if not isinstance(value, str) or not value:
        raise PlanError(f"{what}: expected an absolute path inside the image, got {value!r}")
    if "\0" in value or "\n" in value:
        raise PlanError(f"{what} {value!r}: contains a NUL or newline character")
    if not value.startswith("/"):
        raise PlanError(f"{what} {value!r}: not an absolute path",
                        "paths inside the image start with /, e.g. /etc/trove/conf.d")
    if ".." in value.split("/"):
        raise PlanError(f"{what} {value!r}: contains '..'", "give the path without '..'")
    if not glob and any(ch in value for ch in "*?["):
        raise PlanError(f"{what} {value!r}: wildcards are only allowed in --delete")
    norm = posixpath.normpath(value)
    return "/" + norm.lstrip("/")


def parse_mode(value: Any, what: str = "mode") -> int:
    """Octal permissions: '0640', '640', 0o640 (always octal, unlike virt-customize)."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str) and re.fullmatch(r"0?[0-7]{1,4}", value.strip()):
        mode = int(value.strip(), 8)
    else:
        raise PlanError(f"{what} {value!r}: not an octal permission mode",
                        "give it in octal, e.g. 0640 or 0755")
    if not 0 <= mode <= 0o7777:
        raise PlanError(f"{what} {oct(mode)}: out of range (0000-7777)")
    return mode


def owner_name(value: Any, what: str) -> str | None:
    """A user or group given by name (resolved in the guest) or number."""
    if value is None:
        return None
    value = str(value).strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|\d{1,10}", value):
        raise PlanError(f"{what} {value!r}: not a user/group name or number")
    return value


def host_file(value: Any, base: Path | None, what: str) -> Path:
    if not isinstance(value, (str, Path)) or not str(value):
        raise PlanError(f"{what}: expected a host file path, got {value!r}")
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return p


def _check_readable(p: Path, what: str, *, directory_ok: bool = False) -> None:
    if not p.exists():
        raise PlanError(f"{what} {p}: no such file on this host", "check the path")
    if p.is_dir() and not directory_ok:
        raise PlanError(f"{what} {p}: is a directory", "give a file")
    try:
        if p.is_file():
            with open(p, "rb"):
                pass
    except OSError as exc:
        raise PlanError(f"{what} {p}: cannot be read ({exc.strerror})")


def _split(value: str, n: int, syntax: str, option: str) -> list[str]:
    parts = value.split(":", n - 1)
    if len(parts) != n or not all(parts[:n - 1]):
        raise PlanError(f"--{option} {value!r}: expected {syntax}")
    return parts


def _refuse_per_instance_path(path: str, what: str) -> None:
    if posixpath.basename(path) in PER_INSTANCE_FILES:
        raise PlanError(f"{what} {path}: {posixpath.basename(path)} holds per-instance values "
                        "(guest_id, tenant_id...) that Trove writes when it creates an instance",
                        "never bake it into an image; put cloud-wide settings in a cloud "
                        "profile (--guest-config)")


# -- the operations ----------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    """Base class. `kind` is the YAML key and the CLI option (--kind)."""
    kind: ClassVar[str] = ""
    metavar: ClassVar[str | None] = None          # None: a flag without value
    help: ClassVar[str] = ""
    runs_guest_code: ClassVar[bool] = False       # needs guest arch == appliance arch
    resets_machine_id: ClassVar[bool] = False
    fields_in_yaml: ClassVar[tuple[str, ...]] = ()  # a YAML scalar fills these, in order

    def validate(self) -> None:
        """Raise PlanError when the operation cannot be right (no image needed)."""

    def describe(self) -> str:
        return self.kind

    def inputs(self) -> dict[str, str]:
        """Hashes of inputs known without reading host files (those come at prepare)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bytes):
                out[f.name + "_sha256"] = sha256_bytes(v)
            elif isinstance(v, Path):
                out[f.name] = str(v)
            elif isinstance(v, CloudProfile):
                out[f.name] = v.summary()
            elif isinstance(v, tuple):
                out[f.name] = [str(x) if isinstance(x, Path) else x for x in v]
            elif f.name == "mode" and isinstance(v, int):
                out[f.name] = f"{v:04o}"
            else:
                out[f.name] = v
        return {"op": self.kind, **out}

    # parsing
    @classmethod
    def from_cli(cls, value: str | None, base: Path | None = None) -> Operation:
        raise NotImplementedError

    @classmethod
    def from_yaml(cls, value: Any, base: Path | None = None) -> Operation:
        """A mapping of fields, or a scalar in CLI syntax."""
        if isinstance(value, str) or value is True:
            return cls.from_cli(None if value is True else value, base)
        if not isinstance(value, Mapping):
            raise PlanError(f"{cls.kind}: expected a mapping or a string, got {value!r}")
        return cls._from_mapping(dict(value), base)

    @classmethod
    def _from_mapping(cls, d: dict[str, Any], base: Path | None) -> Operation:
        raise PlanError(f"{cls.kind}: takes a string value")


def _attrs(d: dict[str, Any]) -> dict[str, Any]:
    """mode/owner/group of a YAML mapping, parsed."""
    return {"mode": parse_mode(d.pop("mode"), "mode") if d.get("mode") is not None else None,
            "owner": owner_name(d.pop("owner", None), "owner"),
            "group": owner_name(d.pop("group", None), "group")}


def _no_extra(kind: str, d: dict[str, Any]) -> None:
    d = {k: v for k, v in d.items() if v is not None}
    if d:
        raise PlanError(f"{kind}: unknown field(s) {', '.join(sorted(d))}",
                        "see docs/plan-format.md for the fields of each operation")


def _attr_text(mode: int | None, owner: str | None, group: str | None) -> str:
    bits = []
    if mode is not None:
        bits.append(f"{mode:04o}")
    if owner or group:
        bits.append(f"{owner or ''}:{group or ''}".rstrip(":"))
    return f" ({', '.join(bits)})" if bits else ""


@dataclass(frozen=True)
class WriteFile(Operation):
    kind: ClassVar[str] = "write"
    metavar: ClassVar[str | None] = "FILE:CONTENT"
    help: ClassVar[str] = "write CONTENT to FILE in the image (replaced if it exists)"
    path: str = ""
    content: bytes = b""
    mode: int | None = None
    owner: str | None = None
    group: str | None = None

    def validate(self) -> None:
        guest_path(self.path, "write")
        _refuse_per_instance_path(self.path, "write")

    def describe(self) -> str:
        return f"write {self.path} ({len(self.content)} bytes){_attr_text(self.mode, self.owner, self.group)}"

    def inputs(self) -> dict[str, str]:
        return {"content": sha256_bytes(self.content)}

    @classmethod
    def from_cli(cls, value, base=None):
        path, content = _split(value or "", 2, "FILE:CONTENT", cls.kind)
        return cls(path=guest_path(path, "write"), content=content.encode())

    @classmethod
    def _from_mapping(cls, d, base):
        content = d.pop("content", None)
        if not isinstance(content, str):
            raise PlanError(f"write: 'content' must be a string, got {content!r}")
        op = cls(path=guest_path(d.pop("path", None), "write"), content=content.encode(), **_attrs(d))
        _no_extra(cls.kind, d)
        return op


@dataclass(frozen=True)
class UploadFile(Operation):
    kind: ClassVar[str] = "upload"
    metavar: ClassVar[str | None] = "FILE:DEST"
    help: ClassVar[str] = "copy the host FILE to DEST in the image (a file path, or a folder)"
    source: Path = Path()
    path: str = ""
    mode: int | None = None
    owner: str | None = None
    group: str | None = None

    def validate(self) -> None:
        guest_path(self.path, "upload")
        _check_readable(self.source, "upload")
        _refuse_per_instance_path(self.path, "upload")

    def describe(self) -> str:
        return f"upload {self.source.name} to {self.path}{_attr_text(self.mode, self.owner, self.group)}"

    @classmethod
    def from_cli(cls, value, base=None):
        src, dest = _split(value or "", 2, "FILE:DEST", cls.kind)
        return cls(source=host_file(src, base, "upload"), path=guest_path(dest, "upload"))

    @classmethod
    def _from_mapping(cls, d, base):
        op = cls(source=host_file(d.pop("source", None), base, "upload"),
                 path=guest_path(d.pop("path", None), "upload"), **_attrs(d))
        _no_extra(cls.kind, d)
        return op


@dataclass(frozen=True)
class CopyIn(Operation):
    kind: ClassVar[str] = "copy-in"
    metavar: ClassVar[str | None] = "LOCALPATH:REMOTEDIR"
    help: ClassVar[str] = ("copy a host file or folder (recursively) into the folder REMOTEDIR "
                           "of the image, owned by root")
    source: Path = Path()
    dest: str = ""

    def validate(self) -> None:
        guest_path(self.dest, "copy-in")
        _check_readable(self.source, "copy-in", directory_ok=True)

    def describe(self) -> str:
        return f"copy {self.source.name} into {self.dest}"

    @classmethod
    def from_cli(cls, value, base=None):
        src, dest = _split(value or "", 2, "LOCALPATH:REMOTEDIR", cls.kind)
        return cls(source=host_file(src, base, "copy-in"), dest=guest_path(dest, "copy-in"))

    @classmethod
    def _from_mapping(cls, d, base):
        op = cls(source=host_file(d.pop("source", None), base, "copy-in"),
                 dest=guest_path(d.pop("dest", None), "copy-in"))
        _no_extra(cls.kind, d)
        return op


@dataclass(frozen=True)
class MakeDir(Operation):
    kind: ClassVar[str] = "mkdir"
    metavar: ClassVar[str | None] = "DIR"
    help: ClassVar[str] = "create a folder and its parents (mkdir -p)"
    path: str = ""
    mode: int | None = None
    owner: str | None = None
    group: str | None = None

    def validate(self) -> None:
        guest_path(self.path, "mkdir")

    def describe(self) -> str:
        return f"mkdir {self.path}{_attr_text(self.mode, self.owner, self.group)}"

    @classmethod
    def from_cli(cls, value, base=None):
        return cls(path=guest_path(value, "mkdir"))

    @classmethod
    def _from_mapping(cls, d, base):
        op = cls(path=guest_path(d.pop("path", None), "mkdir"), **_attrs(d))
        _no_extra(cls.kind, d)
        return op


@dataclass(frozen=True)
class Delete(Operation):
    kind: ClassVar[str] = "delete"
    metavar: ClassVar[str | None] = "PATH"
    help: ClassVar[str] = "delete a file or folder (recursively); wildcards allowed"
    path: str = ""

    def validate(self) -> None:
        p = guest_path(self.path, "delete", glob=True)
        if p == "/":
            raise PlanError("delete /: refusing to delete the whole image")

    def describe(self) -> str:
        return f"delete {self.path}"

    @classmethod
    def from_cli(cls, value, base=None):
        return cls(path=guest_path(value, "delete", glob=True))

    @classmethod
    def _from_mapping(cls, d, base):
        op = cls(path=guest_path(d.pop("path", None), "delete", glob=True))
        _no_extra(cls.kind, d)
        return op


@dataclass(frozen=True)
class Chmod(Operation):
    kind: ClassVar[str] = "chmod"
    metavar: ClassVar[str | None] = "PERMS:FILE"
    help: ClassVar[str] = "change permissions (octal, e.g. 0640:/etc/trove/conf.d/x.conf)"
    path: str = ""
    mode: int = 0

    def validate(self) -> None:
        guest_path(self.path, "chmod")

    def describe(self) -> str:
        return f"chmod {self.mode:04o} {self.path}"

    @classmethod
    def from_cli(cls, value, base=None):
        mode, path = _split(value or "", 2, "PERMS:FILE", cls.kind)
        return cls(path=guest_path(path, "chmod"), mode=parse_mode(mode))

    @classmethod
    def _from_mapping(cls, d, base):
        op = cls(path=guest_path(d.pop("path", None), "chmod"), mode=parse_mode(d.pop("mode", None)))
        _no_extra(cls.kind, d)
        return op


@dataclass(frozen=True)
class Chown(Operation):
    kind: ClassVar[str] = "chown"
    metavar: ClassVar[str | None] = "USER:GROUP:PATH"
    help: ClassVar[str] = ("change owner and group, by name (resolved through the image's own "
                           "/etc/passwd and /etc/group) or number; GROUP may be empty = the "
                           "user's primary group")
    path: str = ""
    owner: str | None = None
    group: str | None = None

    def validate(self) -> None:
        guest_path(self.path, "chown")
        if not self.owner and not self.group:
            raise PlanError(f"chown {self.path}: give a user, a group or both")

    def describe(self) -> str:
        return f"chown {self.owner or ''}:{self.group or ''} {self.path}"

    @classmethod
    def from_cli(cls, value, base=None):
        parts = (value or "").split(":", 2)
        if len(parts) != 3 or not parts[2]:
            raise PlanError(f"--chown {value!r}: expected USER:GROUP:PATH")
        return cls(path=guest_path(parts[2], "chown"), owner=owner_name(parts[0] or None, "user"),
                   group=owner_name(parts[1] or None, "group"))

    @classmethod
    def _from_mapping(cls, d, base):
        op = cls(path=guest_path(d.pop("path", None), "chown"),
                 owner=owner_name(d.pop("owner", None), "owner"),
                 group=owner_name(d.pop("group", None), "group"))
        _no_extra(cls.kind, d)
        return op


@dataclass(frozen=True)
class Symlink(Operation):
    kind: ClassVar[str] = "link"
    metavar: ClassVar[str | None] = "TARGET:LINK"
    help: ClassVar[str] = "create (or re-point) the symbolic link LINK -> TARGET"
    target: str = ""
    path: str = ""

    def validate(self) -> None:
        guest_path(self.path, "link")
        if not self.target or "\0" in self.target or "\n" in self.target:
            raise PlanError(f"link {self.path}: the target must be a non-empty path")

    def describe(self) -> str:
        return f"link {self.path} -> {self.target}"

    @classmethod
    def from_cli(cls, value, base=None):
        target, link = _split(value or "", 2, "TARGET:LINK", cls.kind)
        return cls(target=target, path=guest_path(link, "link"))

    @classmethod
    def _from_mapping(cls, d, base):
        op = cls(target=str(d.pop("target", "") or ""), path=guest_path(d.pop("path", None), "link"))
        _no_extra(cls.kind, d)
        return op


def _ini_field(value: Any, what: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PlanError(f"{what}: must not be empty")
    s = str(value)
    if "\n" in s or (what.endswith("section") and ("[" in s or "]" in s)):
        raise PlanError(f"{what} {s!r}: must be one line without brackets")
    return s.strip()


def _refuse_per_instance_key(path: str, section: str, key: str, what: str) -> None:
    if path.startswith("/etc/trove/") and section == "DEFAULT" and key in PER_INSTANCE_KEYS:
        raise PlanError(f"{what} {path} [{section}] {key}: a per-instance value that Trove "
                        "injects at boot (guest_info.conf)", "never bake it into an image")


@dataclass(frozen=True)
class IniSet(Operation):
    kind: ClassVar[str] = "ini-set"
    metavar: ClassVar[str | None] = "FILE:SECTION:KEY=VALUE"
    help: ClassVar[str] = ("set KEY in [SECTION] of an INI file such as trove-guestagent.conf, "
                           "keeping the rest of the file (created if missing)")
    path: str = ""
    section: str = "DEFAULT"
    key: str = ""
    value: str = ""

    def validate(self) -> None:
        guest_path(self.path, "ini-set")
        _ini_field(self.section, "ini-set section")
        _ini_field(self.key, "ini-set key")
        if "=" in self.key or "\n" in self.value:
            raise PlanError(f"ini-set {self.key}: the key must not contain '=' and the value "
                            "must be one line")
        _refuse_per_instance_key(self.path, self.section, self.key, "ini-set")

    def describe(self) -> str:
        return f"ini-set {self.path} [{self.section}] {self.key}"

    def inputs(self) -> dict[str, str]:
        return {"value": sha256_bytes(self.value.encode())}

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d.pop("value", None)      # values may be secrets: the manifest keeps the hash only
        return d

    @classmethod
    def from_cli(cls, value, base=None):
        path, section, kv = _split(value or "", 3, "FILE:SECTION:KEY=VALUE", cls.kind)
        if "=" not in kv:
            raise PlanError(f"--ini-set {value!r}: expected FILE:SECTION:KEY=VALUE")
        key, val = kv.split("=", 1)
        return cls(path=guest_path(path, "ini-set"), section=section.strip(), key=key.strip(),
                   value=val.strip())

    @classmethod
    def _from_mapping(cls, d, base):
        val = d.pop("value", None)
        if isinstance(val, bool):
            val = "true" if val else "false"
        op = cls(path=guest_path(d.pop("path", None), "ini-set"),
                 section=str(d.pop("section", "DEFAULT")), key=str(d.pop("key", "")),
                 value="" if val is None else str(val))
        _no_extra(cls.kind, d)
        return op


@dataclass(frozen=True)
class IniUnset(Operation):
    kind: ClassVar[str] = "ini-unset"
    metavar: ClassVar[str | None] = "FILE:SECTION:KEY"
    help: ClassVar[str] = "remove KEY from [SECTION] of an INI file, keeping the rest"
    path: str = ""
    section: str = "DEFAULT"
    key: str = ""

    def validate(self) -> None:
        guest_path(self.path, "ini-unset")
        _ini_field(self.section, "ini-unset section")
        _ini_field(self.key, "ini-unset key")

    def describe(self) -> str:
        return f"ini-unset {self.path} [{self.section}] {self.key}"

    @classmethod
    def from_cli(cls, value, base=None):
        path, section, key = _split(value or "", 3, "FILE:SECTION:KEY", cls.kind)
        return cls(path=guest_path(path, "ini-unset"), section=section.strip(), key=key.strip())

    @classmethod
    def _from_mapping(cls, d, base):
        op = cls(path=guest_path(d.pop("path", None), "ini-unset"),
                 section=str(d.pop("section", "DEFAULT")), key=str(d.pop("key", "")))
        _no_extra(cls.kind, d)
        return op


@dataclass(frozen=True)
class GuestConfig(Operation):
    kind: ClassVar[str] = "guest-config"
    metavar: ClassVar[str | None] = "PROFILE"
    help: ClassVar[str] = ("inject a cloud profile (YAML, or a controller's trove-guestagent.conf):"
                           " /etc/trove/conf.d/trove-guestagent.conf (0640, guest user), CA "
                           "bundle, cloud-init datasource list")
    profile: CloudProfile = field(default_factory=CloudProfile)

    def validate(self) -> None:
        self.profile.validate()

    def describe(self) -> str:
        return f"guest-agent config from profile {self.profile.name}"

    def inputs(self) -> dict[str, str]:
        return {"profile": self.profile.sha256()}

    @classmethod
    def from_cli(cls, value, base=None):
        return cls(profile=load_profile(host_file(value, base, "guest-config")))

    @classmethod
    def _from_mapping(cls, d, base):
        if "profile" in d:
            op = cls.from_cli(d.pop("profile"), base)
            _no_extra(cls.kind, d)
            return op
        return cls(profile=CloudProfile.from_mapping(d, base))


def _parse_key_line(line: str, what: str) -> str:
    line = line.strip()
    parts = line.split()
    # options before the key type (from="...",no-pty ssh-ed25519 AAAA...) are allowed
    idx = next((i for i, p in enumerate(parts) if p in SSH_KEY_TYPES), None)
    if idx is None or idx + 1 >= len(parts) or not re.fullmatch(r"[A-Za-z0-9+/]+=*", parts[idx + 1]):
        raise PlanError(f"{what}: not an ssh public key: {line[:40]!r}",
                        "give a public key line such as 'ssh-ed25519 AAAA... comment' (the .pub file)")
    return line


@dataclass(frozen=True)
class SshInject(Operation):
    kind: ClassVar[str] = "ssh-inject"
    metavar: ClassVar[str | None] = "USER[:file:KEYFILE|:string:KEY]"
    help: ClassVar[str] = ("add public key(s) to USER's authorized_keys (.ssh 0700, file 0600, "
                           "owned by the user's uid in the image); without a key: ~/.ssh/*.pub")
    user: str = ""
    keys: tuple[str, ...] = ()

    def validate(self) -> None:
        owner_name(self.user, "ssh-inject user")
        if not self.keys:
            raise PlanError(f"ssh-inject {self.user}: no key given")
        for k in self.keys:
            _parse_key_line(k, f"ssh-inject {self.user}")

    def describe(self) -> str:
        return f"authorized_keys of {self.user} (+{len(self.keys)} key{'s' if len(self.keys) > 1 else ''})"

    def inputs(self) -> dict[str, str]:
        return {"keys": sha256_bytes("\n".join(self.keys).encode())}

    @classmethod
    def from_cli(cls, value, base=None):
        value = value or ""
        user, _, rest = value.partition(":")
        if not rest:
            pubs = sorted((Path.home() / ".ssh").glob("*.pub"))
            if not pubs:
                raise PlanError(f"--ssh-inject {user}: no key given and no ~/.ssh/*.pub on this host",
                                "use USER:file:KEY.pub or USER:string:'ssh-ed25519 AAAA...'")
            return cls(user=user, keys=tuple(_key_lines(p) for p in pubs))
        how, _, arg = rest.partition(":")
        if how == "file":
            return cls(user=user, keys=(_key_lines(host_file(arg, base, "ssh-inject")),))
        if how == "string":
            return cls(user=user, keys=(arg,))
        raise PlanError(f"--ssh-inject {value!r}: expected USER, USER:file:KEYFILE or USER:string:KEY")

    @classmethod
    def _from_mapping(cls, d, base):
        user = str(d.pop("user", "") or "")
        keys: list[str] = []
        if d.get("file"):
            keys.append(_key_lines(host_file(d.pop("file"), base, "ssh-inject")))
        key = d.pop("key", None)
        if key:
            keys.extend(key if isinstance(key, list) else [key])
        d.pop("file", None)
        _no_extra(cls.kind, d)
        return cls(user=user, keys=tuple(str(k) for k in keys))


def _key_lines(p: Path) -> str:
    _check_readable(p, "ssh-inject key file")
    lines = [ln for ln in p.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) != 1:
        raise PlanError(f"ssh-inject key file {p}: expected one public key line, found {len(lines)}")
    return lines[0]


@dataclass(frozen=True)
class RegenHostKeys(Operation):
    kind: ClassVar[str] = "regen-host-keys"
    help: ClassVar[str] = ("replace the ssh host keys with new ones made on this host (every key "
                           "type the image has), and truncate /etc/machine-id last")
    resets_machine_id: ClassVar[bool] = True
    types: tuple[str, ...] = ()        # () = the types the image has

    def validate(self) -> None:
        for t in self.types:
            if t not in HOST_KEY_TYPES:
                raise PlanError(f"regen-host-keys: unknown key type {t!r}",
                                f"known types: {', '.join(HOST_KEY_TYPES)}")

    def describe(self) -> str:
        return "regenerate ssh host keys" + (f" ({', '.join(self.types)})" if self.types else "")

    @classmethod
    def from_cli(cls, value, base=None):
        return cls()

    @classmethod
    def _from_mapping(cls, d, base):
        types = d.pop("types", None) or ()
        _no_extra(cls.kind, d)
        return cls(types=tuple(types))


@dataclass(frozen=True)
class RunCommand(Operation):
    kind: ClassVar[str] = "run-command"
    metavar: ClassVar[str | None] = "CMD"
    help: ClassVar[str] = ("run CMD with /bin/sh inside the image (guest arch must match this "
                           "host's; DNS works; a non-zero exit fails the plan)")
    runs_guest_code: ClassVar[bool] = True
    command: str = ""

    def validate(self) -> None:
        if not self.command.strip():
            raise PlanError("run-command: the command is empty")

    def describe(self) -> str:
        cmd = " ".join(self.command.split())
        return f"run: {cmd[:60]}{'...' if len(cmd) > 60 else ''}"

    def inputs(self) -> dict[str, str]:
        return {"command": sha256_bytes(self.command.encode())}

    @classmethod
    def from_cli(cls, value, base=None):
        return cls(command=value or "")

    @classmethod
    def _from_mapping(cls, d, base):
        op = cls(command=str(d.pop("command", "") or ""))
        _no_extra(cls.kind, d)
        return op


@dataclass(frozen=True)
class Firstboot(Operation):
    kind: ClassVar[str] = "firstboot"
    metavar: ClassVar[str | None] = "SCRIPT"
    help: ClassVar[str] = ("install the host SCRIPT to run once at the first boot (a one-shot "
                           "systemd unit; works for any guest architecture)")
    script: bytes = b""
    name: str = ""
    source: Path | None = None

    def validate(self) -> None:
        if not self.script.strip():
            raise PlanError(f"firstboot {self.name}: the script is empty")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.name):
            raise PlanError(f"firstboot: bad script name {self.name!r}")

    def describe(self) -> str:
        return f"first-boot script {self.name}"

    def inputs(self) -> dict[str, str]:
        return {"script": sha256_bytes(self.script)}

    @classmethod
    def from_cli(cls, value, base=None):
        p = host_file(value, base, "firstboot")
        _check_readable(p, "firstboot")
        return cls(script=p.read_bytes(), name=_slug(p.name), source=p)

    @classmethod
    def command(cls, command: str) -> Firstboot:
        first = command.split()[0] if command.split() else "command"
        return cls(script=f"#!/bin/sh\n{command}\n".encode(), name=_slug(posixpath.basename(first)))

    @classmethod
    def _from_mapping(cls, d, base):
        if d.get("command"):
            op = cls.command(str(d.pop("command")))
        else:
            op = cls.from_cli(d.pop("script", None), base)
        _no_extra(cls.kind, d)
        return op


class FirstbootCommand:
    """`--firstboot-command CMD`: a Firstboot operation made from a command line."""
    kind = "firstboot-command"
    metavar = "CMD"
    help = "run CMD once at the first boot (one-shot systemd unit; any guest architecture)"

    @staticmethod
    def from_cli(value: str | None, base: Path | None = None) -> Firstboot:
        return Firstboot.command(value or "")

    @staticmethod
    def from_yaml(value: Any, base: Path | None = None) -> Firstboot:
        if not isinstance(value, str):
            raise PlanError(f"firstboot-command: expected a string, got {value!r}")
        return Firstboot.command(value)


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "script"
    return s[:48]


RELEASE = "release"


@dataclass(frozen=True)
class ApplyPatches(Operation):
    kind: ClassVar[str] = "patch"
    metavar: ClassVar[str | None] = "FILE|DIR|release"
    help: ClassVar[str] = ("apply patch files (a .patch file, a folder of them, or 'release' = "
                           "patches/<release of the agent in the image>/) to the Trove guest-agent "
                           "tree found in the image; all or nothing")
    files: tuple[Path, ...] = ()
    release_set: bool = False
    series_root: Path | None = None     # where <release>/ folders are (default: patches/)
    strip: int = 1

    def validate(self) -> None:
        from imagekit.engine import patches
        if not self.files and not self.release_set:
            raise PlanError("patch: no patch given")
        for f in self.files:
            _check_readable(f, "patch")
            patches.parse(f)          # PlanError when not a usable unified diff

    def describe(self) -> str:
        names = [f.name for f in self.files] + (["release set"] if self.release_set else [])
        return f"patch the guest agent ({', '.join(names)})"

    def merged(self, other: ApplyPatches) -> ApplyPatches:
        return replace(self, files=self.files + other.files,
                       release_set=self.release_set or other.release_set,
                       series_root=self.series_root or other.series_root)

    @classmethod
    def from_cli(cls, value, base=None):
        if value == RELEASE:
            return cls(release_set=True)
        p = host_file(value, base, "patch")
        if p.is_dir():
            found = tuple(sorted(p.glob("*.patch")))
            if not found:
                raise PlanError(f"patch {p}: no *.patch files in this folder")
            return cls(files=found)
        return cls(files=(p,))

    @classmethod
    def from_yaml(cls, value, base=None):
        items = value if isinstance(value, list) else [value]
        op = cls()
        for item in items:
            op = op.merged(cls.from_cli(str(item), base))
        return op


@dataclass(frozen=True)
class ResetMachineId(Operation):
    kind: ClassVar[str] = "reset-machine-id"
    help: ClassVar[str] = "truncate /etc/machine-id (always done last; implied by --regen-host-keys)"
    resets_machine_id: ClassVar[bool] = True

    def describe(self) -> str:
        return "truncate /etc/machine-id"

    @classmethod
    def from_cli(cls, value, base=None):
        return cls()

    @classmethod
    def _from_mapping(cls, d, base):
        _no_extra(cls.kind, d)
        return cls()


@dataclass(frozen=True)
class SelinuxRelabel(Operation):
    """Implicit: added at the end when the guest has an SELinux policy."""
    kind: ClassVar[str] = "selinux-relabel"

    def describe(self) -> str:
        return "SELinux relabel at next boot"


# CLI option order = this order (the help lists them so).
@dataclass(frozen=True)
class DbImageOp(Operation):
    """The database's container image, preloaded into the guest for the agent."""
    kind: ClassVar[str] = "db-image"
    metavar: ClassVar[str | None] = "SPEC"
    help: ClassVar[str] = ("put the database's container image into the image, loaded into docker "
                           "before the guest agent starts (no registry needed at boot): 'distro' "
                           "(built from the distribution's packages), a docker-archive/OCI "
                           "archive FILE, or a registry REF; tagged <docker_image>:<version> "
                           "for the datastore of the image's build record")
    fields_in_yaml: ClassVar[tuple[str, ...]] = ("spec",)
    spec: str = "distro"
    db: str | None = None              # default: the image's build record
    version: str | None = None
    image_name: str | None = None      # the agent's [<db>] docker_image (default: official name)

    def validate(self) -> None:
        if not self.spec:
            raise PlanError("db-image: give 'distro', an archive file or a registry reference")
        if bool(self.db) != bool(self.version):
            raise PlanError("db-image: give both db and version, or neither (then the image's "
                            "build record says)")

    def describe(self) -> str:
        what = f" for {self.db} {self.version}" if self.db else ""
        return f"preload the database image ({self.spec}){what}"

    @classmethod
    def from_cli(cls, value, base=None):
        return cls(spec=(value or "distro").strip())

    @classmethod
    def _from_mapping(cls, d, base):
        op = cls(spec=str(d.pop("spec", "distro")), db=d.pop("db", None),
                 version=str(d["version"]) if d.get("version") is not None else None,
                 image_name=d.pop("image_name", None))
        d.pop("version", None)
        _no_extra(cls.kind, d)
        return op


OPERATIONS: tuple[Any, ...] = (
    WriteFile, UploadFile, CopyIn, MakeDir, Delete, Chmod, Chown, Symlink, IniSet, IniUnset,
    GuestConfig, SshInject, RegenHostKeys, RunCommand, FirstbootCommand, Firstboot, ApplyPatches,
    DbImageOp, ResetMachineId,
)
BY_KIND: dict[str, Any] = {cls.kind: cls for cls in OPERATIONS}


# -- the plan ----------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Ordered operations. Building a Plan normalizes it: every --patch merges
    into one all-or-nothing patch operation (at the first one's place) and
    the machine-id reset moves to the very end."""
    operations: tuple[Operation, ...] = ()
    selinux_relabel: bool = True
    network: bool | None = None        # None: on when a command runs in the image
    origin: Path | None = None         # the plan file, when loaded from one

    def __post_init__(self) -> None:
        ops: list[Operation] = []
        patch_at: int | None = None
        reset = False
        for op in self.operations:
            if isinstance(op, ResetMachineId):
                reset = True
                continue
            if isinstance(op, ApplyPatches):
                if patch_at is None:
                    patch_at = len(ops)
                    ops.append(op)
                else:
                    ops[patch_at] = ops[patch_at].merged(op)   # type: ignore[union-attr]
                continue
            ops.append(op)
        if reset:
            ops.append(ResetMachineId())
        object.__setattr__(self, "operations", tuple(ops))

    @classmethod
    def of(cls, *ops: Operation, **kw: Any) -> Plan:
        return cls(operations=tuple(ops), **kw)

    def __iter__(self) -> Iterator[Operation]:
        return iter(self.operations)

    def __len__(self) -> int:
        return len(self.operations)

    def __add__(self, other: Plan | Sequence[Operation]) -> Plan:
        more = other.operations if isinstance(other, Plan) else tuple(other)
        return replace(self, operations=self.operations + more)

    @property
    def runs_guest_code(self) -> bool:
        return any(op.runs_guest_code for op in self.operations)

    @property
    def resets_machine_id(self) -> bool:
        return any(op.resets_machine_id for op in self.operations)

    def validate(self) -> None:
        if not self.operations:
            where = f"{self.origin.name}: " if self.origin else ""
            raise PlanError(f"{where}the plan has no operations",
                            "give at least one operation (imagekit customize --help lists them)")
        for i, op in enumerate(self.operations, 1):
            try:
                op.validate()
            except PlanError as exc:
                where = f"{self.origin.name}: " if self.origin else ""
                raise PlanError(f"{where}operation {i} ({op.kind}): {exc.message}", exc.hint)

    def describe(self) -> list[str]:
        return [op.describe() for op in self.operations]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": PLAN_SCHEMA, "selinux_relabel": self.selinux_relabel,
                "network": self.network, "operations": [op.to_dict() for op in self.operations]}


def plan_from_dict(data: Any, base: Path | None = None, origin: Path | None = None) -> Plan:
    """A plan from parsed YAML: {version: 1, operations: [{kind: value}, ...]}."""
    what = origin.name if origin else "plan"
    if isinstance(data, list):
        data = {"operations": data}
    if not isinstance(data, dict):
        raise PlanError(f"{what}: expected a mapping with an 'operations' list")
    version = data.get("version", PLAN_SCHEMA)
    if version != PLAN_SCHEMA:
        raise PlanError(f"{what}: plan version {version!r} is not supported (this imagekit reads "
                        f"version {PLAN_SCHEMA})")
    unknown = set(data) - {"version", "operations", "network", "selinux_relabel"}
    if unknown:
        raise PlanError(f"{what}: unknown top-level key(s) {', '.join(sorted(unknown))}",
                        "the keys are version, operations, network, selinux_relabel")
    entries = data.get("operations")
    if not isinstance(entries, list):
        raise PlanError(f"{what}: 'operations' must be a list")
    ops: list[Operation] = []
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise PlanError(f"{what}: operation {i}: expected one 'kind: value' entry, got {entry!r}")
        kind, value = next(iter(entry.items()))
        cls = BY_KIND.get(kind)
        if cls is None:
            raise PlanError(f"{what}: operation {i}: unknown operation {kind!r}",
                            f"known operations: {', '.join(BY_KIND)}")
        try:
            ops.append(cls.from_yaml(value, base))
        except PlanError as exc:
            raise PlanError(f"{what}: operation {i} ({kind}): {exc.message}", exc.hint)
    network = data.get("network")
    if network is not None and not isinstance(network, bool):
        raise PlanError(f"{what}: 'network' must be true or false")
    return Plan(operations=tuple(ops), selinux_relabel=bool(data.get("selinux_relabel", True)),
                network=network, origin=origin)


def load_plan(path: Path | str) -> Plan:
    """Read and validate a YAML plan file (host paths in it are relative to its folder)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise PlanError(f"plan {p}: cannot be read ({exc.strerror})", "check the path")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise PlanError(f"plan {p}:{where}: not valid YAML ({getattr(exc, 'problem', exc)})")
    plan = plan_from_dict(data, base=p.resolve().parent, origin=p)
    plan.validate()
    return plan
