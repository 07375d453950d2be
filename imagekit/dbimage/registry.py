"""A database image from a container registry (`--db-image REF`), copied
with skopeo into a docker-archive. Registries are often unreachable from
build machines: a short timeout and a one-line error naming the fix."""
from __future__ import annotations

import re
from pathlib import Path

from imagekit.dbimage import archive
from imagekit.dbimage.model import DbImage, oci_arch
from imagekit.errors import DbImageError, ToolError

TIMEOUT = "60s"
_REF = re.compile(r"^(docker://)?[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*"
                  r"(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[0-9a-f]{64})?$")
_UNREACHABLE = ("timeout", "deadline", "no such host", "connection refused", "network is unreachable",
                "i/o timeout", "dial tcp", "tls handshake", "temporary failure in name resolution")


def looks_like_ref(spec: str) -> bool:
    return bool(_REF.match(spec)) and ("/" in spec or ":" in spec or spec.startswith("docker://"))


def pull(ref: str, dest: Path, *, want_ref: str, arch: str) -> DbImage:
    """Copy registry image `ref` (architecture `arch`) to the docker-archive
    `dest`, tagged want_ref."""
    src = ref if ref.startswith("docker://") else f"docker://{ref}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        archive.copy_to_docker_archive(src, dest, want_ref, arch=oci_arch(arch),
                                       command_timeout=TIMEOUT, timeout=3600,
                                       what=f"pulling {ref}")
    except ToolError as exc:
        text = (exc.stderr or exc.message).lower()
        if any(w in text for w in _UNREACHABLE):
            raise DbImageError(
                f"the registry of {ref} cannot be reached (timeout {TIMEOUT}): "
                "use '--db-image distro' to build the image from the distribution",
                "or pass a saved archive with '--db-image FILE'") from exc
        last = (exc.stderr.strip().splitlines() or [exc.message])[-1]
        raise DbImageError(f"cannot copy {ref}: {last}",
                           "check the reference, or use '--db-image distro'") from exc
    info = archive.inspect(dest)
    img = info.image_for(arch)
    return DbImage(ref=want_ref, archive=dest, digest=img.digest, source=f"registry: {ref}",
                   arch=img.arch, size=dest.stat().st_size)
