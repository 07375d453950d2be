"""Fixtures of the check tests: the fault images (tests/check/faults.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests import imagefactory
from tests.check import faults


@pytest.fixture(scope="session")
def fault_images() -> dict[str, Path]:
    """Every factory fault image (and the good one), built in one appliance
    launch and cached by spec. Never modify them."""
    return imagefactory.cached_images({n: f.spec for n, f in faults.FACTORY.items()})


@pytest.fixture(scope="module")
def file_fault_images(fault_images, tmp_path_factory) -> dict[str, tuple[Path, tuple[str, ...]]]:
    folder = tmp_path_factory.mktemp("file-faults")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    return faults.file_faults(fault_images["good"], folder, elsewhere)
