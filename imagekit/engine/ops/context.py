"""The guest as operations see it: safe paths, owners by name, and the file
primitives every operation is made of. Each primitive records what it
changed, so results, dry runs and the manifest come from one place.

Paths: every component of a target path is resolved here, one lstat at a
time. A symbolic link inside the guest is never followed on the way to a
target (it could send a write anywhere: /etc/trove -> / turns
/etc/trove/conf.d/x into /conf.d/x), except the standard merged-/usr and
/run links (ALLOWED_LINKS), whose targets are resolved the same way, inside
the guest root. The guestfs calls then get the resolved path, which has no
symbolic link left in it. A target that is itself a link is refused for
writes, chmod and chown; delete removes the link, not what it points to."""
from __future__ import annotations

import hashlib
import posixpath
import stat
import tempfile
from dataclasses import dataclass
from typing import Any

from imagekit.engine.results import Change
from imagekit.errors import GuestError
from imagekit.guest import facts
from imagekit.guest.session import GuestOS

# Links that distributions put on the way to ordinary paths.
ALLOWED_LINKS = frozenset({"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/var/run",
                           "/var/lock", "/usr/lib64"})
MAX_LINK_DEPTH = 8
WRITE_LIMIT = 2 * 1024 * 1024      # larger files go through upload()


