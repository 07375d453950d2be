"""Without -I, `imagekit make` hands the finished image to `imagekit upload`
(re-target, Glance, Trove datastore version), as the original dbimage-make
uploaded after building. The build itself never talks to a cloud: this
module runs the real `imagekit upload` command afterwards, with the same
environment (OS_CLOUD, clouds.yaml, DBIMAGE_* variables, proxies)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from imagekit import ui
from imagekit.errors import UsageError

if TYPE_CHECKING:
    from imagekit.build.plan import BuildPlan


def require(clouds: tuple[str, ...]) -> None:
    """Refuse before a long build when the upload could not know its cloud."""
    if not clouds and not os.environ.get("OS_CLOUD"):
        raise UsageError("without -I the image is uploaded after the build, but no cloud is named",
                         "give --os-cloud CLOUD (or set OS_CLOUD), or build only with -I")


def argv(plan: BuildPlan, image: Path) -> list[str]:
    r = plan.recipe
    args = [str(Path(sys.executable).parent / "imagekit"), "upload", "-f", str(image),
            "-d", r.db, "-v", r.version, "-b", plan.guest_user]
    if r.source == "community":
        args.append("-c")
    elif r.source == "enterprise":
        args.append("-e")
    if plan.keypair:
        args += ["-k", plan.keypair]
    for c in plan.clouds:
        args += ["--os-cloud", c]
    return args


def upload(plan: BuildPlan, image: Path) -> int:
    cmd = argv(plan, image)
    ui.info("uploading: " + " ".join(cmd[1:]))
    return subprocess.run(cmd, check=False).returncode
