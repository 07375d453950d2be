"""Tiny but real guest images for the tests, made in seconds with libguestfs.

Each image has a real partition table and filesystem, Debian's busybox-static
as /bin/sh and friends, /etc/os-release, passwd/group/shadow, a dpkg status
database, a stand-in Trove guest agent (a venv tree with trove's dist-info
and a trove/ package, its systemd unit, enabled), cloud-init configuration
and ssh host keys. The root filesystem is packed into a tarball on the host
and unpacked with one `tar_in`; all images of a request are made in one
appliance launch and cached by the hash of this file and their spec.

Layouts: single (MBR, root on p1, like DIB on x86), prep (8 MiB PReP p1 +
root on p2, like the original tool's ppc64le images), boot (separate /boot),
lvm (root on an LV), xfs (xfs root)."""
from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from imagekit import aptsources, paths
from imagekit.guest.session import Appliance
from imagekit.tools import qemuimg

HERE = Path(__file__).resolve()
LAYOUTS = ("single", "prep", "boot", "lvm", "xfs")

# Stand-in Trove source files that the test patches in patches/ apply to.
AGENT_FILES = {
    "trove/__init__.py": "# stand-in trove package for imagekit tests\n",
    "trove/guestagent/__init__.py": "",
    "trove/guestagent/datastore/__init__.py": "",
    "trove/guestagent/datastore/postgres/__init__.py": "",
    "trove/guestagent/datastore/postgres/service.py": (
        '"""Stand-in for trove.guestagent.datastore.postgres.service."""\n\n'
        "ADMIN_USER = 'os_admin'\n"
        "DEFAULT_PORT = 5432\n\n\n"
        "def create_user_statement(name, password):\n"
        "    return \"CREATE USER %s WITH PASSWORD '%s'\" % (name, password)\n"),
    "trove/cmd/__init__.py": "",
    "trove/cmd/guest.py": (
        "import sys\n\n\ndef main():\n"
        "    print('stand-in trove-guestagent', sys.argv[1:])\n"),
}


@dataclass(frozen=True)
class TinySpec:
    layout: str = "single"
    arch: str = "x86_64"                  # or "ppc64le" (busybox from Debian's ppc64el .deb)
    guest_user: str = "ubuntu"
    agent: bool = True
    trove_version: str = "26.0.0"
    agent_enabled: bool = True
    db_packages: tuple[str, ...] = ("postgresql-15",)
    cloud_init: bool = True
    datasources: tuple[str, ...] = ("ConfigDrive", "OpenStack")
    host_keys: tuple[str, ...] = ("rsa", "ed25519")
    extra_files: tuple[tuple[str, str], ...] = field(default=())   # (path, content)
    extra_dirs: tuple[tuple[str, int, int, int], ...] = field(default=())  # (path, mode, uid, gid)
    size_mib: int = 512

    def key(self) -> str:
        h = hashlib.sha256(HERE.read_bytes())
        h.update(json.dumps(asdict(self), sort_keys=True).encode())
        return h.hexdigest()[:16]


# -- busybox --------------------------------------------------------------------
def _busybox(arch: str) -> Path:
    if arch == "x86_64":
        return Path("/bin/busybox")
    deb_arch = {"ppc64le": "ppc64el", "aarch64": "arm64"}[arch]
    cache = paths.cache_dir() / "test-images" / f"busybox-{deb_arch}"
    if cache.exists():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    mirror = aptsources.distro_mirror()
    suite = "bookworm"
    url = f"{mirror}/dists/{suite}/main/binary-{deb_arch}/Packages.xz"
    index = lzma.decompress(urllib.request.urlopen(url, timeout=120).read()).decode()
    filename = None
    for stanza in index.split("\n\n"):
        if stanza.startswith("Package: busybox-static\n"):
            filename = next(ln.split(": ", 1)[1] for ln in stanza.splitlines()
                            if ln.startswith("Filename: "))
            break
    assert filename, "busybox-static not found in the mirror's index"
    with tempfile.TemporaryDirectory() as tmp:
        deb = Path(tmp) / "bb.deb"
        deb.write_bytes(urllib.request.urlopen(f"{mirror}/{filename}", timeout=120).read())
        subprocess.run(["dpkg-deb", "-x", str(deb), f"{tmp}/x"], check=True)
        shutil.copy(f"{tmp}/x/bin/busybox", cache)
    return cache


