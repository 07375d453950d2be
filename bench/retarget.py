#!/usr/bin/env python3
"""One re-target of a Trove guest image, done three ways, on the DIB-built
test image grown and filled to two sizes (default 2 GiB and 8 GiB virtual):

  imagekit        `imagekit customize` (one appliance launch, overlay, copy+commit)
  virt-customize  cp + virt-customize with equivalent options (in-guest ssh-keygen -A)
  loop-mount      the original dbimage-builder path: qemu-img convert to raw, losetup,
                  mount partition 1, edit, chroot (ssh-keygen -A, the command), umount,
                  convert back to qcow2 ("-> raw" row: what the original uploaded)

The re-target: a cloud profile (trove-guestagent.conf 0640 for the guest user,
cloud-init datasources), an authorized key for the guest user, new ssh host
keys and an empty machine-id, one guest-agent patch (patches/2026.2 on the
real trove 26.0.0 tree seeded into the image), one command inside the image.
Every output is read back in one read-only launch per size and checked.

Prints wall times (each method ends with `sync`: outputs durable on disk),
the ratios, bytes written, bytes a Glance upload would send, appliance
launches, and a modelled time to Glance at 1 Gbit/s.

Needs root (loop devices, for preparing the images and for the loop-mount
method; loop mounts are used only here, never in imagekit). Run: make bench
(or .venv/bin/python bench/retarget.py --sizes 2 --keep)."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from imagekit import paths  # noqa: E402
from imagekit.engine import load_profile  # noqa: E402
from imagekit.engine import patches as patchlib  # noqa: E402

BENCH_VERSION = 1
SITE = "opt/guest-agent-venv/lib/python3.11/site-packages"
PATCH = REPO / "patches" / "2026.2" / "0001-mariadb-ignore-sys-schema.patch"
COMMAND = 'sh -c "echo retarget > /etc/retarget-marker"'
DATASOURCES = "/etc/cloud/cloud.cfg.d/99-imagekit-datasources.cfg"
VC_ENV = {"LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
LINK = 125_000_000          # 1 Gbit/s in bytes per second, for the modelled upload
UNIT = ("[Unit]\nDescription=OpenStack Trove Guest Agent\nAfter=network.target\n[Service]\n"
        "User=ubuntu\nGroup=ubuntu\nExecStart=/opt/guest-agent-venv/bin/trove-guestagent "
        "--config-dir=/etc/trove/conf.d\n[Install]\nWantedBy=multi-user.target\n")
PROFILE = """\
name: bench-cloud
guest_user: ubuntu
datasources: [ConfigDrive, OpenStack]
guest_agent:
  DEFAULT:
    control_exchange: trove
    transport_url: rabbit://trove:secret@192.0.2.10:5672/
  oslo_messaging_rabbit:
    ssl: false
