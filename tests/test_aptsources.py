"""The mirror comes from the machine's apt sources, in either format."""
from __future__ import annotations

import pytest

from imagekit import aptsources
from imagekit.errors import ImagekitError


def test_deb822_sources(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n")
    assert aptsources.distro_mirror(tmp_path) == "http://mirror.example/debian"
    assert aptsources.security_mirror(tmp_path) == "http://mirror.example/debian-security"


def test_one_line_sources(tmp_path):
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://archive.example/ubuntu jammy main universe\n"
        "deb http://security.example/ubuntu jammy-security main\n")
    assert aptsources.distro_mirror(tmp_path) == "http://archive.example/ubuntu"
    assert aptsources.security_mirror(tmp_path) == "http://security.example/ubuntu"


def test_disabled_and_source_stanzas_are_ignored(tmp_path):
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "a.sources").write_text("Types: deb-src\nURIs: http://src.example/debian\nSuites: x\n\n"
                                 "Types: deb\nEnabled: no\nURIs: http://off.example/debian\nSuites: x\n")
    with pytest.raises(ImagekitError, match="no Debian/Ubuntu mirror"):
        aptsources.distro_mirror(tmp_path)


def test_this_machine_has_a_mirror():
    assert aptsources.distro_mirror().startswith(("http://", "https://"))
