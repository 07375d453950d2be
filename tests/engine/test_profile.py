"""Cloud profiles: YAML or a controller's trove-guestagent.conf; per-instance
values refused."""
from __future__ import annotations

import pytest

from imagekit.engine import ini, load_profile
from imagekit.errors import PlanError
from tests.engine.conftest import CA_PEM, PROFILE_YAML


def test_yaml_profile(profile_file):
    p = load_profile(profile_file)
    assert p.name == "cloud-a" and p.guest_user == "ubuntu" and p.ca_name == "cloud-a-ca"
    assert p.datasources == ("ConfigDrive", "OpenStack")
    assert p.ca_bundle == CA_PEM
    text = p.agent_conf.decode()
    assert ini.get(text, "DEFAULT", "transport_url") == "rabbit://trove:s3cret@192.0.2.10:5672/"
    assert ini.get(text, "DEFAULT", "debug") == "true"
    assert ini.get(text, "oslo_messaging_rabbit", "ssl") == "true"
    assert "s3cret" not in str(p.summary())               # manifests keep hashes only
    assert load_profile(profile_file).sha256() == p.sha256()


def test_controller_conf_is_used_verbatim(tmp_path):
    conf = "[DEFAULT]\n# from the controller\ncontrol_exchange = trove\n"
    f = tmp_path / "trove-guestagent.conf"
    f.write_text(conf)
    p = load_profile(f)
    assert p.agent_conf == conf.encode() and p.name == "trove-guestagent"
    assert p.datasources == ("ConfigDrive", "OpenStack") and p.guest_user is None


@pytest.mark.parametrize("key", ["guest_id", "tenant_id", "instance_rpc_encr_key"])
def test_per_instance_values_are_refused(tmp_path, key):
    f = tmp_path / "trove-guestagent.conf"
    f.write_text(f"[DEFAULT]\ncontrol_exchange = trove\n{key} = 1234\n")
    with pytest.raises(PlanError, match=f"{key} is a per-instance value"):
        load_profile(f)
    y = tmp_path / "p.yaml"
    y.write_text(f"guest_agent:\n  DEFAULT:\n    {key}: x\n")
    with pytest.raises(PlanError, match="per-instance"):
        load_profile(y)


@pytest.mark.parametrize("edit,needle", [
    (lambda t: t.replace("ca_bundle: ca.pem", "ca_bundle: notpem.txt"), "holds no PEM certificate"),
    (lambda t: t + "colour: red\n", "unknown key(s) colour"),
    (lambda t: t + "guest_agent_conf: x.conf\n", "exactly one of guest_agent"),
    (lambda t: t.replace("[ConfigDrive, OpenStack]", "[Config Drive]"), "bad cloud-init datasource"),
    (lambda t: t.replace("ca_bundle: ca.pem", "ca_bundle: missing.pem"), "cannot read"),
])
def test_bad_profiles(tmp_path, edit, needle):
    (tmp_path / "ca.pem").write_bytes(CA_PEM)
    (tmp_path / "notpem.txt").write_text("hello\n")
    f = tmp_path / "p.yaml"
    f.write_text(edit(PROFILE_YAML))
    with pytest.raises(PlanError) as err:
        load_profile(f)
    assert needle in err.value.message


def test_datasources_as_string_and_left_alone(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("guest_agent: {DEFAULT: {a: 1}}\ndatasources: 'OpenStack, ConfigDrive'\n")
    assert load_profile(f).datasources == ("OpenStack", "ConfigDrive")
    f.write_text("guest_agent: {DEFAULT: {a: 1}}\ndatasources: null\n")
    assert load_profile(f).datasources is None
