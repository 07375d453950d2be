"""Line-preserving INI edits (trove-guestagent.conf style)."""
from __future__ import annotations

import pytest

from imagekit.engine import ini

CONF = """\
# controller-provided settings
[DEFAULT]
# the exchange
control_exchange = trove
debug=false
log_dir = /var/log/trove

[oslo_messaging_rabbit]
ssl = false
ssl_options = a,
    b
"""


def test_set_replaces_in_place_and_keeps_everything_else():
    out = ini.set_value(CONF, "DEFAULT", "debug", "true")
    assert out == CONF.replace("debug=false", "debug = true")


def test_set_adds_after_the_last_key_of_the_section():
    out = ini.set_value(CONF, "DEFAULT", "transport_url", "rabbit://h/")
    lines = out.splitlines()
    assert lines[lines.index("log_dir = /var/log/trove") + 1] == "transport_url = rabbit://h/"
    assert ini.get(out, "DEFAULT", "transport_url") == "rabbit://h/"


def test_set_adds_a_new_section_at_the_end_and_handles_empty_files():
    out = ini.set_value(CONF, "postgresql", "docker_image", "postgres")
    assert out.endswith("\n[postgresql]\ndocker_image = postgres\n")
    assert ini.set_value("", "DEFAULT", "a", "1") == "[DEFAULT]\na = 1\n"


def test_duplicate_keys_collapse_to_one():
    text = "[DEFAULT]\na = 1\nb = 2\na = 3\n"
    assert ini.set_value(text, "DEFAULT", "a", "9") == "[DEFAULT]\na = 9\nb = 2\n"


def test_unset_removes_the_key_and_its_continuation_lines():
    out = ini.unset_value(CONF, "oslo_messaging_rabbit", "ssl_options")
    assert "ssl_options" not in out and "    b" not in out and "ssl = false" in out
    assert ini.unset_value(CONF, "DEFAULT", "missing") == CONF
    assert ini.unset_value(CONF, "nosuch", "debug") == CONF


def test_same_key_in_another_section_is_left_alone():
    out = ini.set_value(CONF, "oslo_messaging_rabbit", "debug", "true")
    assert ini.get(out, "DEFAULT", "debug") == "false"
    assert ini.get(out, "oslo_messaging_rabbit", "debug") == "true"


def test_junk_is_a_syntax_error_with_its_line():
    with pytest.raises(ini.IniSyntaxError, match="line 2"):
        ini.parse("[DEFAULT]\nthis is not ini\n")


def test_render():
    assert ini.render({"x": {"b": [1, 2]}, "DEFAULT": {"a": True}}) == \
        "[DEFAULT]\na = true\n\n[x]\nb = 1,2\n"
