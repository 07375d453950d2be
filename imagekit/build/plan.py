"""The build plan: everything `imagekit make` resolved from its options, the
recipe table and the environment, before anything is built (frozen).
`--dry-run` prints it. The plan knows the element list, the variables our
elements read, the output names and the build record."""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagekit import __version__, paths
from imagekit.build.ssh import SshTarget
from imagekit.errors import UsageError
from imagekit.recipes import Recipe

OUR_ELEMENTS = ("imagekit-initramfs-once", "imagekit-guest-agent", "imagekit-network", "imagekit-database",
                "imagekit-manifest")
DISTRO_ELEMENT = {"debian": "debian-minimal", "ubuntu": "ubuntu-minimal"}


@dataclass(frozen=True)
class BuildPlan:
    recipe: Recipe
    trove_version: str
    trove_release: str
    trove_source: str = "pypi"
    guest_user: str = "ubuntu"
    target: SshTarget | None = None         # None: this host
    arch: str | None = None                  # None: the builder's
    cross: bool = False
    output_dir: Path = field(default_factory=paths.images_dir)
    compress: bool = True
    image_size_gb: int | None = None
    extra_elements: tuple[str, ...] = ()
    authorized_key: str | None = None        # a public key for the guest user (-k FILE)
    agent_debug: bool = False
    build_only: bool = True                  # -I
    keypair: str | None = None               # -k NAME without -I: a Nova keypair for the upload
    trove_from_index: bool = False           # pip install trove inside the build (no wheelhouse)
    clouds: tuple[str, ...] = ()             # --os-cloud, for the upload without -I
    keep_build: bool = False
    db_image: str | None = None              # container style: --db-image SPEC (distro, FILE, REF)

    @property
    def base_name(self) -> str:
        return self.recipe.image_base

    @property
    def image_path(self) -> Path:
        return self.output_dir / f"{self.base_name}.qcow2"

    @property
    def log_path(self) -> Path:
        return self.output_dir / f"{self.base_name}.log"

    @property
    def builder_label(self) -> str:
        return self.target.label if self.target else "this host"

    def elements(self, arch: str) -> tuple[str, ...]:
        els = ["vm", DISTRO_ELEMENT[self.recipe.distro], *OUR_ELEMENTS]
        if arch == "ppc64el":
            els.append("imagekit-ppc64el-kernel")
        for e in self.extra_elements:
            if e not in els:
                els.append(e)
        return tuple(els)

    def variables(self, *, arch: str, wheelhouse: str | None, record: str, package: str | None,
                  pip_ca: str | None = None) -> dict[str, str]:
        """What our elements and DIB read (see each element's README)."""
        r = self.recipe
        v = {
            "DIB_RELEASE": r.release,
            "DIB_CLOUD_INIT_DATASOURCES": "ConfigDrive, OpenStack",
            "IMAGEKIT_GUEST_USER": self.guest_user,
            "IMAGEKIT_TROVE_VERSION": self.trove_version,
            "IMAGEKIT_TROVE_RELEASE": self.trove_release,
            "IMAGEKIT_TROVE_SOURCE": self.trove_source,
            "IMAGEKIT_BUILD_RECORD": record,
            "IMAGEKIT_DB": r.db,
            "IMAGEKIT_DB_VERSION": r.version,
            "IMAGEKIT_DB_SOURCE": r.source,
            "IMAGEKIT_DB_INSTALL_KIND": r.install_kind,
            "IMAGEKIT_DB_PACKAGES": " ".join(r.install),
            "IMAGEKIT_DB_SERVICE": r.service,
            "IMAGEKIT_DB_TUNING": " ".join(r.tuning),
            "IMAGEKIT_AGENT_DEBUG": "1" if self.agent_debug else "0",
        }
        if wheelhouse:
            v["IMAGEKIT_WHEELHOUSE"] = wheelhouse
        else:
            v["IMAGEKIT_TROVE_ONLINE"] = "1"
            if pip_ca:
                v["IMAGEKIT_PIP_CA"] = pip_ca
        if r.repo:
            v["IMAGEKIT_DB_REPO_LINE"] = r.repo.line()
            v["IMAGEKIT_DB_REPO_KEY_FPR"] = r.repo.key_fingerprint or ""
            if r.repo.key_url:
                v["IMAGEKIT_DB_REPO_KEY_URL"] = r.repo.key_url
        if r.source_build:
            v["IMAGEKIT_DB_SOURCE_BUILD"] = r.source_build.build
            v["IMAGEKIT_DB_SOURCE_URL"] = r.source_build.url
        if package:
            v["IMAGEKIT_DB_PACKAGE_FILE"] = package
        if r.docker_image:
            v["IMAGEKIT_DOCKER_IMAGE"] = r.docker_image
        if self.authorized_key:
            v["IMAGEKIT_AUTHORIZED_KEY"] = self.authorized_key
        if self.image_size_gb:
            v["DIB_IMAGE_SIZE"] = str(self.image_size_gb)
        return v

    def record(self, *, arch: str, builder: str, dib_version: str, elements: tuple[str, ...],
               wheelhouse_files: int | None) -> dict[str, Any]:
        """The build record written into the image (/etc/imagekit/build.json)."""
        return {
            "schema": "imagekit.build/1",
            "imagekit": __version__,
            "built_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "image": self.base_name,
            "arch": arch,
            "builder": builder,
            "diskimage_builder": dib_version,
            "elements": list(elements),
            "recipe": self.recipe.as_dict(),
            "guest": {"user": self.guest_user, "trove_version": self.trove_version,
                      "trove_release": self.trove_release, "trove_source": self.trove_source,
                      "wheelhouse_files": wheelhouse_files,
                      "authorized_key": bool(self.authorized_key)},
        }

    def summary(self) -> list[tuple[str, str]]:
        r = self.recipe
        rows = [
            ("database", f"{r.db} {r.version} ({r.source}" + (f", {r.note}" if r.note else "") + ")"),
            ("style", r.style + (f" (docker image {r.docker_image})" if r.docker_image else "")),
            ("install", r.install_kind + (": " + " ".join(r.install) if r.install else "")
             + (f" from {r.repo.url}" if r.repo else "")
             + (f" ({r.user_package.path.name})" if r.user_package else "")),
            ("registered package", r.pkg or "-"),
            ("service", r.service or "-"),
            ("target", f"{r.distro} {r.release}" + (f", {self.arch}" if self.arch else "")),
            ("guest agent", f"trove {self.trove_version} ({self.trove_release}) from {self.trove_source}"
                            + (" (installed from the index inside the build)" if self.trove_from_index
                               else " (host-side wheelhouse)") + f", user {self.guest_user}"),
            ("builder", self.builder_label),
            ("output", str(self.image_path)),
            ("log", str(self.log_path)),
        ]
        if r.style == "container":
            rows.append(("database image", f"{r.docker_image} from {self.db_image or 'distro'}, "
                         "preloaded (loaded into docker before the agent starts)"))
        if self.extra_elements:
            rows.append(("extra elements", " ".join(self.extra_elements)))
        if self.authorized_key:
            rows.append(("authorized key", self.authorized_key.split(" ")[0] + " for " + self.guest_user))
        if self.build_only:
            rows.append(("upload", "no (-I: build only, no cloud contacted)"))
        else:
            where = ", ".join(self.clouds) or "OS_CLOUD"
            rows.append(("upload", f"imagekit upload to {where}"
                         + (f", keypair {self.keypair}" if self.keypair else "")))
        return rows


