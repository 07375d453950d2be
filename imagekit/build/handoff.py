"""Without -I, `imagekit make` hands the finished image to `imagekit upload`
(Glance + Trove registration), as the original dbimage-make did. The build
never talks to a cloud itself; this module is the one place that knows how
to call the upload command."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from imagekit.errors import UsageError

if TYPE_CHECKING:
    from imagekit.build.plan import BuildPlan

HOOK = "upload_built_image"     # imagekit.cli.upload.upload_built_image(image, recipe) -> int


def _hook():
    try:
        mod = importlib.import_module("imagekit.cli.upload")
    except ImportError:
        return None
    return getattr(mod, HOOK, None)


def require() -> None:
    """Refuse early (before a long build) when the upload step is unavailable."""
    if _hook() is None:
        raise UsageError("without -I, make uploads the image with 'imagekit upload', which is "
                         "not available in this version",
                         "build with -I, then upload with 'imagekit upload'")


def upload(plan: BuildPlan, image: Path) -> int:
    hook = _hook()
    if hook is None:
        require()
    return int(hook(image, plan.recipe) or 0)