"""


def run(*argv: str, env: dict | None = None, capture: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=capture, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[:4])} failed (exit {proc.returncode}): "
                         f"{(proc.stderr or proc.stdout or '').strip()[-800:]}")
    return proc


def allocated(p: Path) -> int:
    return p.stat().st_blocks * 512 if p.exists() else 0


class Timer:
    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self.start = time.monotonic()

    def phase(self, name: str):
        timer = self

        class _P:
            def __enter__(self):
                self.t = time.monotonic()

            def __exit__(self, *exc):
                timer.phases[name] = timer.phases.get(name, 0.0) + time.monotonic() - self.t
        return _P()

    @property
    def total(self) -> float:
        return time.monotonic() - self.start


@dataclass
class Row:
    method: str
    size_gib: int
    seconds: float
    phases: dict[str, float]
    output: str
    output_bytes: int
    written_bytes: int
    upload_bytes: int
    launches: int
    verified: str = "-"
    load: float = 0.0               # 1-minute load average when it started
    notes: list[str] = field(default_factory=list)

    @property
    def to_glance(self) -> float:
        return self.seconds + self.upload_bytes / LINK


# -- inputs ------------------------------------------------------------------------------
def trove_wheel() -> Path:
    dl = paths.cache_dir() / "test-downloads"
    dl.mkdir(parents=True, exist_ok=True)
    found = sorted(dl.glob("trove-26.0.0-*.whl"))
    if not found:
        run(sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "trove==26.0.0",
            "-d", str(dl))
        found = sorted(dl.glob("trove-26.0.0-*.whl"))
    return found[0]


def base_image() -> Path:
    from tests import dibimages
    return dibimages.base_image()


def prepare(base: Path, size_gib: int, wheel: Path) -> tuple[Path, dict]:
    """The DIB image grown to size_gib, its filesystem grown, ~70 % of it
    filled with random data, the real trove 26.0.0 agent tree, a guest user
    and the agent unit added. Cached (untimed)."""
    st = base.stat()
    key = hashlib.sha256(json.dumps([str(base), st.st_size, st.st_mtime_ns, size_gib,
                                     BENCH_VERSION, wheel.name]).encode()).hexdigest()[:12]
    folder = paths.cache_dir() / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"retarget-{size_gib}g-{key}.qcow2"
    meta = out.with_suffix(".json")
    if out.exists() and meta.exists():
        return out, json.loads(meta.read_text())
    print(f"preparing the {size_gib} GiB image (once; cached in {folder})...", flush=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        raw, mnt = Path(tmp) / "img.raw", Path(tmp) / "mnt"
        mnt.mkdir()
        run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(base), str(raw))
        run("qemu-img", "resize", "-f", "raw", str(raw), f"{size_gib}G")
        loop = run("losetup", "-f", "--show", "-P", str(raw)).stdout.strip()
        try:
            run("parted", "-s", loop, "resizepart", "1", "100%")
            run("partx", "-u", loop)
            run("e2fsck", "-fy", f"{loop}p1")
            run("resize2fs", f"{loop}p1")
            run("mount", f"{loop}p1", str(mnt))
            try:
                sv = os.statvfs(mnt)
                total, free = sv.f_blocks * sv.f_frsize, sv.f_bavail * sv.f_frsize
                fill = max(0, int(total * 0.7) - (total - free)) // (4 << 20)
                run("dd", "if=/dev/urandom", f"of={mnt}/var/lib/bench-filler.bin", "bs=4M",
                    f"count={fill}", "status=none")
                site = mnt / SITE
                site.mkdir(parents=True)
                with zipfile.ZipFile(wheel) as z:
                    z.extractall(site)
                run("chroot", str(mnt), "useradd", "-m", "-U", "-s", "/bin/bash", "ubuntu")
                (mnt / "etc/systemd/system/guest-agent.service").write_text(UNIT)
                wants = mnt / "etc/systemd/system/multi-user.target.wants"
                wants.mkdir(parents=True, exist_ok=True)
                (wants / "guest-agent.service").symlink_to("/etc/systemd/system/guest-agent.service")
                pw = (mnt / "etc/passwd").read_text()
                line = next(ln for ln in pw.splitlines() if ln.startswith("ubuntu:"))
                uid, gid = int(line.split(":")[2]), int(line.split(":")[3])
                data = int(total - os.statvfs(mnt).f_bavail * sv.f_frsize)
            finally:
                run("umount", str(mnt))
        finally:
            run("losetup", "-d", loop)
        part = out.with_suffix(".part")
        run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(part))
        part.replace(out)
    info = {"uid": uid, "gid": gid, "data_bytes": data, "virtual_gib": size_gib}
    meta.write_text(json.dumps(info))
    return out, info


def inputs(folder: Path, wheel: Path) -> dict:
    (folder / "profile.yaml").write_text(PROFILE)
    prof = load_profile(folder / "profile.yaml")
    (folder / "trove-guestagent.conf").write_bytes(prof.agent_conf)
    (folder / "datasources.cfg").write_text(
        "# written by imagekit from cloud profile bench-cloud\n"
        "datasource_list: [ ConfigDrive, OpenStack ]\n")
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@bench", "-f",
        str(folder / "ops"))
    # what virt-customize gets for the patch: the file patched on the host
    with zipfile.ZipFile(wheel) as z:
        cfg = z.read("trove/common/cfg.py")
    trial = patchlib.trial([patchlib.parse(PATCH)], {"trove/common/cfg.py": cfg}, "bench")
    (folder / "cfg.py").write_bytes(trial.new["trove/common/cfg.py"])
    return {"profile": folder / "profile.yaml", "conf": folder / "trove-guestagent.conf",
            "ds": folder / "datasources.cfg", "key": folder / "ops.pub",
            "cfg": folder / "cfg.py", "cfg_sha": hashlib.sha256(
                trial.new["trove/common/cfg.py"]).hexdigest()}


# -- the three methods --------------------------------------------------------------------
def m_imagekit(src: Path, out: Path, inp: dict, meta: dict) -> Row:
    t = Timer()
    with t.phase("customize"):
        proc = run(str(REPO / ".venv" / "bin" / "imagekit"), "customize", str(src), "-o",
                   str(out), "--guest-config", str(inp["profile"]),
                   "--ssh-inject", f"ubuntu:file:{inp['key']}", "--regen-host-keys",
                   "--patch", "release", "--run-command", COMMAND, "--json")
    with t.phase("sync"):
        os.sync()
    events = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    result = events[-1]
    sync = t.phases.pop("sync")
    for e in events:
        if e.get("event") == "step-done":
            name = e["step"]
            key = ("launch" if name.startswith("starting the appliance") else
                   "write output" if name.startswith("writing ") else
                   "flush" if name.startswith("flushing") else
                   "hash source" if name.startswith("hashing") else "operations")
            t.phases[f"  of which {key}"] = t.phases.get(f"  of which {key}", 0.0) + e["seconds"]
    t.phases["sync"] = sync
    overlay = int(result.get("overlay_bytes") or 0)
    size = allocated(out) + allocated(out.with_name(out.name + ".manifest.json"))
    return Row("imagekit", meta["virtual_gib"], t.total, t.phases, str(out), allocated(out),
               size + overlay, out.stat().st_size, int(result["launches"]))


def m_virt_customize(src: Path, out: Path, inp: dict, meta: dict) -> Row:
    t = Timer()
    conf = "/etc/trove/conf.d/trove-guestagent.conf"
    with t.phase("copy"):
        shutil.copyfile(src, out)
    with t.phase("virt-customize"):
        run("virt-customize", "--format", "qcow2", "-a", str(out),
            "--mkdir", "/etc/trove/conf.d",
            "--upload", f"{inp['conf']}:{conf}",
            # (virt-customize 1.48 has no --chown: a command does it)
            "--run-command", f"chown {meta['uid']}:{meta['gid']} {conf}",
            "--chmod", f"0640:{conf}",
            "--upload", f"{inp['ds']}:{DATASOURCES}",
            "--ssh-inject", f"ubuntu:file:{inp['key']}",
            "--delete", "/etc/ssh/ssh_host_*", "--run-command", "ssh-keygen -A",
            "--upload", f"{inp['cfg']}:/{SITE}/trove/common/cfg.py",
            "--run-command", COMMAND,
            "--truncate", "/etc/machine-id", env=VC_ENV)
    with t.phase("sync"):
        os.sync()
    return Row("virt-customize", meta["virtual_gib"], t.total, t.phases, str(out),
               allocated(out), allocated(out), out.stat().st_size, 1)


def m_loop_mount(src: Path, out: Path, inp: dict, meta: dict, work: Path) -> list[Row]:
    """The original's path (dbimage-builder-behaviour.md §8): raw, loop, chroot."""
    t = Timer()
    raw, mnt = work / "seed.raw", work / "seed-mnt"
    mnt.mkdir(exist_ok=True)
    with t.phase("convert to raw"):
        run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(src), str(raw))
    with t.phase("attach"):
        loop = run("losetup", "-f", "--show", "-P", str(raw)).stdout.strip()
        run("partx", "-u", loop)
        run("mount", f"{loop}p1", str(mnt))
    binds: list[Path] = []
    try:
        with t.phase("edits"):
            d = mnt / "etc/trove/conf.d"
            d.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(inp["conf"], d / "trove-guestagent.conf")
            os.chown(d / "trove-guestagent.conf", meta["uid"], meta["gid"])
            os.chmod(d / "trove-guestagent.conf", 0o640)
            shutil.copyfile(inp["ds"], mnt / DATASOURCES.lstrip("/"))
            ssh = mnt / "home/ubuntu/.ssh"
            ssh.mkdir(mode=0o700, exist_ok=True)
            with open(ssh / "authorized_keys", "a") as f:
                f.write(inp["key"].read_text())
            for p in (ssh, ssh / "authorized_keys"):
                os.chown(p, meta["uid"], meta["gid"])
            os.chmod(ssh / "authorized_keys", 0o600)
        with t.phase("patch"):
            run("patch", "-p1", "-f", "-d", str(mnt / SITE), "-i", str(PATCH))
        with t.phase("chroot"):
            for name in ("dev", "proc", "sys"):
                run("mount", "--bind", f"/{name}", str(mnt / name))
                binds.append(mnt / name)
            resolv = mnt / "etc/resolv.conf"
            saved = mnt / "etc/resolv.conf.imagekit-bench"
            if resolv.is_symlink() or resolv.exists():
                os.rename(resolv, saved)
            shutil.copyfile("/etc/resolv.conf", resolv)
            for k in (mnt / "etc/ssh").glob("ssh_host_*"):
                k.unlink()
            run("chroot", str(mnt), "ssh-keygen", "-A")
            run("chroot", str(mnt), "/bin/sh", "-c", COMMAND)
            resolv.unlink()
            if saved.exists() or saved.is_symlink():
                os.rename(saved, resolv)
            with open(mnt / "etc/machine-id", "w"):
                pass
    finally:
        with t.phase("detach"):
            for b in reversed(binds):
                run("umount", str(b))
            run("umount", str(mnt))
            run("losetup", "-d", loop)
    with t.phase("sync"):
        os.sync()
    raw_total = t.total
    raw_phases = dict(t.phases)
    rows = [Row("loop-mount -> raw", meta["virtual_gib"], raw_total, raw_phases, str(raw),
                allocated(raw), allocated(raw), raw.stat().st_size, 0,
                notes=["as the original: it uploaded the raw file"])]
    with t.phase("convert to qcow2"):
        run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(out))
    with t.phase("sync"):
        os.sync()
    rows.append(Row("loop-mount -> qcow2", meta["virtual_gib"], t.total, dict(t.phases),
                    str(out), allocated(out), allocated(raw) + allocated(out),
                    out.stat().st_size, 0))
    return rows