def extra_elements_from_env(environ: dict[str, str] | None = None, *,
                            remote: bool = False) -> tuple[str, ...]:
    """DBIMAGE_MYELEMENTS (the original's dbimagerc): element names in
    elements/ (staged to remote builders) or, for builds on this host, in a
    folder of ELEMENTS_PATH."""
    env = environ if environ is not None else os.environ
    names = tuple((env.get("DBIMAGE_MYELEMENTS") or "").split())
    folders = [paths.elements_dir()]
    if not remote:
        folders += [Path(p) for p in (env.get("ELEMENTS_PATH") or "").split(":") if p]
    for n in names:
        if not any((f / n).is_dir() for f in folders):
            raise UsageError(f"DBIMAGE_MYELEMENTS names '{n}', which is not an element folder in "
                             + " or ".join(str(f) for f in folders),
                             "put the element's folder into elements/ or fix the variable")
    return names


def is_key_file(value: str) -> bool:
    return Path(value).expanduser().is_file()


def read_public_key(value: str) -> str:
    """-k FILE: a public key for the guest user (a Nova keypair name needs a
    cloud, which a build never contacts: it goes to the upload)."""
    p = Path(value).expanduser()
    if not p.is_file():
        raise UsageError(f"-k {value}: no such public key file",
                         "with -I give an ssh public key file (e.g. ~/.ssh/id_ed25519.pub); a Nova "
                         "keypair name is read from the cloud by the upload (without -I)")
    text = p.read_text().strip()
    first = text.splitlines()[0] if text else ""
    if "PRIVATE KEY" in text:
        raise UsageError(f"-k {value} is a private key; never bake a private key into an image",
                         "pass the .pub file")
    if not first.split(" ", 1)[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise UsageError(f"-k {value}: not an ssh public key")
    return first
