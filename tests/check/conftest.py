"""Fixtures of the check tests: the fault images (tests/check/faults.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests import imagefactory
from tests.check import faults


@pytest.fixture(scope="session")
def fault_images() -> dict[str, Path]:
    """Every factory fault image (and the good one, also in every layout),
    built in one appliance launch and cached by spec. Never modify them."""
    return imagefactory.cached_images({**{n: f.spec for n, f in faults.FACTORY.items()},
                                       **faults.LAYOUTS})


@pytest.fixture(scope="session")
def file_fault_images(fault_images) -> dict[str, tuple[Path, tuple[str, ...]]]:
    """qcow2-level faults (backing file, data file, truncated, corrupt, blank):
    name -> (path, expected finding ids). Cached; never modify them."""
    return faults.file_faults(fault_images["good"])


@pytest.fixture(scope="session")
def engine_fault_images(fault_images) -> dict[str, Path]:
    """Faults seeded through the customization engine (cached)."""
    return faults.engine_fault_images(fault_images["good"])
