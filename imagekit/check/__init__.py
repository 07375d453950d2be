"""`imagekit check`: the reasons an instance would stay in BUILD, found before
upload. `run_checks(image, ...)` for one image (upload calls it),
`check_images(paths, CheckOptions(...))` for several in one appliance
launch; the check table is `findings.CHECKS` (docs/checks.md)."""
from __future__ import annotations

from imagekit.check.findings import CHECKS, Finding, Severity
from imagekit.check.offline import CheckOptions
from imagekit.check.runner import ImageResult, check_images, run_checks

__all__ = ["CHECKS", "CheckOptions", "Finding", "ImageResult", "Severity", "check_images",
           "run_checks"]
