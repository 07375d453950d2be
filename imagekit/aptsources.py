"""The Debian/Ubuntu mirror this machine uses, read from its apt sources
(deb822 files in /etc/apt/sources.list.d/ and the one-line sources.list).
imagekit never writes a mirror host name into code: DIB builds and test
downloads use what the machine's apt already uses."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from imagekit.errors import ImagekitError

APT_DIR = Path(os.environ.get("IMAGEKIT_APT_DIR", "/etc/apt"))


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    file: str


def _deb822(path: Path) -> list[AptSource]:
    out = []
    for stanza in path.read_text().split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            if ":" in line:
                key, val = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = val.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            out.append(AptSource(uri.rstrip("/"), tuple(fields.get("suites", "").split()),
                                 tuple(fields.get("components", "").split()), str(path)))
    return out


def _one_line(path: Path) -> list[AptSource]:
    out = []
    for line in path.read_text().splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) < 3 or parts[0] != "deb":
            continue
        parts = [p for p in parts[1:] if not p.startswith("[")]
        if len(parts) >= 2:
            out.append(AptSource(parts[0].rstrip("/"), (parts[1],), tuple(parts[2:]), str(path)))
    return out


def sources(apt_dir: Path | None = None) -> list[AptSource]:
    d = apt_dir or APT_DIR
    found: list[AptSource] = []
    main = d / "sources.list"
    if main.is_file():
        found += _one_line(main)
    folder = d / "sources.list.d"
    if folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.suffix == ".sources":
                found += _deb822(f)
            elif f.suffix == ".list":
                found += _one_line(f)
    return found


def _is_security(s: AptSource) -> bool:
    return any(x.endswith("-security") or x.endswith("/updates") for x in s.suites) or \
        "security" in s.uri.rsplit("/", 1)[-1]


def distro_mirror(apt_dir: Path | None = None) -> str:
    """The main archive mirror (not the security one)."""
    for s in sources(apt_dir):
        if not _is_security(s) and ("debian" in s.uri or "ubuntu" in s.uri):
            return s.uri
    raise ImagekitError("no Debian/Ubuntu mirror found in this machine's apt sources",
                        "set DIB_DISTRIBUTION_MIRROR to the mirror URL to use")


def security_mirror(apt_dir: Path | None = None) -> str | None:
    for s in sources(apt_dir):
        if _is_security(s):
            return s.uri
    return None
