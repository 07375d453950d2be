"""The libguestfs session: one appliance launch per command.

`Appliance` owns one GuestFS handle. Add one or more images (read-only by
default: libguestfs puts a throw-away overlay in front, the file's bytes and
mtime never change), launch once, find each image's operating system
(inspection, cached per image file), mount it, work, close.

    with Appliance() as app:
        idx = app.add(check_image(path))
        app.launch()
        guest = app.inspect(idx)
        app.mount(guest)
        app.g.cat("/etc/os-release")
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imagekit import paths, ui
from imagekit.errors import ApplianceError, GuestError
from imagekit.guest import backend as backend_mod
from imagekit.guest.image import CheckedImage


def _guestfs():
    try:
        import guestfs
    except ImportError:
        raise ApplianceError("the libguestfs Python binding (guestfs) cannot be imported",
                             "install python3-guestfs and run imagekit from a venv made with "
                             "/usr/bin/python3 -m venv --system-site-packages (make setup does this)")
    return guestfs


@dataclass(frozen=True)
class GuestOS:
    """What libguestfs inspection found for one operating system."""
    drive: int
    root: str
    type: str
    distro: str
    product_name: str
    major: int
    minor: int
    arch: str
    hostname: str
    package_format: str
    package_management: str
    mountpoints: tuple[tuple[str, str], ...] = field(default=())   # (mountpoint, device)

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}" if self.minor else str(self.major)


_SD = re.compile(r"^/dev/sd([a-z]+)")


def _letter(index: int) -> str:
    s, n = "", index + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(ord("a") + r) + s
    return s


def _generic(dev: str) -> str:
    return _SD.sub("/dev/sd@", dev)


def _specific(dev: str, index: int) -> str:
    return dev.replace("/dev/sd@", f"/dev/sd{_letter(index)}")


class _InspectionCache:
    """Inspection costs 6-11 s under TCG; its result depends only on the image
    file, so it is cached by (path, size, mtime, inode) of that file."""

    def __init__(self) -> None:
        self.file = paths.cache_dir() / "inspection.json"

    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> Any:
        return self._load().get(key)

    def put(self, key: str, value: Any) -> None:
        data = self._load()
        data[key] = value
        if len(data) > 200:  # keep it small: drop the oldest entries
            data = dict(list(data.items())[-200:])
        tmp = self.file.with_suffix(f".{time.monotonic_ns()}.tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.file)


@dataclass
class _Drive:
    image: CheckedImage | None
    path: Path
    format: str
    readonly: bool
    cache_key: str | None


class Appliance:
    """One libguestfs handle, launched once."""

    # Interactive programs (imagekit shell) set this: qemu then runs in its own
    # process group, so ^C at their prompt interrupts a command, not the appliance.
    own_process_group = False

    def __init__(self, *, backend: str | None = None, network: bool = False,
                 memsize: int | None = None, smp: int | None = None,
                 use_cache: bool = True) -> None:
        gfs = _guestfs()
        self.choice = backend_mod.choose(backend)
        self.g = gfs.GuestFS(python_return_dict=True)
        self.g.set_backend("direct")
        self.g.set_backend_settings(self.choice.settings)
        if network:
            self.g.set_network(True)
        if memsize:
            self.g.set_memsize(memsize)
        if smp:
            self.g.set_smp(smp)
        if self.own_process_group:
            self.g.set_pgroup(True)
        self.drives: list[_Drive] = []
        self.launched = False
        self.launch_seconds: float | None = None
        self.use_cache = use_cache
        self._cache = _InspectionCache()
        self._mounted: GuestOS | None = None
        self._inspected: dict[int, list[GuestOS]] = {}
        self._known_devices: set[str] | None = None   # listed once per launch (see _cache_valid)
        self._known_lvs: set[str] | None = None

    # -- drives -----------------------------------------------------------
    def add(self, image: CheckedImage, *, readonly: bool = True,
            cache_as: CheckedImage | None = None) -> int:
        """Add an image; returns its drive index. `cache_as`: an overlay whose
        inspection equals that of its (unchanged) backing image."""
        if self.launched:
            raise ApplianceError("internal: drives must be added before launch")
        src = cache_as or image
        key = "|".join(map(str, src.identity())) if (self.use_cache and (readonly or cache_as)) else None
        self.g.add_drive_opts(str(image.path), format=image.format, readonly=readonly)
        self.drives.append(_Drive(image, image.path, image.format, readonly, key))
        return len(self.drives) - 1

    def add_path(self, path: Path, fmt: str, *, readonly: bool) -> int:
        """Add a file imagekit created itself (an overlay, a new test image)."""
        if self.launched:
            raise ApplianceError("internal: drives must be added before launch")
        self.g.add_drive_opts(str(path), format=fmt, readonly=readonly)
        self.drives.append(_Drive(None, path, fmt, readonly, None))
        return len(self.drives) - 1

    # -- lifecycle --------------------------------------------------------
    def launch(self) -> None:
        ui.verbose(f"appliance backend: {self.choice.accel} ({self.choice.reason}; "
                   f"verdict from {self.choice.source})")
        start = time.monotonic()
        with ui.step(f"starting the appliance ({self.choice.accel.upper()})") as d:
            try:
                self.g.launch()
            except RuntimeError as exc:
                raise ApplianceError(f"the libguestfs appliance failed to start: {exc}",
                                     "run 'imagekit doctor'; if KVM hangs, use --backend tcg")
            d["note"] = f"{len(self.drives)} image(s)"
        self.launched = True
        self.launch_seconds = time.monotonic() - start

    def close(self) -> None:
        try:
            if self.launched:
                try:
                    self.g.umount_all()
                except RuntimeError:
                    pass
                self.g.shutdown()
        finally:
            self.g.close()
            self.launched = False

    def __enter__(self) -> Appliance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inspection ------------------------------------------------------
    def inspect(self, drive: int = 0) -> GuestOS:
        """The one operating system on `drive` (error if none or several)."""
        found = self.inspect_all(drive)
        label = self.drives[drive].path
        if not found:
            raise GuestError(f"{label}: no operating system found in the image",
                             "is this a guest image? imagekit inspect shows its filesystems")
        if len(found) > 1:
            roots = ", ".join(o.root for o in found)
            raise GuestError(f"{label}: several operating systems found ({roots})",
                             "imagekit handles single-OS guest images only")
        return found[0]

    def inspect_all(self, drive: int = 0) -> list[GuestOS]:
        if drive in self._inspected:
            return self._inspected[drive]
        d = self.drives[drive]
        if d.cache_key:
            cached = self._cache.get(d.cache_key)
            if cached is not None and self._cache_valid(cached, drive):
                oses = [self._from_cache(c, drive) for c in cached]
                ui.verbose(f"{d.path}: inspection result from cache")
                self._inspected[drive] = oses
                return oses
        per_drive = self._inspect_all_drives()
        for i, found in per_drive.items():
            key = self.drives[i].cache_key
            if key:
                self._cache.put(key, [self._to_cache(o) for o in found])
        return per_drive[drive]

    def _inspect_all_drives(self) -> dict[int, list[GuestOS]]:
        with ui.step("inspecting the guest operating system"):
            roots = self.g.inspect_os()
        per_drive: dict[int, list[GuestOS]] = {i: [] for i in range(len(self.drives))}
        for root in roots:
            idx = self._drive_of(root)
            g = self.g
            mps = self._own_mountpoints(root, idx, g.inspect_get_mountpoints(root))
            os_ = GuestOS(
                drive=idx, root=root, type=g.inspect_get_type(root),
                distro=g.inspect_get_distro(root), product_name=g.inspect_get_product_name(root),
                major=g.inspect_get_major_version(root), minor=g.inspect_get_minor_version(root),
                arch=g.inspect_get_arch(root), hostname=g.inspect_get_hostname(root),
                package_format=g.inspect_get_package_format(root),
                package_management=g.inspect_get_package_management(root),
                mountpoints=tuple(sorted(mps.items(), key=lambda kv: len(kv[0]))),
            )
            per_drive.setdefault(idx, []).append(os_)
        for i, found in per_drive.items():
            self._inspected.setdefault(i, found)
        return per_drive

    def _own_mountpoints(self, root: str, drive: int, mps: dict[str, str]) -> dict[str, str]:
        """With several images attached, fstab entries by LABEL= or UUID= can
        resolve to another image's filesystem (every DIB image labels its root
        'cloudimg-rootfs'). Keep each mountpoint on the root's own drive."""
        if len(self.drives) == 1:
            return mps
        out = {"/": root}
        for mp, dev in mps.items():
            if mp == "/":
                continue
            if self._drive_of(dev) == drive:
                out[mp] = dev
                continue
            m = re.match(r"^/dev/sd[a-z]+(\d+)$", dev)
            if m:
                twin = f"/dev/sd{_letter(drive)}{m.group(1)}"
                try:
                    want = self.g.blkid(dev)
                    got = self.g.blkid(twin)
                    if (want.get("LABEL"), want.get("TYPE")) == (got.get("LABEL"), got.get("TYPE")):
                        out[mp] = twin
                        continue
                except RuntimeError:
                    pass
            ui.warn(f"{root}: cannot tell which filesystem {mp} is on with several images "
                    "attached; it is not mounted")
        return out

    def _drive_of(self, device: str) -> int:
        """Which drive a device (partition, whole disk or LV) belongs to."""
        m = _SD.match(device)
        if m:
            letters, n = m.group(1), 0
            for ch in letters:
                n = n * 26 + (ord(ch) - ord("a") + 1)
            return n - 1
        # LVM: /dev/VG/LV -> the PVs of VG -> their disk
        vg = device.split("/")[2] if device.count("/") >= 3 else ""
        try:
            vg_uuids = set(self.g.vgpvuuids(vg))
            for pv in self.g.pvs():
                if self.g.pvuuid(pv) in vg_uuids:
                    return self._drive_of(pv)
        except RuntimeError:
            pass
        return 0

    def _to_cache(self, o: GuestOS) -> dict:
        d = asdict(o)
        d["root"] = _generic(o.root)
        d["mountpoints"] = [[mp, _generic(dev)] for mp, dev in o.mountpoints]
        del d["drive"]
        return d

    def _from_cache(self, d: dict, drive: int) -> GuestOS:
        d = dict(d)
        d["root"] = _specific(d["root"], drive)
        d["mountpoints"] = tuple((mp, _specific(dev, drive)) for mp, dev in d["mountpoints"])
        return GuestOS(drive=drive, **d)

    def _cache_valid(self, cached: list[dict], drive: int) -> bool:
        # Listing devices and partitions costs seconds per call with many drives
        # under TCG; the block devices of a launch do not change while images
        # are inspected, so they are listed once, not once per drive.
        try:
            if self._known_devices is None:
                self._known_devices = set(self.g.list_devices()) | set(self.g.list_partitions())
            known = set(self._known_devices)
            needs_lvm = any(not _SD.match(dev) for c in cached for _, dev in c["mountpoints"])
            if needs_lvm:
                if self._known_lvs is None:
                    self._known_lvs = set(self.g.lvs())
                known |= self._known_lvs
        except RuntimeError:
            return False
        return all(_specific(dev, drive) in known for c in cached for _, dev in c["mountpoints"])

    # -- storage layout ---------------------------------------------------
    def storage(self, guest: GuestOS) -> dict[str, list[dict]]:
        """Partitions and filesystems of the guest's own drive, each filesystem
        with its mountpoint. The layout depends only on the file, so it is
        cached like the inspection; mountpoints come from `guest`."""
        d = self.drives[guest.drive]
        key = f"{d.cache_key}|storage/3" if d.cache_key else None
        layout = self._cache.get(key) if key else None
        if layout is not None:
            layout = {k: [{**e, "device": _specific(e["device"], guest.drive)} for e in v]
                      for k, v in layout.items()}
        else:
            layout = self._read_storage(guest)
            if key:
                self._cache.put(key, {k: [{**e, "device": _generic(e["device"])} for e in v]
                                      for k, v in layout.items()})
        mounted = {dev: mp for mp, dev in guest.mountpoints}
        return {"partitions": layout["partitions"],
                "filesystems": [{**f, "mountpoint": mounted.get(f["device"])}
                                for f in layout["filesystems"]]}

    def _read_storage(self, guest: GuestOS) -> dict[str, list[dict]]:
        g = self.g
        dev = g.list_devices()[guest.drive]
        parts: list[dict] = []
        table = None
        if g.pread_device(dev, 8, 512) == b"EFI PART":
            table = "gpt"
        elif g.pread_device(dev, 2, 510) == b"\x55\xaa":
            table = "msdos"
        sizes: dict[str, int] = {}
        if table:
            try:
                for p in g.part_list(dev):
                    name = f"{dev}{p['part_num']}"
                    sizes[name] = p["part_size"]
                    parts.append({"device": name, "number": p["part_num"],
                                  "start": p["part_start"], "size": p["part_size"], "table": table})
            except RuntimeError:
                pass
        fss: list[dict] = []
        has_pv = False

        def probe(fs: str) -> None:
            nonlocal has_pv
            try:
                tags = g.blkid(fs)
            except RuntimeError:
                return
            fstype = tags.get("TYPE")
            if fstype == "LVM2_member":
                has_pv = True
            if fstype and fstype != "LVM2_member":
                fss.append({"device": fs, "type": fstype, "label": tags.get("LABEL"),
                            "uuid": tags.get("UUID"), "size": sizes.get(fs)})

        for cand in [p["device"] for p in parts] or [dev]:
            probe(cand)
        if has_pv:   # logical volumes whose volume group lives on this drive
            try:
                full = {lv["lv_name"]: lv["lv_size"] for lv in g.lvs_full()}
                for name in g.lvs():
                    if self._drive_of(name) == guest.drive:
                        sizes[name] = full.get(name.rsplit("/", 1)[1])
                        probe(name)
            except (RuntimeError, KeyError):
                pass
        return {"partitions": parts, "filesystems": fss}

    # -- mounting --------------------------------------------------------
    def mount(self, guest: GuestOS, *, readonly: bool | None = None) -> None:
        """Mount the guest's filesystems at their mountpoints."""
        if readonly is None:
            readonly = self.drives[guest.drive].readonly
        if self._mounted is not None:
            self.umount()
        for mp, dev in guest.mountpoints:
            try:
                if readonly:
                    self.g.mount_ro(dev, mp)
                else:
                    self.g.mount(dev, mp)
            except RuntimeError as exc:
                if mp == "/":
                    raise GuestError(f"cannot mount the root filesystem {dev}: {exc}",
                                     "the filesystem may need a repair (e2fsck on a copy)")
                ui.warn(f"cannot mount {dev} on {mp}: {exc}")
        self._mounted = guest

    def umount(self) -> None:
        self.g.umount_all()
        self._mounted = None

    @property
    def mounted(self) -> GuestOS:
        if self._mounted is None:
            raise ApplianceError("internal: no guest mounted")
        return self._mounted
