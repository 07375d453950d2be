"""Build hosts: this machine (`LocalBuilder`) or one reached over ssh
(`SshBuilder`, `-i HOST`). Both offer the same steps:

* `check(arch)`: reachable, `uname -m` mapped to DIB's architecture (and
  compared with the one asked for), diskimage-builder present (or installed
  into a venv there), sudo and DIB's host tools, free disk; the mirror from
  the builder's own apt sources;
* `stage(inputs)`: our elements, the guest-agent wheelhouse, the -p package
  and the build record, in a private build folder on the builder;
* `run(job, log, on_line)`: disk-image-create with the job's variables, its
  output streamed into the local log (one DIB build at a time per builder);
* `fetch(remote, local)`: the image back into a local (temporary) file;
* `cleanup()`: the build folder goes, whatever happened.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from imagekit import aptsources, paths, ui
from imagekit.build import arch as arch_mod
from imagekit.build import dib, environment
from imagekit.build.ssh import Ssh, SshTarget
from imagekit.errors import BuildError, ImagekitError

HOST_TOOLS = ("sudo", "debootstrap", "qemu-img", "kpartx", "sfdisk", "mkfs.ext4", "losetup", "flock",
              "setsid")
MIN_FREE_GB = 8
PGID_MARK = "imagekit-remote-pgid"
DIB_VENV = ".cache/imagekit/dib-venv"     # under the builder user's home
dib_arch = arch_mod.dib_arch
normalize_arch = arch_mod.normalize


@dataclass(frozen=True)
class BuilderInfo:
    label: str
    machine: str
    arch: str                   # the architecture to build (the builder's unless --cross)
    dib: str                    # disk-image-create on the builder
    dib_version: str
    free_gb: float
    home: str
    path: str                   # PATH on the builder
    mirrors: tuple[tuple[str, str], ...] = ()   # (variable, url) from the builder's apt sources
    local: bool = True


@dataclass(frozen=True)
class BuildInputs:
    record: dict                 # the build record (JSON) for the manifest element
    wheelhouse: Path | None      # None: trove from the index inside the build
    package: Path | None = None  # -p
    pip_ca: Path | None = None   # CA bundle for an index install (build only, never baked)


@dataclass(frozen=True)
class Staged:
    root: str                    # the build folder on the builder
    elements: str
    wheelhouse: str | None
    record: str
    output: str                  # DIB -o (without .qcow2)
    package: str | None = None
    pip_ca: str | None = None


def check_arch(label: str, machine: str, wanted: str | None, cross: bool) -> str:
    """The architecture to build: the builder's, or the one asked for."""
    arch = dib_arch(machine)
    want = normalize_arch(wanted)
    if want is None or want == arch:
        return arch
    if cross:
        return want
    raise BuildError(f"the builder {label} is {machine} ({arch}), "
                     f"but a {want} image was asked for",
                     f"use a {arch_mod.MACHINE_OF_ARCH.get(want, want)} builder (-i HOST), or --cross to "
                     "build through qemu-user emulation on this one (slow)")


def _mirror_pairs(apt_dir: Path | None) -> tuple[tuple[str, str], ...]:
    out = []
    try:
        out.append(("mirror", aptsources.distro_mirror(apt_dir)))
    except ImagekitError:
        pass
    sec = aptsources.security_mirror(apt_dir)
    if sec:
        out.append(("security", sec))
    return tuple(out)


