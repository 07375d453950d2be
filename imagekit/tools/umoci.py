"""umoci, the one module that runs it: an OCI image layout made from a root
filesystem tarball, and its configuration."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from imagekit.tools.run import PACKAGE_OF, run

PACKAGE_OF.setdefault("umoci", "umoci")


def _umoci(*args: str, what: str, timeout: float = 1800) -> str:
    return run(["umoci", *args], timeout=timeout, what=f"umoci {what}").stdout


def new_image(layout: Path, tag: str) -> str:
    """Create the OCI layout `layout` (if needed) holding an empty image `tag`;
    returns the image reference "LAYOUT:TAG" the other calls take."""
    if not (layout / "oci-layout").exists():
        _umoci("init", "--layout", str(layout), what="init")
    ref = f"{layout}:{tag}"
    _umoci("new", "--image", ref, what="new")
    return ref


def add_layer(ref: str, layer_tar: Path, *, history: str = "") -> None:
    """Add an (uncompressed) tar archive as the image's next layer."""
    args = ["raw", "add-layer", "--image", ref]
    if history:
        args += ["--history.created_by", history]
    _umoci(*args, str(layer_tar), what="raw add-layer")


def configure(ref: str, *, entrypoint: Sequence[str] | None = None,
              cmd: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
              user: str | None = None, workdir: str | None = None,
              exposed_ports: Sequence[str] = (), volumes: Sequence[str] = (),
              labels: Mapping[str, str] | None = None, stop_signal: str | None = None,
              architecture: str | None = None, os_name: str = "linux",
              author: str | None = None) -> None:
    """Set the image configuration (umoci config; each list option is repeated)."""
    args = ["config", "--image", ref, "--os", os_name, "--no-history"]
    if architecture:
        args += ["--architecture", architecture]
    if author:
        args += ["--author", author]
    for e in entrypoint or ():
        args += ["--config.entrypoint", e]
    for c in cmd or ():
        args += ["--config.cmd", c]
    for k, v in (env or {}).items():
        args += ["--config.env", f"{k}={v}"]
    if user is not None:
        args += ["--config.user", user]
    if workdir:
        args += ["--config.workingdir", workdir]
    for p in exposed_ports:
        args += ["--config.exposedports", p]
    for v in volumes:
        args += ["--config.volume", v]
    for k, v in (labels or {}).items():
        args += ["--config.label", f"{k}={v}"]
    if stop_signal:
        args += ["--config.stopsignal", stop_signal]
    _umoci(*args, what="config")
