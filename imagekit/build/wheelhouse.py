"""The guest agent's wheelhouse: trove at the pinned release and every
dependency as wheels, prepared on this host and copied into the build, so the
image build itself needs no access to PyPI (and no CA bundle in the chroot).

Built with this host's pip (its index, proxy and trust settings), cached in
~/.cache/imagekit/wheelhouse/<key>/ and reused by every build of the same
(trove source, version, target python, architecture). When the target's
python and architecture are this host's, `pip wheel` builds any sdist; for
another target (noble's python 3.12, a ppc64el builder) `pip download`
fetches binary wheels for that platform only."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from imagekit import paths, ui
from imagekit.build import arch as arch_mod
from imagekit.errors import BuildError, ToolError
from imagekit.tools.run import run

GLIBC_OF_RELEASE = {"bookworm": 36, "jammy": 35, "noble": 39, "xenial": 23}


@dataclass(frozen=True)
class Wheelhouse:
    path: Path
    trove_version: str
    source: str
    python: str
    arch: str
    files: int


def host_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def host_arch() -> str:
    return arch_mod.host()


def ca_bundle() -> Path | None:
    """This host's CA bundle (what its pip trusts), for an index install inside
    a build: copied into DIB's hooks folder, never into the image."""
    import ssl
    for cand in (os.environ.get("PIP_CERT"), os.environ.get("REQUESTS_CA_BUNDLE"),
                 os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().cafile,
                 "/etc/ssl/certs/ca-certificates.crt"):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def requirement(source: str, version: str) -> str:
    """What pip is asked for: trove==X from the index, or a local tree / git URL."""
    if source == "pypi":
        return f"trove=={version}"
    if source.startswith(("git+", "http://", "https://")):
        return source
    p = Path(source).expanduser()
    if not (p / "setup.cfg").is_file() and not (p / "pyproject.toml").is_file():
        raise BuildError(f"--trove-source {source}: not a trove source tree",
                         "give 'pypi', a git URL (git+https://...@ref) or a folder holding "
                         "trove's setup.cfg")
    return str(p.resolve())


def _key(source: str, version: str, python: str, arch: str) -> str:
    ident = source if source == "pypi" or source.startswith(("git+", "http")) else \
        f"{Path(source).resolve()}@{_tree_stamp(Path(source))}"
    h = hashlib.sha256(json.dumps([ident, version, python, arch]).encode()).hexdigest()[:12]
    return f"trove-{version}-py{python}-{arch}-{h}"


def _tree_stamp(p: Path) -> str:
    """A local tree changes: key it by its newest mtime."""
    newest = max((f.stat().st_mtime_ns for f in p.rglob("*.py")), default=0)
    return str(newest)


def _trove_wheel(folder: Path) -> Path | None:
    found = sorted(folder.glob("trove-*.whl"))
    return found[-1] if found else None


def _requires_python(wheel: Path) -> str | None:
    with zipfile.ZipFile(wheel) as z:
        meta = next((n for n in z.namelist() if n.endswith(".dist-info/METADATA")), None)
        if not meta:
            return None
        m = re.search(r"^Requires-Python:\s*(.+)$", z.read(meta).decode(errors="replace"), re.M)
        return m.group(1).strip() if m else None


def python_ok(spec: str | None, python: str) -> bool:
    """Does `python` (x.y) satisfy a Requires-Python spec such as '>=3.11'?"""
    if not spec:
        return True
    want = tuple(int(x) for x in python.split(".")[:2])
    for clause in spec.split(","):
        m = re.match(r"\s*(>=|<=|>|<|==|!=)\s*(\d+)(?:\.(\d+))?", clause)
        if not m:
            continue
        op, ver = m.group(1), (int(m.group(2)), int(m.group(3) or 0))
        ok = {">=": want >= ver, "<=": want <= ver, ">": want > ver, "<": want < ver,
              "==": want[:len(ver)] == ver, "!=": want != ver}[op]
        if not ok:
            return False
    return True


def _platform_args(python: str, arch: str, release: str) -> list[str]:
    machine = arch_mod.MACHINE_OF_ARCH.get(arch, arch)
    glibc = GLIBC_OF_RELEASE.get(release, 17)
    nodot = python.replace(".", "")
    args = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp",
            "--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none"]
    for minor in range(glibc, 4, -1):
        args += ["--platform", f"manylinux_2_{minor}_{machine}"]
    args += ["--platform", f"manylinux2014_{machine}", "--platform", f"linux_{machine}"]
    return args


def ensure(version: str, *, source: str = "pypi", python: str | None = None,
           arch: str | None = None, release: str = "bookworm") -> Wheelhouse:
    """The cached wheelhouse for trove `version` (built when missing)."""
    python = python or host_python()
    arch = arch or host_arch()
    req = requirement(source, version)
    root = paths.cache_dir() / "wheelhouse"
    root.mkdir(parents=True, exist_ok=True)
    dest = root / _key(source, version, python, arch)
    marker = dest / ".imagekit-wheelhouse.json"
    if marker.is_file():
        info = json.loads(marker.read_text())
        return Wheelhouse(dest, info["trove_version"], source, python, arch, info["files"])

    work = root / f".{dest.name}.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    native = (python, arch) == (host_python(), host_arch())
    pip = [sys.executable, "-m", "pip"]
    if native:
        argv = [*pip, "wheel", "--quiet", "--disable-pip-version-check", "--wheel-dir", str(work), req]
    else:
        argv = [*pip, "download", "--quiet", "--disable-pip-version-check", "--dest", str(work),
                *_platform_args(python, arch, release), req]
    try:
        with ui.step(f"preparing the guest-agent wheelhouse ({req}, python {python}, {arch})") as d:
            try:
                run(argv, timeout=1800, what="pip (guest-agent wheelhouse)")
            except ToolError as exc:
                m = re.search(r"Requires-Python ([^;\s]+)", exc.stderr or "")
                if m:
                    raise BuildError(
                        f"trove {version} requires Python {m.group(1)}; the image's python is "
                        f"{python} ({release})",
                        "choose a trove release that supports it (--trove-release) or a newer "
                        "distribution release (--release)") from exc
                raise BuildError(
                    f"cannot prepare the trove {version} wheelhouse for python {python} on {arch}: "
                    f"{exc.message}",
                    "check that this host reaches the package index (pip config, proxy), and that "
                    "the trove release supports the target's python (--trove-release)") from exc
            wheel = _trove_wheel(work)
            if wheel is None:
                raise BuildError(f"pip produced no trove wheel for {req}")
            built = wheel.name.split("-")[1]
            if source == "pypi" and built != version:
                raise BuildError(f"the wheelhouse holds trove {built}, {version} was asked for")
            needs = _requires_python(wheel)
            if not python_ok(needs, python):
                raise BuildError(f"trove {built} needs python {needs}; the image's python is {python}",
                                 "choose an older --trove-release for this distribution release")
            files = len(list(work.iterdir()))
            (work / marker.name).write_text(json.dumps(
                {"trove_version": built, "source": source, "python": python, "arch": arch,
                 "files": files, "requirement": req}, indent=2))
            d["note"] = f"{files} wheels"
        try:
            os.replace(work, dest)
        except OSError:             # another build made it meanwhile: use that one
            if not marker.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info = json.loads(marker.read_text())
    return Wheelhouse(dest, info["trove_version"], source, python, arch, info["files"])