@dataclass(frozen=True)
class Node:
    """A resolved guest path: `path` has no symbolic link among its parents."""
    path: str
    kind: str | None           # file, dir, link, other; None = does not exist
    mode: int = 0
    uid: int = 0
    gid: int = 0
    size: int = 0


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "other"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class GuestContext:
    """One mounted guest, read-write (or on a throw-away overlay for dry runs)."""

    def __init__(self, g: Any, guest: GuestOS, *, dry_run: bool = False, network: bool = False,
                 appliance_arch: str = "x86_64") -> None:
        self.g = g
        self.guest = guest
        self.dry_run = dry_run
        self.network = network
        self.appliance_arch = appliance_arch
        self.changes: list[Change] = []
        self.details: dict[str, Any] = {}
        self.notes: list[str] = []
        self._users: dict[str, facts.Passwd] | None = None
        self._groups: dict[str, int] | None = None

    # -- per-operation record --------------------------------------------------
    def begin(self) -> None:
        self.changes, self.details, self.notes = [], {}, []

    def record(self, path: str, action: str, detail: str = "", digest: str | None = None) -> Change:
        c = Change(path, action, detail, digest)
        self.changes.append(c)
        return c

    def note(self, text: str) -> None:
        self.notes.append(text)

    # -- users and groups, from the guest's own files ---------------------------
    def users(self) -> dict[str, facts.Passwd]:
        if self._users is None:
            self._users = facts.passwd(self.g)
        return self._users

    def groups(self) -> dict[str, int]:
        if self._groups is None:
            self._groups = facts.groups(self.g)
        return self._groups

    def forget_accounts(self) -> None:
        self._users = self._groups = None

    def user(self, name: str) -> facts.Passwd:
        u = self.users().get(name)
        if u is None:
            known = ", ".join(sorted(n for n, p in self.users().items() if p.uid >= 1000
                                     or p.uid == 0)[:8])
            raise GuestError(f"user '{name}' does not exist in the image (its /etc/passwd)",
                             f"use a user the image has ({known}), or create it first "
                             "(--run-command 'useradd ...')")
        return u

    def ids(self, owner: str | None, group: str | None) -> tuple[int | None, int | None]:
        """(uid, gid) for names or numbers; a user alone implies its primary group."""
        uid = gid = None
        if owner:
            if owner.isdigit():
                uid = int(owner)
            else:
                u = self.user(owner)
                uid, gid = u.uid, u.gid
        if group:
            if group.isdigit():
                gid = int(group)
            else:
                found = self.groups().get(group)
                if found is None:
                    raise GuestError(f"group '{group}' does not exist in the image (its /etc/group)",
                                     "use a group the image has, or create it first")
                gid = found
        return uid, gid

    def owner_text(self, uid: int, gid: int) -> str:
        uname = next((n for n, p in self.users().items() if p.uid == uid), str(uid))
        gname = next((n for n, v in self.groups().items() if v == gid), str(gid))
        return f"{uname}:{gname}"

    # -- paths ---------------------------------------------------------------------
    def _lstat(self, path: str) -> dict[str, int] | None:
        try:
            return self.g.lstatns(path)
        except RuntimeError:
            return None

    def _node(self, path: str, st: dict[str, int] | None) -> Node:
        if st is None:
            return Node(path, None)
        return Node(path, _kind(st["st_mode"]), st["st_mode"] & 0o7777, st["st_uid"],
                    st["st_gid"], st["st_size"])

    def resolve(self, path: str, *, follow: bool = False, _depth: int = 0) -> Node:
        """The node at `path`, parents resolved safely; the last component is
        followed only when `follow` (and only through ALLOWED_LINKS)."""
        parts = [p for p in path.split("/") if p and p != "."]
        real = ""
        for i, name in enumerate(parts):
            cand = f"{real}/{name}"
            last = i == len(parts) - 1
            st = self._lstat(cand)
            if st is None:
                rest = "/".join(parts[i + 1:])
                return Node(f"{cand}/{rest}" if rest else cand, None)
            kind = _kind(st["st_mode"])
            if kind == "link" and (follow or not last):
                target = self.g.readlink(cand)
                if cand not in ALLOWED_LINKS:
                    raise GuestError(
                        f"{path}: {cand} is a symbolic link to {target} inside the image; "
                        "imagekit does not follow links on the way to a target (the change "
                        "would land somewhere else)",
                        f"give the real path, or replace the link first (--delete {cand})")
                if _depth >= MAX_LINK_DEPTH:
                    raise GuestError(f"{path}: too many levels of symbolic links at {cand}")
                dest = posixpath.normpath(posixpath.join(real or "/", target))
                node = self.resolve(dest, follow=True, _depth=_depth + 1)
                rest = "/".join(parts[i + 1:])
                if last:
                    return node
                if node.kind is None:
                    return Node(f"{node.path}/{rest}", None)
                if node.kind != "dir":
                    raise GuestError(f"{path}: {cand} does not lead to a folder in the image")
                real = node.path.rstrip("/")
                continue
            if not last and kind != "dir":
                raise GuestError(f"{path}: {cand} is not a folder in the image")
            if last:
                return self._node(cand, st)
            real = cand
        return self._node("/", self._lstat("/"))

    def parent_dir(self, path: str) -> str:
        """The resolved, existing folder that will hold `path`."""
        folder = posixpath.dirname(path) or "/"
        node = self.resolve(folder, follow=True)
        if node.kind is None:
            raise GuestError(f"{path}: the folder {folder} does not exist in the image",
                             f"create it first (--mkdir {folder})")
        if node.kind != "dir":
            raise GuestError(f"{path}: {folder} is not a folder in the image")
        return node.path

    def target(self, path: str) -> Node:
        """The node a write/chmod/chown of `path` acts on: parents resolved,
        the last component must not be a link."""
        node = self._node(f"{self.parent_dir(path).rstrip('/')}/{posixpath.basename(path)}",
                          None)
        node = self._node(node.path, self._lstat(node.path))
        if node.kind == "link":
            to = self.g.readlink(node.path)
            raise GuestError(f"{path} is a symbolic link to {to} inside the image; refusing to "
                             "change what it points to",
                             f"give the real path, or delete the link first (--delete {path})")
        return node

    # -- reading --------------------------------------------------------------------
    def read(self, path: str) -> bytes | None:
        """A regular file's bytes (None when missing); links refused as for writes."""
        node = self.resolve(path, follow=True)
        if node.kind is None:
            return None
        if node.kind != "file":
            raise GuestError(f"{path}: not a regular file in the image")
        return facts.read_bytes(self.g, node.path, limit=1 << 31)

    # -- writing --------------------------------------------------------------------
    def put_file(self, path: str, data: bytes, *, mode: int | None = None,
                 uid: int | None = None, gid: int | None = None) -> Change:
        """Create or replace a regular file. A new file is 0644 root:root
        unless told; an existing one keeps its mode and owner unless told."""
        node = self.target(path)
        if node.kind not in (None, "file"):
            raise GuestError(f"{path}: exists in the image and is not a regular file ({node.kind})",
                             f"delete it first (--delete {path})")
        old = facts.read_bytes(self.g, node.path, limit=1 << 31) if node.kind == "file" else None
        if old != data:
            if len(data) <= WRITE_LIMIT:
                self.g.write(node.path, data)
            else:
                with tempfile.NamedTemporaryFile(prefix="imagekit-upload-") as tf:
                    tf.write(data)
                    tf.flush()
                    self.g.upload(tf.name, node.path)
        cur_mode = node.mode if node.kind == "file" else 0o644
        cur_uid = node.uid if node.kind == "file" else 0
        cur_gid = node.gid if node.kind == "file" else 0
        if node.kind is None:
            self.g.chmod(0o644 if mode is None else mode, node.path)
            if (uid or 0) or (gid or 0):
                self.g.chown(uid or 0, gid or 0, node.path)
        else:
            if mode is not None and mode != cur_mode:
                self.g.chmod(mode, node.path)
            if (uid is not None and uid != cur_uid) or (gid is not None and gid != cur_gid):
                self.g.chown(cur_uid if uid is None else uid, cur_gid if gid is None else gid,
                             node.path)
        new_mode = cur_mode if mode is None else mode
        new_uid = cur_uid if uid is None else uid
        new_gid = cur_gid if gid is None else gid
        attrs = f"{new_mode:04o} {self.owner_text(new_uid, new_gid)}"
        if node.kind is None:
            action = "created"
        elif old != data:
            action = "replaced"
        elif (new_mode, new_uid, new_gid) != (cur_mode, cur_uid, cur_gid):
            action = "mode" if new_mode != cur_mode else "owner"
        else:
            action = "unchanged"
        if node.path in ("/etc/passwd", "/etc/group"):
            self.forget_accounts()
        return self.record(node.path, action, f"{len(data)} bytes, {attrs}", sha256(data))

    def ensure_dir(self, path: str, *, mode: int | None = None, uid: int | None = None,
                   gid: int | None = None, parents_uid: int = 0, parents_gid: int = 0) -> Node:
        """mkdir -p: missing parents 0755 (owned by parents_uid/gid), the leaf
        with mode/owner when given (also when it already exists)."""
        parts = [p for p in path.split("/") if p]
        cur = "/"
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            want = f"{cur.rstrip('/')}/{name}"
            node = self.resolve(want, follow=True)
            if node.kind is None:
                self.g.mkdir(node.path)
                m = (0o755 if mode is None else mode) if last else 0o755
                o_uid = (parents_uid if uid is None else uid) if last else parents_uid
                o_gid = (parents_gid if gid is None else gid) if last else parents_gid
                self.g.chmod(m, node.path)
                if o_uid or o_gid:
                    self.g.chown(o_uid, o_gid, node.path)
                self.record(node.path, "created", f"folder {m:04o} {self.owner_text(o_uid, o_gid)}")
            elif node.kind != "dir":
                raise GuestError(f"{path}: {want} exists in the image and is not a folder")
            elif last:
                self._set_attrs(node, mode, uid, gid)
            cur = node.path
        return self.resolve(cur)

    def _set_attrs(self, node: Node, mode: int | None, uid: int | None, gid: int | None) -> None:
        if mode is not None and mode != node.mode:
            self.g.chmod(mode, node.path)
            self.record(node.path, "mode", f"{node.mode:04o} -> {mode:04o}")
        new_uid = node.uid if uid is None else uid
        new_gid = node.gid if gid is None else gid
        if (new_uid, new_gid) != (node.uid, node.gid):
            self.g.chown(new_uid, new_gid, node.path)
            self.record(node.path, "owner", f"{self.owner_text(node.uid, node.gid)} -> "
                                            f"{self.owner_text(new_uid, new_gid)}")

    def set_mode(self, path: str, mode: int) -> None:
        node = self.target(path)
        if node.kind is None:
            raise GuestError(f"chmod {path}: no such file or folder in the image")
        before = len(self.changes)
        self._set_attrs(node, mode, None, None)
        if len(self.changes) == before:
            self.record(node.path, "unchanged", f"already {mode:04o}")

    def set_owner(self, path: str, uid: int | None, gid: int | None) -> None:
        node = self.target(path)
        if node.kind is None:
            raise GuestError(f"chown {path}: no such file or folder in the image")
        before = len(self.changes)
        self._set_attrs(node, None, uid, gid)
        if len(self.changes) == before:
            self.record(node.path, "unchanged", f"already {self.owner_text(node.uid, node.gid)}")

    def remove(self, path: str) -> bool:
        """Delete a file, link (not its target) or folder tree; False if absent."""
        node = self.resolve(path)          # the last component is not followed
        if node.kind is None:
            return False
        if node.path == "/":
            raise GuestError("refusing to delete the root folder of the image")
        self.g.rm_rf(node.path)
        self.record(node.path, "deleted", node.kind or "")
        return True

    def remove_glob(self, pattern: str) -> int:
        """Delete every match of a wildcard pattern; the fixed folder part is
        resolved safely first, every match is checked again."""
        parts = pattern.split("/")
        fixed = []
        for p in parts[1:]:
            if any(ch in p for ch in "*?["):
                break
            fixed.append(p)
        rest = parts[1 + len(fixed):]
        if not rest:
            return int(self.remove(pattern))
        base = self.resolve("/" + "/".join(fixed), follow=True)
        if base.kind != "dir":
            return 0
        count = 0
        for match in sorted(self.g.glob_expand(f"{base.path.rstrip('/')}/{'/'.join(rest)}")):
            count += int(self.remove(match.rstrip("/")))
        return count

    def make_link(self, target: str, path: str) -> None:
        folder = self.parent_dir(path)
        real = f"{folder.rstrip('/')}/{posixpath.basename(path)}"
        node = self._node(real, self._lstat(real))
        if node.kind == "link":
            old = self.g.readlink(real)
            if old == target:
                self.record(real, "unchanged", f"-> {target}")
                return
            self.g.rm(real)
            self.g.ln_s(target, real)
            self.record(real, "linked", f"-> {target} (was -> {old})")
            return
        if node.kind is not None:
            raise GuestError(f"link {path}: exists in the image and is not a symbolic link "
                             f"({node.kind})", f"delete it first (--delete {path})")
        self.g.ln_s(target, real)
        self.record(real, "linked", f"-> {target}")

    def truncate(self, path: str) -> None:
        node = self.target(path)
        if node.kind is None:
            self.record(path, "skipped", "not in the image")
            return
        if node.kind != "file":
            raise GuestError(f"{path}: not a regular file in the image")
        if node.size == 0:
            self.record(node.path, "unchanged", "already empty")
            return
        self.g.truncate(node.path)
        self.record(node.path, "truncated", f"{node.size} bytes -> 0")
