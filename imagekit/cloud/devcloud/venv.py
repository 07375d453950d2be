"""The services' own venv: Keystone, Glance, Nova and Trove from PyPI, pinned
by requirements.txt (the four services and gunicorn) and constraints.txt (the
full tested set). It is installed once and reinstalled only when those files
or the Python version change (a stamp file records their hash).

The installer is uv (itself pip-installed into the new venv; about half of
pip's time, bytecode compiled) unless IMAGEKIT_DEVCLOUD_INSTALLER=pip; when
uv fails, pip is tried."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
from importlib import resources
from pathlib import Path

from imagekit import ui
from imagekit.errors import ToolError
from imagekit.tools.run import run, tail

STAMP = ".imagekit-devcloud-stamp"
INSTALL_TIMEOUT = 1800


def pin_file(name: str) -> Path:
    return Path(str(resources.files("imagekit.cloud.devcloud") / name))


def base_python() -> str:
    """The interpreter the venv is made from: IMAGEKIT_DEVCLOUD_PYTHON, else
    the one imagekit runs on (its base, not imagekit's own venv)."""
    return os.environ.get("IMAGEKIT_DEVCLOUD_PYTHON") or \
        getattr(sys, "_base_executable", None) or sys.executable


def wanted_stamp(python: str) -> str:
    h = hashlib.sha256()
    for name in ("requirements.txt", "constraints.txt"):
        h.update(pin_file(name).read_bytes())
    h.update(run([python, "-c", "import sys; print(sys.version)"]).stdout.encode())
    return h.hexdigest()


def is_ready(venv: Path) -> bool:
    stamp = venv / STAMP
    return stamp.exists() and stamp.read_text().strip() == wanted_stamp(base_python())


def _quiet(text: str) -> str:
    """pip's output without the noise of this machine's pip.conf (local index
    folders that do not exist) and of legacy installs."""
    skip = ("is ignored: it is neither a file nor a directory", "DEPRECATION:")
    return "\n".join(ln for ln in text.splitlines() if not any(s in ln for s in skip))


def ensure(venv: Path) -> bool:
    """Install the venv when missing or stale. Returns True when it installed.
    Concurrent callers wait on a lock next to the venv."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    python = base_python()
    want = wanted_stamp(python)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = venv / STAMP
        if stamp.exists() and stamp.read_text().strip() == want:
            return False
        with ui.step("installing the services' venv (Keystone, Glance, Nova, Trove; first time "
                     "only, 1-2 min)") as step:
            installer = os.environ.get("IMAGEKIT_DEVCLOUD_INSTALLER", "uv")
            if installer == "uv":
                try:
                    _install(python, venv, "uv")
                except ToolError as exc:
                    ui.warn(f"installing with uv failed ({exc.message}); trying pip")
                    installer = "pip"
            if installer != "uv":
                _install(python, venv, "pip")
            stamp.write_text(want + "\n")
            step["note"] = f"{venv} ({installer})"
    return True


def _install(python: str, venv: Path, installer: str) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    run([python, "-m", "venv", str(venv)], what="python -m venv",
        hint="install python3-venv (apt-get install python3-venv)")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    pins = ["-r", str(pin_file("requirements.txt")), "-c", str(pin_file("constraints.txt"))]
    pip = str(venv / "bin" / "pip")
    steps = [[pip, "install", "-q", *pins]]
    if installer == "uv":
        steps = [[pip, "install", "-q", "uv"],
                 [str(venv / "bin" / "uv"), "pip", "install", "-q", "--python",
                  str(venv / "bin" / "python"), "--compile-bytecode", *pins]]
    for argv in steps:
        proc = run(argv, env=env, check=False, timeout=INSTALL_TIMEOUT,
                   what=f"{installer} install (devcloud services)")
        if proc.returncode != 0:
            detail = tail(_quiet(proc.stderr + proc.stdout), 8).replace("\n", " | ")
            raise ToolError(f"installing the devcloud services with {installer} failed (exit "
                            f"{proc.returncode}): {detail}",
                            "check network access to PyPI; the pins are in "
                            f"{pin_file('constraints.txt')}",
                            argv=argv, returncode=proc.returncode, stderr=proc.stderr)