# -- the root filesystem as a tarball ------------------------------------------------
class _Tar:
    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w")
        self.now = int(time.time())

    def _info(self, path: str, kind: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(path.lstrip("/"))
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, self.now
        return ti

    def dir(self, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self.tar.addfile(self._info(path, tarfile.DIRTYPE, mode, uid, gid))

    def file(self, path: str, data: str | bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        raw = data.encode() if isinstance(data, str) else data
        ti = self._info(path, tarfile.REGTYPE, mode, uid, gid)
        ti.size = len(raw)
        self.tar.addfile(ti, io.BytesIO(raw))

    def symlink(self, path: str, target: str) -> None:
        ti = self._info(path, tarfile.SYMTYPE, 0o777, 0, 0)
        ti.linkname = target
        self.tar.addfile(ti)

    def hardlink(self, path: str, target: str) -> None:
        ti = self._info(path, tarfile.LNKTYPE, 0o755, 0, 0)
        ti.linkname = target.lstrip("/")
        self.tar.addfile(ti)

    def close(self) -> bytes:
        self.tar.close()
        return self.buf.getvalue()


def _dpkg_status(names: list[str], arch: str) -> str:
    deb_arch = {"x86_64": "amd64", "ppc64le": "ppc64el"}.get(arch, arch)
    versions = {"postgresql-15": "15.14-0+deb12u1", "mariadb-server": "1:10.11.14-0+deb12u2",
                "redis-server": "5:7.0.15-1~deb12u5", "cloud-init": "22.4.2-1+deb12u3",
                "busybox-static": "1:1.35.0-4+b3", "openssh-server": "1:9.2p1-2+deb12u6",
                "docker.io": "20.10.24+dfsg1-1+deb12u1"}
    out = []
    for n in names:
        out.append(f"Package: {n}\nStatus: install ok installed\nPriority: optional\n"
                   f"Architecture: {deb_arch}\nVersion: {versions.get(n, '1.0-1')}\n"
                   f"Description: {n} (imagekit test stand-in)\n")
    return "\n".join(out)


def rootfs_tar(spec: TinySpec, fstab: str) -> bytes:
    t = _Tar()
    for d in ("usr", "usr/bin", "usr/sbin", "usr/lib", "etc", "etc/ssh", "etc/systemd",
              "etc/systemd/system", "etc/systemd/system/multi-user.target.wants", "etc/cloud",
              "etc/cloud/cloud.cfg.d", "etc/default", "var", "var/lib", "var/lib/dpkg", "var/log",
              "var/tmp", "home", "root", "proc", "sys", "dev", "run", "boot", "opt", "mnt",
              "usr/lib/systemd", "usr/lib/systemd/system", "usr/share"):
        t.dir(d)
    t.dir("tmp", 0o1777)
    t.dir("var/tmp", 0o1777)
    t.dir("root", 0o700)
    for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"),
                         ("lib64", "usr/lib")):
        t.symlink(link, target)
    t.file("usr/bin/busybox", _busybox(spec.arch).read_bytes(), 0o755)
    applets = subprocess.run(["busybox", "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    seen = {"usr/bin/busybox"}
    for a in applets:
        a = a if a.startswith("usr/") else "usr/" + a
        if a not in seen:
            seen.add(a)
            t.hardlink(a, "usr/bin/busybox")
    t.file("usr/bin/dpkg", "#!/bin/sh\necho 'stand-in dpkg' >&2\nexit 0\n", 0o755)
    t.file("usr/bin/apt-get", "#!/bin/sh\necho 'stand-in apt-get' >&2\nexit 0\n", 0o755)
    u = spec.guest_user
    t.file("etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
           'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n')
    t.file("etc/debian_version", "12.12\n")
    t.file("etc/hostname", "tiny\n")
    t.file("etc/machine-id", "0123456789abcdef0123456789abcdef\n", 0o444)
    t.file("etc/fstab", fstab)
    t.file("etc/resolv.conf", "nameserver 192.0.2.53\n")
    t.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
           f"{u}:x:1000:1000:{u}:/home/{u}:/bin/sh\n"
           "postgres:x:108:112:PostgreSQL administrator:/var/lib/postgresql:/bin/sh\n")
    t.file("etc/group", f"root:x:0:\ndaemon:x:1:\nsudo:x:27:{u}\n{u}:x:1000:\npostgres:x:112:\n")
    t.file("etc/shadow", f"root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
           f"{u}:!:19000:0:99999:7:::\npostgres:*:19000:0:99999:7:::\n", 0o640, 0, 42)
    t.dir(f"home/{u}", 0o755, 1000, 1000)
    names = ["base-files", "busybox-static", "openssh-server", *spec.db_packages]
    if spec.cloud_init:
        names.append("cloud-init")
        t.file("usr/bin/cloud-init", "#!/bin/sh\necho stand-in cloud-init\n", 0o755)
        t.file("etc/cloud/cloud.cfg", "users:\n  - default\ndisable_root: true\n")
        if spec.datasources:
            t.file("etc/cloud/cloud.cfg.d/91-dib-cloud-init-datasources.cfg",
                   f"datasource_list: [ {', '.join(spec.datasources)} ]\n")
    t.file("var/lib/dpkg/status", _dpkg_status(names, spec.arch))
    for db in spec.db_packages:
        svc = {"postgresql-15": "postgresql", "mariadb-server": "mariadb",
               "redis-server": "redis-server"}.get(db)
        if svc:
            t.file(f"usr/lib/systemd/system/{svc}.service",
                   f"[Unit]\nDescription={svc} stand-in\n[Service]\nExecStart=/bin/true\n"
                   "[Install]\nWantedBy=multi-user.target\n")
            t.symlink(f"etc/systemd/system/multi-user.target.wants/{svc}.service",
                      f"/lib/systemd/system/{svc}.service")
    if spec.agent:
        venv = "opt/guest-agent-venv"
        site = f"{venv}/lib/python3.11/site-packages"
        for d in (venv, f"{venv}/bin", f"{venv}/lib", f"{venv}/lib/python3.11", site,
                  f"{site}/trove", f"{site}/trove/guestagent", f"{site}/trove/guestagent/datastore",
                  f"{site}/trove/guestagent/datastore/postgres", f"{site}/trove/cmd",
                  f"{site}/trove-{spec.trove_version}.dist-info"):
            t.dir(d)
        for rel, text in AGENT_FILES.items():
            t.file(f"{site}/{rel}", text)
        t.file(f"{site}/trove-{spec.trove_version}.dist-info/METADATA",
               f"Metadata-Version: 2.1\nName: trove\nVersion: {spec.trove_version}\n")
        t.file(f"{venv}/bin/trove-guestagent", "#!/bin/sh\necho stand-in agent\n", 0o755)
        t.file("etc/systemd/system/guest-agent.service",
               "[Unit]\nDescription=OpenStack Trove Guest Agent\nAfter=network.target\n"
               f"[Service]\nUser={u}\nGroup={u}\n"
               f"ExecStart=/{venv}/bin/trove-guestagent --config-dir=/etc/trove/conf.d\n"
               "Restart=always\n[Install]\nWantedBy=multi-user.target\n")
        if spec.agent_enabled:
            t.symlink("etc/systemd/system/multi-user.target.wants/guest-agent.service",
                      "/etc/systemd/system/guest-agent.service")
        t.dir("etc/trove", 0o755, 1000, 1000)
        t.dir("etc/trove/conf.d", 0o775, 1000, 1000)
        t.dir("var/log/trove", 0o775, 1000, 0)
    if spec.host_keys:
        with tempfile.TemporaryDirectory() as tmp:
            for kt in spec.host_keys:
                key = Path(tmp) / f"ssh_host_{kt}_key"
                subprocess.run(["ssh-keygen", "-q", "-t", kt, "-N", "", "-C", "root@tiny",
                                "-f", str(key)], check=True)
                t.file(f"etc/ssh/{key.name}", key.read_bytes(), 0o600)
                t.file(f"etc/ssh/{key.name}.pub", Path(f"{key}.pub").read_bytes(), 0o644)
    t.file("etc/ssh/sshd_config", "PermitRootLogin prohibit-password\n")
    for path, mode, uid, gid in spec.extra_dirs:
        t.dir(path, mode, uid, gid)
    for path, text in spec.extra_files:
        t.file(path, text)
    return t.close()


# -- building ------------------------------------------------------------------------
def _partition_and_format(g, dev: str, spec: TinySpec) -> tuple[dict[str, str], str]:
    """Returns ({mountpoint: device}, fstab text)."""
    sectors = g.blockdev_getsz(dev)
    g.part_init(dev, "mbr")
    mounts: dict[str, str] = {}
    if spec.layout in ("single", "xfs", "lvm"):
        g.part_add(dev, "p", 2048, sectors - 1)
        root = f"{dev}1"
        if spec.layout == "lvm":
            g.part_set_mbr_id(dev, 1, 0x8e)
            g.pvcreate(root)
            g.vgcreate("tinyvg", [root])
            g.lvcreate_free("root", "tinyvg", 100)
            root = "/dev/tinyvg/root"
        mounts["/"] = root
    elif spec.layout == "prep":
        g.part_add(dev, "p", 2048, 2048 + 16384 - 1)
        g.part_set_mbr_id(dev, 1, 0x41)
        g.part_add(dev, "p", 2048 + 16384, sectors - 1)
        mounts["/"] = f"{dev}2"
    elif spec.layout == "boot":
        g.part_add(dev, "p", 2048, 2048 + 65536 - 1)
        g.part_add(dev, "p", 2048 + 65536, sectors - 1)
        mounts["/boot"], mounts["/"] = f"{dev}1", f"{dev}2"
    else:
        raise ValueError(spec.layout)
    fstab = []
    for mp, d in sorted(mounts.items()):
        fstype = "xfs" if spec.layout == "xfs" else "ext4"
        g.mkfs(fstype, d)
        label = ("img-rootfs" if fstype == "xfs" else "cloudimg-rootfs") if mp == "/" else "boot"
        g.set_label(d, label)
        fstab.append(f"LABEL={label}\t{mp}\t{fstype}\tdefaults\t0 {1 if mp == '/' else 2}")
    return mounts, "\n".join(fstab) + "\n"


def build_images(specs: dict[str, TinySpec], outdir: Path) -> dict[str, Path]:
    """Make every image in one appliance launch."""
    outdir.mkdir(parents=True, exist_ok=True)
    files = {}
    with Appliance(use_cache=False) as app:
        for name, spec in specs.items():
            p = outdir / f"{name}.qcow2.tmp"
            qemuimg.create(p, f"{spec.size_mib}M")
            files[name] = p
            app.add_path(p, "qcow2", readonly=False)
        app.launch()
        g = app.g
        devices = g.list_devices()
        for i, spec in enumerate(specs.values()):
            mounts, fstab = _partition_and_format(g, devices[i], spec)
            tar = rootfs_tar(spec, fstab)
            with tempfile.NamedTemporaryFile(suffix=".tar") as tf:
                tf.write(tar)
                tf.flush()
                for mp in sorted(mounts, key=len):
                    if mp != "/":
                        g.mkdir_p(mp)
                    g.mount(mounts[mp], mp)
                g.tar_in(tf.name, "/")
                g.umount_all()
    out = {}
    for name, p in files.items():
        final = p.with_suffix("")
        p.replace(final)
        out[name] = final
    return out


def cached_images(specs: dict[str, TinySpec]) -> dict[str, Path]:
    """The images of `specs`, built (in one launch) only when not cached."""
    base = paths.cache_dir() / "test-images"
    want = {n: base / f"{s.layout}-{s.arch}-{s.key()}.qcow2" for n, s in specs.items()}
    missing = {n: s for n, s in specs.items() if not want[n].exists()}
    if missing:
        with tempfile.TemporaryDirectory(dir=base.parent if base.exists() else None) as tmp:
            made = build_images(missing, Path(tmp))
            base.mkdir(parents=True, exist_ok=True)
            for n, p in made.items():
                shutil.move(str(p), want[n])
    return want


def copy_image(src: Path, dest: Path) -> Path:
    """A private copy a test may modify."""
    shutil.copyfile(src, dest)
    return dest


def standard_specs() -> dict[str, TinySpec]:
    base = TinySpec()
    specs = {lay: replace(base, layout=lay) for lay in LAYOUTS}
    specs["ppc64le"] = replace(base, layout="prep", arch="ppc64le")
    return specs


if __name__ == "__main__":
    import sys
    t = time.monotonic()
    for n, p in cached_images(standard_specs()).items():
        print(n, p, os.path.getsize(p))
    print(f"{time.monotonic() - t:.1f} s", file=sys.stderr)
