"""Names imagekit gives to what it uploads and registers (pure, fast)."""
from __future__ import annotations

import datetime as dt

import pytest

from imagekit.cloud import naming
from imagekit.errors import UsageError

DAY = dt.date(2017, 11, 22)


@pytest.mark.parametrize("given, short", [
    ("9.5", "9.5"), ("9.5.3", "9.5"), ("1.2.7", "1.2"), ("15", "15"), ("10.11.14", "10.11"),
    (" 8.4 ", "8.4"),
])
def test_short_version_keeps_x_y(given, short):
    assert naming.short_version(given) == short


@pytest.mark.parametrize("bad", ["", "latest version", "9..5", "-1", "8.4/x"])
def test_short_version_refuses_non_versions(bad):
    with pytest.raises(UsageError) as exc:
        naming.short_version(bad)
    assert exc.value.hint


def test_glance_names_follow_the_original():
    # the examples of the original tool's behaviour notes (section 8.3)
    assert naming.image_name("redis", "3.2.8", "community", "-dib", DAY) == "redis-3.2-c-dib-2017-11-22"
    assert naming.image_name("postgresql", "9.5", None, "-dib", DAY) == "postgresql-9.5-dib-2017-11-22"
    assert naming.image_name("mongodb", "3.4", "enterprise", "-dib", DAY) == \
        "mongodb-3.4-e-dib-2017-11-22"
    assert naming.image_name("mysql", "8.4", None, "", DAY) == "mysql-8.4-2017-11-22"
    assert naming.image_name("mysql", "8.4", None, "-ops", DAY) == "mysql-8.4-ops-2017-11-22"


def test_image_name_defaults_to_today():
    assert naming.image_name("postgresql", "15").endswith(dt.date.today().isoformat())


def test_source_tag_from_the_environment():
    assert naming.source_tag({}) == "-dib"
    assert naming.source_tag({"DBIMAGE_SOURCE": "-lab"}) == "-lab"
    assert naming.source_tag({"DBIMAGE_SOURCE": ""}) == ""
    with pytest.raises(UsageError):
        naming.source_tag({"DBIMAGE_SOURCE": "-a b/c"})


def test_tags_and_trove_names():
    assert naming.image_tags("postgresql", "15.4.1") == ("trove", "postgresql", "15.4")
    assert naming.datastore_version_name("10.11.9") == "10.11"
    assert naming.image_prefix("mariadb", "10.11", "community") == "mariadb-10.11-c-dib"


def test_bad_edition_and_database():
    with pytest.raises(UsageError):
        naming.edition_suffix("premium")
    with pytest.raises(UsageError):
        naming.image_name("Bad DB", "1.0")
