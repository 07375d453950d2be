"""Starting and stopping the devcloud's gunicorn masters — only ours.

Each master is started in its own session (its pid is its process group id),
with stdin from /dev/null and stdout/stderr appended to its log file, so it
never holds the caller's pipes. Its pid goes into run/<svc>.pid. Before a pid
is signalled, /proc/<pid>/cmdline must still name the process (gunicorn
--name imagekit-devcloud-<svc>-<state folder tag>); a recycled pid belonging
to anyone else is left alone. Stopping sends SIGTERM to the process group,
waits, then SIGKILL."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagekit.errors import ImagekitError

STOP_TIMEOUT = 15.0


class DevcloudError(ImagekitError):
    """The local test cloud could not be started, stopped or reached.
    `details` holds the end of the service's log (printed under the error)."""

    def __init__(self, message: str, hint: str | None = None, *, details: str = "") -> None:
        super().__init__(message, hint)
        self.details = details


def tail_text(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def read_tail(path: Path, lines: int = 25) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return tail_text(text, lines)


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def _state(pid: int) -> str:
    """The one-letter process state from /proc (Z = zombie), '' when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[0]


def _reap(pid: int) -> None:
    """Collect the exit status when the process is our own child."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def alive(pid: int) -> bool:
    """True while pid runs (a zombie is dead; our own is reaped here)."""
    _reap(pid)
    return _state(pid) not in ("", "Z", "X")


def is_ours(pid: int, name: str) -> bool:
    """True when pid is alive and is the process we started under `name`.
    gunicorn rewrites its title (setproctitle) in place, so a read can catch
    it half-written: a mismatch is read again a few times before it counts."""
    for attempt in range(5):
        if not alive(pid):
            return False
        if name in _cmdline(pid):
            return True
        time.sleep(0.02 * (attempt + 1))
    return False


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class Running:
    pid: int
    name: str


def start(argv: Sequence[str], *, env: Mapping[str, str], log: Path, pidfile: Path,
          name: str, cwd: Path) -> Running:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env=dict(env), cwd=str(cwd), start_new_session=True,
                                close_fds=True)
    pidfile.write_text(f"{proc.pid}\n")
    # Keep no Popen object: the server outlives this process; _reap collects
    # it if it dies while we still run.
    proc.returncode = 0  # silence ResourceWarning on garbage collection
    return Running(proc.pid, name)


def stop(pidfile: Path, name: str, timeout: float = STOP_TIMEOUT) -> str:
    """Stop the process recorded in pidfile if it is still ours. Returns what
    happened: 'stopped', 'killed', 'not running' or 'not ours'."""
    pid = read_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return "not running"
    if not is_ours(pid, name):
        pidfile.unlink(missing_ok=True)
        return "not running" if not _cmdline(pid) else "not ours"
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        return "not running"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_ours(pid, name):
            pidfile.unlink(missing_ok=True)
            return "stopped"
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for _ in range(50):
        if not is_ours(pid, name):
            break
        time.sleep(0.1)
    pidfile.unlink(missing_ok=True)
    return "killed"


def http_answers(url: str, timeout: float = 3.0) -> int | None:
    """The HTTP status of GET url, or None when nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    try:
        with opener.open(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError, TimeoutError):
        return None


def wait_ready(url: str, pid: int, name: str, log: Path, timeout: float) -> float:
    """Wait until url answers below 500; fail early when the process died."""
    start_t = time.monotonic()
    deadline = start_t + timeout
    while time.monotonic() < deadline:
        status = http_answers(url)
        if status is not None and status < 500:
            return time.monotonic() - start_t
        if not alive(pid):
            raise DevcloudError(f"{name} exited while starting (log: {log})",
                                "the end of its log is shown above", details=read_tail(log, 20))
        time.sleep(0.25)
    raise DevcloudError(f"{name} did not answer on {url} within {timeout:.0f} s (log: {log})",
                        "the machine may be overloaded: retry, or raise "
                        "IMAGEKIT_DEVCLOUD_START_TIMEOUT", details=read_tail(log, 20))
