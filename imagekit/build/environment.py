"""The environment a `disk-image-create` run gets.

Mirrors come from the machine's apt sources (imagekit.aptsources), never from
a host name written here; DIB_* variables already set by the operator win.
The debootstrap tarball and the apt .deb cache are shared between builds
(DIB_DEBOOTSTRAP_CACHE). Proxies pass through. Variables that point at files
of *this* host (pip's CA bundle, find-links folders...) are dropped: DIB hands
its whole environment to the chroot, where those files do not exist."""
from __future__ import annotations

import os
from collections.abc import Mapping

from imagekit import aptsources, ui
from imagekit.errors import ImagekitError

PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")

# Host-only settings that must not leak into the build chroot.
DROP_PREFIXES = ("PIP_",)
DROP_VARS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
             "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")

# What a build needs from the operator's environment when set (dbimagerc style).
PASS_PREFIXES = ("DIB_",)


def mirror_env(distro: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """DIB_DISTRIBUTION_MIRROR / DIB_DEBIAN_SECURITY_MIRROR for `distro`
    (debian or ubuntu), from the machine's apt sources when they serve that
    distro. Values already in `environ` are kept."""
    env = dict(environ if environ is not None else os.environ)
    out: dict[str, str] = {}
    if not env.get("DIB_DISTRIBUTION_MIRROR"):
        try:
            mirror = aptsources.distro_mirror()
        except ImagekitError:
            mirror = None
        if mirror and distro in mirror.lower():
            out["DIB_DISTRIBUTION_MIRROR"] = mirror
        elif mirror:
            ui.warn(f"this machine's apt mirror serves another distribution than {distro}; "
                    "DIB uses its default mirror (set DIB_DISTRIBUTION_MIRROR to override)")
    if distro == "debian" and not env.get("DIB_DEBIAN_SECURITY_MIRROR"):
        sec = aptsources.security_mirror()
        if sec and "debian" in sec.lower():
            out["DIB_DEBIAN_SECURITY_MIRROR"] = sec
    return out


def cache_env() -> dict[str, str]:
    """Share DIB's debootstrap tarball and apt cache between builds."""
    return {"DIB_DEBOOTSTRAP_CACHE": "1", "DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE": "1"}


def proxy_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    env = environ if environ is not None else os.environ
    return {k: env[k] for k in PROXY_VARS if env.get(k)}


def operator_dib_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """DIB_* variables the operator set (they override ours)."""
    env = environ if environ is not None else os.environ
    return {k: v for k, v in env.items() if k.startswith(PASS_PREFIXES)}


def clean_host_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The host environment minus what must not reach the chroot."""
    env = dict(environ if environ is not None else os.environ)
    return {k: v for k, v in env.items()
            if not k.startswith(DROP_PREFIXES) and k not in DROP_VARS}


def build_env(distro: str, extra: Mapping[str, str] | None = None,
              environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a build sets on top of the (cleaned) host environment:
    mirrors, caches, proxies, then `extra` (recipe / element settings), then
    the operator's own DIB_* variables, which always win."""
    env: dict[str, str] = {}
    env.update(mirror_env(distro, environ))
    env.update(cache_env())
    env.update(proxy_env(environ))
    env.update(extra or {})
    env.update(operator_dib_env(environ))
    return env
