"""skopeo, the one module that runs it: copies between image transports
(docker://, oci:, oci-archive:, docker-archive:)."""
from __future__ import annotations

import json
from typing import Any

from imagekit.tools.run import PACKAGE_OF, run

PACKAGE_OF.setdefault("skopeo", "skopeo")


def copy(src: str, dest: str, *, arch: str | None = None, timeout: float = 1800,
         command_timeout: str | None = None, what: str | None = None,
         hint: str | None = None) -> None:
    """skopeo copy SRC DEST (transport:reference strings). `command_timeout`
    (e.g. "60s") bounds network access; `arch` picks that architecture out
    of a multi-arch registry image."""
    argv = ["skopeo", "--insecure-policy"]
    if command_timeout:
        argv += ["--command-timeout", command_timeout]
    if arch:
        argv += ["--override-arch", arch, "--override-os", "linux"]
    argv += ["copy", "--quiet", "--retry-times", "0", src, dest]
    run(argv, timeout=timeout, what=what or f"skopeo copy {src}", hint=hint)


def inspect_config(ref: str, *, timeout: float = 300) -> dict[str, Any]:
    """The image configuration (architecture, config, rootfs...) of ref."""
    out = run(["skopeo", "--insecure-policy", "inspect", "--config", ref],
              timeout=timeout, what=f"skopeo inspect {ref}").stdout
    return json.loads(out)
