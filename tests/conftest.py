"""Shared fixtures. Images are cached between runs (~/.cache/imagekit/test-images):
the tiny images by the hash of tests/imagefactory.py and their spec, the DIB
images by the hash of their inputs."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import imagefactory

# The devcloud session fixture (a local Keystone/Glance/Nova/Trove) and its
# report hook, shared by tests/cloud and tests/check: one devcloud per session.
from tests.devcloudfixture import devcloud, pytest_runtest_makereport  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def _own_default_devcloud(tmp_path_factory):
    """The operator's own devcloud (~/.cache/imagekit/devcloud, which `make
    demo` leaves running) is not the tests': its clouds.yaml would be read as
    the fallback cloud config. The tests get an empty default state folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("IMAGEKIT_DEVCLOUD_DIR", str(tmp_path_factory.mktemp("default-devcloud")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_images() -> dict[str, Path]:
    """The standard tiny images (single, prep, boot, lvm, xfs, ppc64le), made
    in one appliance launch when not cached. Never modify them: copy first."""
    return imagefactory.cached_images(imagefactory.standard_specs())


@pytest.fixture
def tiny_copy(tiny_images, tmp_path):
    """A private, modifiable copy of a tiny image: tiny_copy('lvm')."""
    def make(layout: str = "single") -> Path:
        dest = tmp_path / f"{layout}.qcow2"
        shutil.copyfile(tiny_images[layout], dest)
        return dest
    return make


@pytest.fixture(scope="session")
def dib_base_image() -> Path:
    """A real diskimage-builder Debian bookworm image (vm debian-minimal),
    built once (~3 min) and cached by the hash of its inputs."""
    from tests import dibimages
    return dibimages.base_image()
