"""`imagekit make --db-image` with bad input, through the real CLI: refused
before diskimage-builder runs, one line naming the problem and the fix, no
image or log left in the output folder."""
from __future__ import annotations

import pytest

from tests.dbimage.archives import docker_archive
from tests.util import run_cli


def _make(tmp_path, *args):
    out = tmp_path / "images"
    proc = run_cli("make", "-d", "postgresql", "-I", "--output-dir", str(out), *args,
                   env={"IMAGEKIT_CACHE_DIR": str(tmp_path / "cache")}, timeout=300)
    left = sorted(p.name for p in out.iterdir()) if out.exists() else []
    return proc, left


def _one_error_line(proc) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return errors[0]


def test_a_file_that_is_not_an_image_archive(tmp_path):
    bad = tmp_path / "notes.tar"
    bad.write_text("not a tar file at all\n")
    proc, left = _make(tmp_path, "--db-image", str(bad))
    assert proc.returncode == 1, proc.stderr
    assert "not a docker-archive or OCI" in _one_error_line(proc)
    assert left == []


def test_an_archive_for_another_architecture(tmp_path):
    arc = docker_archive(tmp_path / "ppc.tar", arch="ppc64le", tags=["postgres:15"])
    proc, left = _make(tmp_path, "--db-image", str(arc))
    assert proc.returncode == 1, proc.stderr
    line = _one_error_line(proc)
    assert "ppc64le" in line and "amd64" in line
    assert left == []


def test_a_tag_that_is_not_the_datastore_version(tmp_path):
    arc = docker_archive(tmp_path / "pg16.tar", tags=["postgres:16"])
    proc, left = _make(tmp_path, "--db-image", str(arc))
    assert proc.returncode == 1, proc.stderr
    line = _one_error_line(proc)
    assert "16" in line and "15" in line
    assert "hint: " in proc.stderr
    assert left == []


@pytest.mark.parametrize("args, words", [
    (("-d", "redis"), "redis"),
    (("--style", "native"), "native"),
])
def test_a_combination_the_release_table_does_not_allow(tmp_path, args, words):
    out = tmp_path / "images"
    proc = run_cli("make", *(args if args[0] == "-d" else ("-d", "postgresql", *args)), "-I",
                   "--output-dir", str(out), timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert words in _one_error_line(proc)
    assert "2026.2" in proc.stdout + proc.stderr          # the release table is printed
    assert not out.exists() or list(out.iterdir()) == []