# -- verification ---------------------------------------------------------------------------
def verify(outputs: dict[str, Path], meta: dict, cfg_sha: str) -> dict[str, str]:
    """Every output, read back in one read-only launch: the same re-target?"""
    from imagekit.guest import facts
    from imagekit.guest.image import check_image
    from imagekit.guest.session import Appliance
    verdict: dict[str, str] = {}
    with Appliance() as app:
        drives = {m: app.add(check_image(p), readonly=True) for m, p in outputs.items()}
        app.launch()
        g = app.g
        for m, drive in drives.items():
            guest = app.inspect(drive)
            app.mount(guest, readonly=True)
            bad = []
            st = g.lstatns("/etc/trove/conf.d/trove-guestagent.conf")
            if (st["st_mode"] & 0o7777, st["st_uid"]) != (0o640, meta["uid"]):
                bad.append("conf")
            if "datasource_list: [ ConfigDrive, OpenStack ]" not in g.cat(DATASOURCES):
                bad.append("datasources")
            if "ops@bench" not in g.cat("/home/ubuntu/.ssh/authorized_keys"):
                bad.append("authorized_keys")
            keys = {p.rsplit("/", 1)[1] for p in g.glob_expand("/etc/ssh/ssh_host_*_key")}
            if not {"ssh_host_rsa_key", "ssh_host_ed25519_key"} <= keys:
                bad.append("host keys")
            if g.filesize("/etc/machine-id") != 0:
                bad.append("machine-id")
            if g.cat("/etc/retarget-marker") != "retarget\n":
                bad.append("command")
            cfg = facts.read_bytes(g, f"/{SITE}/trove/common/cfg.py") or b""
            if hashlib.sha256(cfg).hexdigest() != cfg_sha:
                bad.append("patch")
            verdict[m] = "ok" if not bad else "FAILED: " + ", ".join(bad)
            app.umount()
    return verdict


