"""Opening a --write session on the customization engine (imagekit.engine):
an overlay in front of the image, one launch, the guest mounted read-write."""
from __future__ import annotations

from typing import Any

from imagekit.errors import ImagekitError


def open_session(cls: Any, image: Any, others: Any, out: Any) -> Any:
    try:
        import imagekit.engine  # noqa: F401
    except ImportError:
        raise ImagekitError("imagekit shell --write needs the customization engine "
                            "(imagekit.engine), which this installation does not have",
                            "open the image read-only (without --write)")
    raise ImagekitError("imagekit shell --write is not wired to the engine yet")
