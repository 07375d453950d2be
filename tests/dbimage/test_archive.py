"""Operator-supplied image archives (--db-image FILE) and registry references
(--db-image REF): validation, architecture, version tags, retagging, OCI ->
docker-archive. Small archives made in the test; real skopeo/umoci."""
from __future__ import annotations

import json
import tarfile

import pytest

from imagekit import dbimage
from imagekit.dbimage import archive, cache
from imagekit.dbimage.model import DbImage
from imagekit.errors import DbImageError
from tests.dbimage.archives import docker_archive, oci_archive, read_docker_archive


def test_not_a_tar_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("not an image\n")
    with pytest.raises(DbImageError) as e:
        dbimage.resolve(str(f), db="postgresql", version="15", cache_root=tmp_path / "c")
    assert f"{f} is not a docker-archive or OCI image archive" in e.value.message
    assert e.value.hint


def test_tar_without_image_metadata(tmp_path):
    f = tmp_path / "files.tar"
    src = tmp_path / "a.txt"
    src.write_text("x")
    with tarfile.open(f, "w") as t:
        t.add(src, arcname="a.txt")
    with pytest.raises(DbImageError, match="is not a docker-archive or OCI image archive"):
        archive.inspect(f)


def test_missing_file(tmp_path):
    with pytest.raises(DbImageError, match="no such file"):
        dbimage.resolve(str(tmp_path / "nope.tar"), db="postgresql", version="15",
                        cache_root=tmp_path / "c")


def test_detects_docker_archive_and_oci(tmp_path):
    d = archive.inspect(docker_archive(tmp_path / "d.tar", tags=["postgres:15"]))
    assert d.kind == archive.DOCKER
    assert d.images[0].arch == "amd64" and d.images[0].tags == ("postgres:15",)
    assert d.images[0].digest.startswith("sha256:")
    o = archive.inspect(oci_archive(tmp_path / "o.tar", tmp_path, arch="ppc64le", tag="15"))
    assert o.kind == archive.OCI
    assert o.images[0].arch == "ppc64le" and o.images[0].tags == ("15",)


def test_wrong_architecture_names_both(tmp_path):
    f = docker_archive(tmp_path / "d.tar", arch="ppc64le", tags=["postgres:15"])
    with pytest.raises(DbImageError) as e:
        dbimage.resolve(str(f), db="postgresql", version="15", arch="amd64",
                        cache_root=tmp_path / "c")
    assert "ppc64le" in e.value.message and "amd64" in e.value.message


def test_debian_arch_name_matches_oci_name(tmp_path):
    f = docker_archive(tmp_path / "d.tar", arch="ppc64le", tags=["postgres:15"])
    img = dbimage.resolve(str(f), db="postgresql", version="15", arch="ppc64el",
                          cache_root=tmp_path / "c")
    assert img.arch == "ppc64le"


def test_wrong_version_tag_is_refused(tmp_path):
    f = docker_archive(tmp_path / "d.tar", tags=["postgres:16"])
    with pytest.raises(DbImageError) as e:
        dbimage.resolve(str(f), db="postgresql", version="15", cache_root=tmp_path / "c")
    assert "postgres:16" in e.value.message and "15" in e.value.message
    assert "15" in e.value.hint


@pytest.mark.parametrize("tags", [["postgres:15"], ["mirror.example:5000/x/postgres:15.8"],
                                  ["pg:15-bookworm", "pg:latest"], []])
def test_retag_docker_archive(tmp_path, tags):
    f = docker_archive(tmp_path / "d.tar", tags=tags)
    img = dbimage.resolve(str(f), db="postgresql", version="15",
                          image_name="quay.io/openstack.trove/postgres", cache_root=tmp_path / "c")
    assert img.ref == "quay.io/openstack.trove/postgres:15"
    manifest, config = read_docker_archive(img.archive)
    assert manifest[0]["RepoTags"] == ["quay.io/openstack.trove/postgres:15"]
    assert config["architecture"] == "amd64"
    assert img.size == img.archive.stat().st_size
    assert img.source == f"file: {f.resolve()}"
    # the source archive is untouched
    assert read_docker_archive(f)[0][0]["RepoTags"] == tags
    # a second request is served from the cache
    again = dbimage.resolve(str(f), db="postgresql", version="15",
                            image_name="quay.io/openstack.trove/postgres", cache_root=tmp_path / "c")
    assert again == img


def test_oci_archive_becomes_docker_archive(tmp_path):
    f = oci_archive(tmp_path / "o.tar", tmp_path, tag="10.11")
    img = dbimage.resolve(str(f), db="mariadb", version="10.11", cache_root=tmp_path / "c")
    assert img.ref == "mariadb:10.11"
    manifest, config = read_docker_archive(img.archive)
    assert manifest[0]["RepoTags"] == ["mariadb:10.11"]
    assert config["architecture"] == "amd64"
    assert config["config"]["Cmd"] == ["true"]
    assert archive.inspect(img.archive).kind == archive.DOCKER


def test_registry_unreachable_is_one_line_naming_distro(tmp_path):
    # a closed local port: refused at once, like an unreachable registry
    with pytest.raises(DbImageError) as e:
        dbimage.resolve("127.0.0.1:9/library/postgres:15", db="postgresql", version="15",
                        cache_root=tmp_path / "c")
    assert "\n" not in e.value.message
    assert "--db-image distro" in e.value.message


def test_registry_tag_of_other_version_is_refused(tmp_path):
    with pytest.raises(DbImageError, match="not tagged for datastore version 15"):
        dbimage.resolve("docker.io/library/postgres:16", db="postgresql", version="15",
                        cache_root=tmp_path / "c")


def test_no_recipe_for_mysql_says_why(tmp_path):
    with pytest.raises(DbImageError) as e:
        dbimage.build_distro("mysql", "8.0", cache_root=tmp_path / "c")
    assert "mariadb" in e.value.hint


def test_no_recipe_for_version(tmp_path):
    with pytest.raises(DbImageError, match="no distro image recipe for postgresql 9.6"):
        dbimage.build_distro("postgresql", "9.6", cache_root=tmp_path / "c")


def test_dbimage_json_round_trip(tmp_path):
    img = DbImage(ref="postgres:15", archive=tmp_path / "a.tar", digest="sha256:00",
                  source="distro: debian bookworm postgresql-15 15.1", arch="amd64", size=3)
    assert DbImage.from_json(json.loads(json.dumps(img.to_json()))) == img


def test_cache_entry_needs_complete_archive(tmp_path):
    root = tmp_path / "c"
    key = cache.make_key({"a": 1})
    d = cache.entry_dir(root, key)
    d.mkdir(parents=True)
    (d / "x.tar").write_bytes(b"abc")
    img = DbImage(ref="postgres:15", archive=d / "x.tar", digest="sha256:00", source="s",
                  arch="amd64", size=3)
    cache.store(root, key, img)
    assert cache.lookup(root, key) == img
    (d / "x.tar").write_bytes(b"ab")           # truncated: not a hit
    assert cache.lookup(root, key) is None
    assert cache.make_key({"a": 1}) != cache.make_key({"a": 2})
