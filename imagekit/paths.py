"""Where imagekit finds its data (recipes, elements, patches) and where it
keeps caches, user configuration and output images."""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_root() -> Path:
    """The folder holding recipes/, elements/ and patches/: the source tree
    (editable install), or IMAGEKIT_DATA_DIR, or share/imagekit of the prefix."""
    env = os.environ.get("IMAGEKIT_DATA_DIR")
    if env:
        return Path(env)
    tree = _PACKAGE.parent
    if (tree / "recipes").is_dir():
        return tree
    import sys
    return Path(sys.prefix) / "share" / "imagekit"


def recipes_dir() -> Path:
    return data_root() / "recipes"


def elements_dir() -> Path:
    return data_root() / "elements"


def patches_dir() -> Path:
    return data_root() / "patches"


def cache_dir() -> Path:
    """Per-user cache (backend verdict, inspection results, test images)."""
    base = os.environ.get("IMAGEKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "imagekit")
    p = Path(base)
    p.mkdir(parents=True, exist_ok=True)
    return p


def config_dir() -> Path:
    """Per-user configuration (flavor overrides, cloud profiles)."""
    base = os.environ.get("IMAGEKIT_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "imagekit")
    return Path(base)


def images_dir() -> Path:
    """Default output folder for built images (`images/` of the tree)."""
    env = os.environ.get("IMAGEKIT_IMAGES_DIR")
    return Path(env) if env else data_root() / "images"
