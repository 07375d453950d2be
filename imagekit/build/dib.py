"""The one wrapper around diskimage-builder's `disk-image-create`.

`DibJob` is the resolved command (frozen): elements, architecture, output
base name, image type, compression, size and the variables of the build.
`job.argv()` is the argument list; `stream()` runs any argv (local, or the
same job wrapped in ssh by the remote builder), writes every output line to
the log file and hands each line to an optional callback (the phase display).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from imagekit import ui
from imagekit.build import environment
from imagekit.errors import BuildError, ToolError
from imagekit.tools.run import tail, which

PROGRAM = "disk-image-create"


@dataclass(frozen=True)
class DibJob:
    elements: tuple[str, ...]
    output: str                         # output base path, without the .qcow2 suffix
    arch: str = "amd64"                 # DIB/Debian arch name: amd64, ppc64el, arm64
    image_type: str = "qcow2"
    compress: bool = True
    image_size_gb: int | None = None
    elements_path: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=())
    program: str = PROGRAM

    def argv(self) -> list[str]:
        argv = [self.program, "-a", self.arch, "-o", self.output, "-t", self.image_type]
        if not self.compress:
            argv.append("-u")
        if self.image_size_gb:
            argv += ["--image-size", str(self.image_size_gb)]
        return argv + list(self.elements)

    def variables(self) -> dict[str, str]:
        """The build's own variables (ELEMENTS_PATH included)."""
        env = dict(self.env)
        if self.elements_path:
            env["ELEMENTS_PATH"] = ":".join(self.elements_path)
        return env

    @property
    def image_path(self) -> str:
        return f"{self.output}.{self.image_type}"


def find_program() -> str:
    """disk-image-create: next to this Python (the project venv) or on PATH."""
    local = Path(sys.executable).parent / PROGRAM
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    try:
        return which(PROGRAM)
    except ToolError as exc:
        raise BuildError("diskimage-builder (disk-image-create) is not installed on this host",
                         "run 'make setup' (it installs diskimage-builder into .venv)") from exc


def local_env(job: DibJob, program: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The complete environment of a local run: the cleaned host environment,
    DIB's own folder first on PATH (its helper scripts), the job's variables."""
    env = environment.clean_host_env(environ)
    bindir = str(Path(program).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(job.variables())
    return env


LOCK_NAME = ".imagekit-build.lock"


def image_cache(env: Mapping[str, str]) -> str:
    """DIB's cache folder (debootstrap tarball, apt .debs): DIB_IMAGE_CACHE or
    ~/.cache/image-create, as DIB itself decides."""
    return env.get("DIB_IMAGE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                      "image-create")


@contextmanager
def build_lock(env: Mapping[str, str] | None = None) -> Iterator[None]:
    """One DIB build at a time per DIB cache: builds sharing the apt cache
    and the debootstrap tarball would trip over apt's locks (and two builds
    on 2 cores only slow each other down)."""
    folder = Path(image_cache(env if env is not None else os.environ))
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / LOCK_NAME
    with open(lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            ui.info(f"waiting for another diskimage-builder build on this host ({lock})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@dataclass(frozen=True)
class StreamResult:
    returncode: int
    seconds: float
    log: Path


def stream(argv: Sequence[str], log: Path, *, env: Mapping[str, str] | None = None,
           on_line: Callable[[str], None] | None = None, cwd: str | None = None,
           stdin: int | None = subprocess.DEVNULL) -> StreamResult:
    """Run argv with stdout+stderr merged into `log` (line by line, flushed),
    calling `on_line` for each line. Returns the exit code; never raises for a
    non-zero exit (the caller decides what a failure means)."""
    start = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True)
    ui.verbose("run: " + " ".join(argv), level=2)
    with open(log, "w", encoding="utf-8") as out:
        try:
            proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=stdin, env=dict(env) if env is not None else None,
                                    cwd=cwd, text=True, errors="replace", bufsize=1,
                                    start_new_session=True)
        except FileNotFoundError as exc:
            raise BuildError(f"cannot run {argv[0]}: {exc.strerror}") from exc
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if on_line:
                    on_line(line.rstrip("\n"))
            rc = proc.wait()
        except BaseException:
            _interrupt(proc)
            raise
    return StreamResult(rc, time.monotonic() - start, log)


def _interrupt(proc: subprocess.Popen) -> None:
    """Stop a build like Ctrl-C on its terminal would: SIGINT to its process
    group, then time for DIB's own clean-up (unmounts, loop devices)."""
    for sig, wait in ((signal.SIGINT, 120), (signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# -- what a build leaves behind -------------------------------------------------------
# Every build runs with TMPDIR set to a private work folder, so whatever DIB
# leaves there after an interrupt (tmpfs and chroot mounts, loop devices,
# root-owned files) is ours to remove. Run as root (`sudo sh -s DIR...`):
# unmount everything under each folder (deepest first), detach loop devices
# backed by files in it, then remove it without crossing into other
# filesystems.
CLEANUP_SCRIPT = r"""
for d in "$@"; do
    case "$d" in /*/*/*) ;; *) echo "refusing to clean $d"; continue ;; esac
    [ -e "$d" ] || continue
    awk -v p="$d" '$2 == p || index($2, p "/") == 1 {print $2}' /proc/mounts | sort -r |
    while read -r mp; do umount "$mp" 2>/dev/null || umount -l "$mp"; done
    losetup -a 2>/dev/null | awk -F: -v p="$d/" 'index($0, "(" p) {print $1}' |
    while read -r dev; do kpartx -d "$dev" 2>/dev/null; losetup -d "$dev"; done
    rm -rf --one-file-system "$d"
done
"""


def clean_local(*folders: Path | str) -> None:
    """Unmount and remove build work folders on this host (see CLEANUP_SCRIPT)."""
    dirs = [str(f) for f in folders if os.path.exists(f)]
    if not dirs:
        return
    proc = subprocess.run(["sudo", "-n", "sh", "-s", *dirs], input=CLEANUP_SCRIPT, text=True,
                          capture_output=True, timeout=300)
    for line in (proc.stdout + proc.stderr).splitlines():
        ui.verbose(f"clean-up: {line}")


def failure(what: str, log: Path, lines: int = 30) -> BuildError:
    """The error of a failed build: the last lines of its log, and its path."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    last = tail(text, lines)
    if last:
        ui.err.print(last, markup=False, highlight=False)
    return BuildError(f"{what} failed; the last {lines} lines of its log are above; "
                      f"full log: {log}",
                      "read the log from the first 'error' / 'ERROR' line; re-run with the same "
                      "options after fixing it")


def run_local(job: DibJob, log: Path, workdir: Path, on_line: Callable[[str], None] | None = None,
              environ: Mapping[str, str] | None = None) -> StreamResult:
    """Run a DIB job on this host (serialized by `build_lock`), its temporary
    folders in `workdir`/tmp; after a failure or an interrupt, whatever DIB
    left there is unmounted and removed."""
    program = find_program() if job.program == PROGRAM else job.program
    if not shutil.which("sudo"):
        raise BuildError("sudo is not installed (diskimage-builder calls sudo even as root)",
                         "apt-get install sudo, or run 'make setup'")
    argv = job.argv()
    argv[0] = program
    env = local_env(job, program, environ)
    tmp = Path(workdir) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(tmp)
    with build_lock(env):
        try:
            res = stream(argv, log, env=env, on_line=on_line)
        except BaseException:
            clean_local(tmp)
            raise
        if res.returncode != 0:
            clean_local(tmp)
        return res