# -- report -------------------------------------------------------------------------------------
def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def report(rows: list[Row], data: dict[int, int]) -> None:
    for size in sorted({r.size_gib for r in rows}):
        rs = [r for r in rows if r.size_gib == size]
        print(f"\n== {size} GiB virtual, {data[size] / 2**30:.2f} GiB of data ==")
        print(f"{'method':<22}{'wall s':>9}{'written':>13}{'upload':>13}{'launches':>10}"
              f"{'to Glance @1Gb/s':>18}{'load':>6}  check")
        for r in rs:
            print(f"{r.method:<22}{r.seconds:>9.1f}{mib(r.written_bytes):>13}"
                  f"{mib(r.upload_bytes):>13}{r.launches:>10}{r.to_glance:>17.1f}s"
                  f"{r.load:>6.1f}  {r.verified}")
            print("    " + " · ".join(f"{k.strip()} {v:.1f}" for k, v in r.phases.items()))
        ik = next((r for r in rs if r.method == "imagekit"), None)
        if ik:
            print("ratios (other / imagekit; > 1 = imagekit faster or smaller):")
            for r in rs:
                if r is ik:
                    continue
                print(f"  {r.method:<20} wall {r.seconds / ik.seconds:5.2f}x   "
                      f"written {r.written_bytes / max(ik.written_bytes, 1):5.2f}x   "
                      f"upload {r.upload_bytes / max(ik.upload_bytes, 1):5.2f}x   "
                      f"to Glance {r.to_glance / ik.to_glance:5.2f}x")
                extra_bytes, extra_time = r.upload_bytes - ik.upload_bytes, ik.seconds - r.seconds
                same = abs(extra_bytes) < 0.01 * max(ik.upload_bytes, 1)
                if extra_time <= 0:
                    verdict = "imagekit is ahead locally" + (
                        ", same upload" if same else
                        f", and uploads {'fewer' if extra_bytes > 0 else 'more'} bytes")
                elif same or extra_bytes < 0:
                    verdict = (f"{r.method} is ahead by {extra_time:.1f} s at every link speed "
                               "(same upload bytes)")
                else:
                    verdict = (f"imagekit reaches Glance first on links slower than "
                               f"{extra_bytes / extra_time / 1e6:,.0f} MB/s "
                               f"({extra_bytes * 8 / extra_time / 1e6:,.0f} Mbit/s)")
                print(f"  {'':<20} {verdict}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="2,8", help="virtual sizes in GiB (default 2,8)")
    ap.add_argument("--methods", default="imagekit,virt-customize,loop-mount")
    ap.add_argument("--keep", action="store_true", help="keep the outputs (in the work folder)")
    ap.add_argument("--json", type=Path, help="also write the results to this file")
    ap.add_argument("--no-verify", action="store_true", help="skip the read-back check")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (loop devices for preparing the images and for the loop-mount "
              "method)", file=sys.stderr)
        return 2
    methods = args.methods.split(",")
    wheel = trove_wheel()
    base = base_image()
    work = Path(tempfile.mkdtemp(prefix="imagekit-bench-", dir=paths.cache_dir()))
    rows: list[Row] = []
    data: dict[int, int] = {}
    try:
        inp = inputs(work, wheel)
        for size in (int(s) for s in args.sizes.split(",")):
            src, meta = prepare(base, size, wheel)
            data[size] = meta["data_bytes"]
            print(f"\n{src.name}: {size} GiB virtual, {meta['data_bytes'] / 2**30:.2f} GiB data",
                  flush=True)
            outs: dict[str, Path] = {}
            for m in methods:
                out = work / f"{m}-{size}g.qcow2"
                with open(src, "rb") as f:          # the same warm cache for everyone
                    while f.read(16 << 20):
                        pass
                os.sync()
                load = os.getloadavg()[0]
                print(f"  {m} (load {load:.1f})...", end="", flush=True)
                if m == "imagekit":
                    new = [m_imagekit(src, out, inp, meta)]
                elif m == "virt-customize":
                    new = [m_virt_customize(src, out, inp, meta)]
                elif m == "loop-mount":
                    new = m_loop_mount(src, out, inp, meta, work)
                else:
                    raise SystemExit(f"bench: unknown method {m}")
                for r in new:
                    r.load = load
                print(" " + ", ".join(f"{r.method} {r.seconds:.1f} s" for r in new), flush=True)
                rows += new
                outs[m] = out
                (work / "seed.raw").unlink(missing_ok=True)
            if not args.no_verify:
                print("  checking every output (one read-only launch)...", flush=True)
                verdict = verify(outs, meta, inp["cfg_sha"])
                for r in rows:
                    if r.size_gib == size:
                        key = r.method.split(" ")[0]
                        r.verified = verdict.get(key, r.verified)
            if not args.keep:
                for p in outs.values():
                    p.unlink(missing_ok=True)
                    p.with_name(p.name + ".manifest.json").unlink(missing_ok=True)
        report(rows, data)
        if args.json:
            args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"\noutputs kept in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