def mirror_variables(info: BuilderInfo, distro: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """DIB_DISTRIBUTION_MIRROR / DIB_DEBIAN_SECURITY_MIRROR from the builder's
    apt sources, when they serve `distro` (operator variables win later)."""
    env = environ if environ is not None else os.environ
    m = dict(info.mirrors)
    out = {}
    if not env.get("DIB_DISTRIBUTION_MIRROR") and m.get("mirror") and distro in m["mirror"]:
        out["DIB_DISTRIBUTION_MIRROR"] = m["mirror"]
    elif not env.get("DIB_DISTRIBUTION_MIRROR") and m.get("mirror"):
        ui.warn(f"the builder's apt mirror does not serve {distro}; DIB uses its default mirror "
                "(set DIB_DISTRIBUTION_MIRROR to override)")
    if distro == "debian" and not env.get("DIB_DEBIAN_SECURITY_MIRROR") and \
            m.get("security") and "debian" in m["security"]:
        out["DIB_DEBIAN_SECURITY_MIRROR"] = m["security"]
    return out


def _record_file(folder: Path, record: dict) -> Path:
    import json
    p = folder / "build-record.json"
    p.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return p


# -- this host ---------------------------------------------------------------------
class LocalBuilder:
    local = True

    def __init__(self) -> None:
        self.label = "this host"
        self._root: Path | None = None

    def __enter__(self) -> LocalBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def check(self, want_arch: str | None = None, cross: bool = False,
              min_free_gb: float = MIN_FREE_GB) -> BuilderInfo:
        import platform
        machine = platform.machine()
        arch = check_arch(self.label, machine, want_arch, cross)
        program = dib.find_program()
        search = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
        missing = [t for t in HOST_TOOLS if not shutil.which(t, path=search)]
        if missing:
            raise BuildError(f"this host lacks what diskimage-builder needs: {', '.join(missing)}",
                             "run 'make setup' (it installs DIB's host tools)")
        work = paths.cache_dir()
        st = os.statvfs(work)
        free = st.f_bavail * st.f_frsize / 2**30
        if free < min_free_gb:
            raise BuildError(f"only {free:.1f} GiB free in {work}; a build needs {min_free_gb} GiB",
                             "free some disk space (old images in images/, ~/.cache/image-create)")
        from importlib.metadata import PackageNotFoundError, version
        try:
            dib_version = version("diskimage-builder")
        except PackageNotFoundError:
            dib_version = "unknown"
        return BuilderInfo(label=self.label, machine=machine, arch=arch, dib=program,
                           dib_version=dib_version, free_gb=round(free, 1),
                           home=str(Path.home()), path=os.environ.get("PATH", ""),
                           mirrors=_mirror_pairs(None), local=True)

    def stage(self, inputs: BuildInputs) -> Staged:
        base = paths.cache_dir() / "builds"
        base.mkdir(parents=True, exist_ok=True)
        self._root = Path(tempfile.mkdtemp(prefix="build-", dir=base))
        record = _record_file(self._root, inputs.record)
        (self._root / "out").mkdir()
        return Staged(root=str(self._root), elements=str(paths.elements_dir()),
                      wheelhouse=str(inputs.wheelhouse) if inputs.wheelhouse else None,
                      record=str(record), output=str(self._root / "out" / "image"),
                      package=str(inputs.package) if inputs.package else None,
                      pip_ca=str(inputs.pip_ca) if inputs.pip_ca else None)

    def run(self, job: dib.DibJob, log: Path, on_line: Callable[[str], None] | None = None) -> dib.StreamResult:
        assert self._root is not None, "stage() first"
        return dib.run_local(job, log, self._root, on_line)

    def fetch(self, remote: str, local: Path) -> None:
        shutil.move(remote, local)

    def cleanup(self) -> None:
        if self._root is not None:
            root, self._root = self._root, None
            dib.clean_local(root)       # never a plain rmtree: DIB may have left mounts


# -- a remote host over ssh ------------------------------------------------------
CHECK_SCRIPT = r"""
echo "machine=$(uname -m)"
echo "home=$HOME"
echo "path=$PATH"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
echo "free_kb=$(df -Pk "$HOME" | awk 'NR==2 {print $4}')"
for t in %(tools)s; do command -v "$t" >/dev/null 2>&1 || echo "missing=$t"; done
if sudo -n true 2>/dev/null; then echo "sudo=ok"; else echo "sudo=no"; fi
d=$(command -v disk-image-create 2>/dev/null || true)
[ -n "$d" ] || { [ -x "$HOME/%(venv)s/bin/disk-image-create" ] && d="$HOME/%(venv)s/bin/disk-image-create"; }
echo "dib=$d"
if [ -n "$d" ]; then
    py=$(head -n1 "$d" | sed 's/^#!//')
    echo "dib_version=$("$py" -c 'import importlib.metadata as m; print(m.version("diskimage-builder"))' 2>/dev/null || echo unknown)"
fi
command -v python3 >/dev/null 2>&1 && echo "python3=yes"
"""


def _parse_kv(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k.strip(), []).append(v)
    return out


class SshBuilder:
    local = False

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self.label = target.label
        self.ssh = Ssh(target)
        self._root: str | None = None
        self.info: BuilderInfo | None = None

    def __enter__(self) -> SshBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.cleanup()
        finally:
            self.ssh.close()

    def _remote_mirrors(self) -> tuple[tuple[str, str], ...]:
        proc = self.ssh.run(["tar", "-C", "/etc/apt", "-cf", "-", "--ignore-failed-read",
                             "sources.list", "sources.list.d"], check=False, timeout=60,
                            what="reading the builder's apt sources")
        if not proc.stdout:
            return ()
        with tempfile.TemporaryDirectory(prefix="imagekit-apt-") as d:
            (Path(d) / "sources.list.d").mkdir()
            try:
                with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tf:
                    for m in tf.getmembers():
                        # only plain files, only these two places (no links, no ..)
                        parts = Path(m.name).parts
                        ok = parts == ("sources.list",) or (
                            len(parts) == 2 and parts[0] == "sources.list.d" and
                            parts[1] not in (".", ".."))
                        f = tf.extractfile(m) if m.isfile() and ok else None
                        if f is not None:
                            (Path(d) / Path(*parts)).write_bytes(f.read(1 << 20))
            except tarfile.TarError:
                return ()
            return _mirror_pairs(Path(d))

    def check(self, want_arch: str | None = None, cross: bool = False,
              min_free_gb: float = MIN_FREE_GB, install_dib: bool = True) -> BuilderInfo:
        text = self.ssh.script(CHECK_SCRIPT % {"tools": " ".join(HOST_TOOLS), "venv": DIB_VENV},
                               what="checking the builder")
        kv = _parse_kv(text)
        one = {k: v[-1] for k, v in kv.items()}
        machine = one.get("machine", "").strip()
        arch = check_arch(self.label, machine, want_arch, cross)
        if one.get("sudo") != "ok":
            raise BuildError(f"{self.label}: sudo needs a password there (diskimage-builder runs sudo)",
                             f"give {self.target.user} passwordless sudo on the builder")
        missing = kv.get("missing", [])
        if missing:
            raise BuildError(f"{self.label} lacks what diskimage-builder needs: {', '.join(missing)}",
                             "on the builder: apt-get install sudo debootstrap qemu-utils kpartx "
                             "fdisk e2fsprogs util-linux")
        free = int(one.get("free_kb") or 0) / 2**20
        if free < min_free_gb:
            raise BuildError(f"{self.label}: only {free:.1f} GiB free in {one.get('home')}; "
                             f"a build needs {min_free_gb} GiB", "free some disk space there")
        program, version = one.get("dib", ""), one.get("dib_version", "unknown")
        if not program:
            if not install_dib:
                raise BuildError(f"diskimage-builder is not installed on {self.label}")
            program, version = self._install_dib(one.get("home", "~"), one.get("python3") == "yes")
        self.info = BuilderInfo(label=self.label, machine=machine, arch=arch, dib=program,
                                dib_version=version, free_gb=round(free, 1),
                                home=one.get("home", ""), path=one.get("path", ""),
                                mirrors=self._remote_mirrors(), local=False)
        return self.info

    def _install_dib(self, home: str, has_python: bool) -> tuple[str, str]:
        from importlib.metadata import PackageNotFoundError, version
        if not has_python:
            raise BuildError(f"{self.label} has neither diskimage-builder nor python3",
                             "on the builder: apt-get install python3 python3-venv")
        try:
            want = version("diskimage-builder")
        except PackageNotFoundError:
            want = ""
        venv = f"{home}/{DIB_VENV}"
        req = f"diskimage-builder=={want}" if want else "diskimage-builder"
        with ui.step(f"installing {req} into {venv} on {self.label}"):
            self.ssh.run(["python3", "-m", "venv", venv], timeout=300, what="python3 -m venv")
            self.ssh.run([f"{venv}/bin/pip", "install", "--quiet", "--disable-pip-version-check", req],
                         timeout=900, what="pip install diskimage-builder")
        return f"{venv}/bin/disk-image-create", want or "unknown"

    def stage(self, inputs: BuildInputs) -> Staged:
        assert self.info is not None, "check() first"
        root = f"{self.info.home}/.cache/imagekit/builds/build-{uuid.uuid4().hex[:12]}"
        self._root = root
        with tempfile.TemporaryDirectory(prefix="imagekit-stage-") as tmp:
            record = _record_file(Path(tmp), inputs.record)
            members = [(paths.elements_dir(), "elements"), (record, "build-record.json")]
            if inputs.wheelhouse:
                members.append((inputs.wheelhouse, "wheelhouse"))
            if inputs.package:
                members.append((inputs.package, f"package/{inputs.package.name}"))
            if inputs.pip_ca:
                members.append((inputs.pip_ca, "pip-ca.pem"))
            size = sum(f.stat().st_size for src, _ in members
                       for f in ([src] if src.is_file() else src.rglob("*")) if f.is_file())
            with ui.step(f"staging elements, wheelhouse and build record on {self.label}") as d:
                proc = self.ssh.popen(["sh", "-c", 'mkdir -p "$1/out" "$1/tmp" && tar -C "$1" -xzf -',
                                       "sh", root],
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
                assert proc.stdin is not None
                try:
                    with tarfile.open(fileobj=proc.stdin, mode="w|gz", dereference=True) as tf:
                        for src, name in members:
                            tf.add(str(src), arcname=name)
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                if proc.wait() != 0:
                    raise BuildError(f"staging on {self.label} failed: {err.strip()[-300:]}")
                d["note"] = f"{size / 2**20:.1f} MiB"
        pkg = f"{root}/package/{inputs.package.name}" if inputs.package else None
        return Staged(root=root, elements=f"{root}/elements",
                      wheelhouse=f"{root}/wheelhouse" if inputs.wheelhouse else None,
                      record=f"{root}/build-record.json", output=f"{root}/out/image", package=pkg,
                      pip_ca=f"{root}/pip-ca.pem" if inputs.pip_ca else None)

    def run(self, job: dib.DibJob, log: Path, on_line: Callable[[str], None] | None = None) -> dib.StreamResult:
        assert self.info is not None
        dib_dir = self.info.dib.rsplit("/", 1)[0]
        base_path = self.info.path or "/usr/local/bin:/usr/bin:/bin"
        assert self._root is not None, "stage() first"
        variables = {"PATH": f"{dib_dir}:{base_path}:/usr/local/sbin:/usr/sbin:/sbin",
                     "TMPDIR": f"{self._root}/tmp", **job.variables()}
        argv = job.argv()
        argv[0] = self.info.dib
        cache = variables.get("DIB_IMAGE_CACHE") or f"{self.info.home}/.cache/image-create"
        # In its own session, so that an interrupt can stop the whole build
        # there: the first line names the process group.
        remote = ["setsid", "-w", "sh", "-c", f'echo "{PGID_MARK} $$"; exec "$@"', "sh",
                  "env", *[f"{k}={v}" for k, v in sorted(variables.items())],
                  "flock", f"{cache}/{dib.LOCK_NAME}", *argv]
        # Make the lock folder exist first (flock creates the file, not folders).
        self.ssh.run(["mkdir", "-p", cache], what="mkdir")
        pgid: list[str] = []

        def feed(line: str) -> None:
            if line.startswith(PGID_MARK + " ") and not pgid:
                pgid.append(line.split()[-1])
            elif on_line:
                on_line(line)
        try:
            return dib.stream(self.ssh.argv(remote), log, env=self.ssh.env(), on_line=feed)
        except BaseException:
            self._stop_remote(pgid[0] if pgid else None)
            raise

    def _stop_remote(self, pgid: str | None) -> None:
        """After an interrupt: stop the build on the builder (SIGINT to its
        process group, time for DIB's clean-up), then unmount and remove what
        it left."""
        try:
            if pgid and pgid.isdigit():
                self.ssh.run(["sudo", "-n", "kill", "-INT", "--", f"-{pgid}"], check=False,
                             timeout=30, what="stopping the build")
                for _ in range(60):
                    alive = self.ssh.run(["sudo", "-n", "kill", "-0", "--", f"-{pgid}"], check=False,
                                         timeout=30, what="waiting for the build to stop")
                    if alive.returncode != 0:
                        break
                    time.sleep(2)
                else:
                    self.ssh.run(["sudo", "-n", "kill", "-KILL", "--", f"-{pgid}"], check=False,
                                 timeout=30, what="stopping the build")
            self._clean_remote(f"{self._root}/tmp")
        except (ImagekitError, OSError) as exc:
            ui.warn(f"could not stop/clean the build on {self.label}: {exc}")

    def fetch(self, remote: str, local: Path) -> None:
        size_out = self.ssh.run(["stat", "-c", "%s", remote], what="stat").stdout.decode().strip()
        total = int(size_out) if size_out.isdigit() else None
        start = time.monotonic()
        with open(local, "wb") as out, ui.byte_progress(f"fetching {Path(remote).name}", total) as advance:
            proc = self.ssh.popen(["cat", remote], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdout is not None
            for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
                out.write(chunk)
                advance(len(chunk))
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.wait() != 0:
                raise BuildError(f"fetching {remote} from {self.label} failed: {err.strip()[-300:]}")
        got = local.stat().st_size
        if total is not None and got != total:
            raise BuildError(f"fetching {remote} from {self.label}: got {got} of {total} bytes")
        ui.verbose(f"fetched {got / 2**20:.0f} MiB in {time.monotonic() - start:.1f} s")

    def _clean_remote(self, folder: str) -> None:
        """Unmount and remove a build folder there (DIB leaves root-owned files,
        and after an interrupt mounts)."""
        self.ssh.run(["sudo", "-n", "sh", "-s", folder], input=dib.CLEANUP_SCRIPT.encode(),
                     check=False, timeout=300, what="cleaning up the build folder")

    def cleanup(self) -> None:
        if self._root:
            root, self._root = self._root, None
            try:
                self._clean_remote(root)
            except ImagekitError as exc:
                ui.warn(f"could not remove {root} on {self.label}: {exc.message}")


def open_builder(target: SshTarget | None) -> LocalBuilder | SshBuilder:
    return LocalBuilder() if target is None else SshBuilder(target)


def environment_for(info: BuilderInfo, distro: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The job variables for this builder: caches, proxies, the builder's
    mirrors, the recipe's `extra`, then the operator's DIB_* variables."""
    env: dict[str, str] = {}
    env.update(mirror_variables(info, distro))
    env.update(environment.cache_env())
    env.update(environment.proxy_env())
    env.update(extra)
    env.update(environment.operator_dib_env())
    return env
