"""imagekit.cloud.connect and .errors against the devcloud's real Keystone,
Nova and Trove: cloud selection, the CloudError of each failure (with the
HTTP status and the server's request id), the troveclient on the same
session, and the default devcloud's clouds.yaml as a fallback."""
from __future__ import annotations

import pytest
import yaml

from imagekit.cloud.connect import connect, search_path, trove_client
from imagekit.cloud.errors import cloud_errors
from imagekit.errors import CloudError

pytestmark = pytest.mark.slow


def _variant(devcloud, tmp_path, name="clouds.yaml", keep=None, **auth):
    data = yaml.safe_load(devcloud.clouds_yaml.read_text())
    if keep is not None:
        data["clouds"] = {k: v for k, v in data["clouds"].items() if k in keep}
    for entry in data["clouds"].values():
        entry["auth"].update(auth)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_connect_by_name_and_by_os_cloud(devcloud, monkeypatch):
    conn = connect(devcloud.cloud)
    assert conn.config.name == devcloud.cloud and conn.current_project_id
    monkeypatch.setenv("OS_CLOUD", devcloud.second_cloud)
    assert connect(None).config.name == devcloud.second_cloud


def test_the_only_cloud_is_the_default(devcloud, tmp_path, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE",
                       str(_variant(devcloud, tmp_path, keep=[devcloud.second_cloud])))
    assert connect(None).config.name == devcloud.second_cloud


def test_several_clouds_and_none_selected(devcloud, monkeypatch):
    monkeypatch.delenv("OS_CLOUD", raising=False)
    with pytest.raises(CloudError, match=f"no cloud selected \\({devcloud.clouds_yaml} defines "
                                         f"{devcloud.cloud}, {devcloud.second_cloud}\\)"):
        connect(None)


def test_unknown_cloud(devcloud):
    with pytest.raises(CloudError) as err:
        connect("nosuch")
    msg = str(err.value)
    assert msg.startswith(f"unknown cloud 'nosuch' (known clouds: {devcloud.cloud}, "
                          f"{devcloud.second_cloud}; read {devcloud.clouds_yaml}")
    assert err.value.exit_code == 3 and "imagekit devcloud up" in err.value.hint


def test_no_clouds_yaml_anywhere_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "none.yaml"))
    monkeypatch.setenv("IMAGEKIT_DEVCLOUD_DIR", str(tmp_path / "no-devcloud"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CloudError, match="unknown cloud 'x' .*no clouds.yaml found in "
                                         f"{tmp_path / 'none.yaml'}, "):
        connect("x")
    assert str(tmp_path / "none.yaml") == str(search_path()[0])


def test_bad_credentials_carry_status_and_request_id(devcloud, tmp_path, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE",
                       str(_variant(devcloud, tmp_path, password="not-the-password")))
    with pytest.raises(CloudError) as err:
        connect(devcloud.cloud)
    assert err.value.status == 401
    assert err.value.request_id and err.value.request_id.startswith("req-")
    assert err.value.request_id in devcloud.layout.log("keystone").read_text()
    assert f"(HTTP 401, request {err.value.request_id})" in str(err.value)


def test_unreachable_keystone(devcloud, tmp_path, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE",
                       str(_variant(devcloud, tmp_path, auth_url="http://127.0.0.1:9/v3")))
    with pytest.raises(CloudError, match=r"cannot reach Keystone at http://127.0.0.1:9/v3"):
        connect(devcloud.cloud)


def test_cloud_errors_maps_sdk_and_trove_errors(devcloud):
    conn = devcloud.connect()
    with pytest.raises(CloudError) as err:
        with cloud_errors("reading flavor x", devcloud.cloud):
            conn.compute.get_flavor("no-such-flavor")
    assert err.value.status == 404 and err.value.request_id.startswith("req-")
    assert str(err.value).startswith(f"reading flavor x in cloud '{devcloud.cloud}': ")
    tc = trove_client(conn)
    with pytest.raises(CloudError) as err:
        with cloud_errors("reading a datastore"):
            tc.datastores.get("no-such-datastore")
    assert err.value.status == 404 and err.value.request_id


def test_trove_client_shares_the_session(devcloud):
    conn = devcloud.connect()
    tc = trove_client(conn)
    assert tc.client.session is conn.session
    assert hasattr(tc, "mgmt_ds_versions")
    assert isinstance(list(tc.mgmt_ds_versions.list()), list)


def test_the_default_devcloud_clouds_yaml_is_a_fallback(devcloud, tmp_path, monkeypatch):
    """--os-cloud devcloud works without OS_CLIENT_CONFIG_FILE when the user's
    clouds.yaml does not define it."""
    other = _variant(devcloud, tmp_path, name="user-clouds.yaml", keep=[devcloud.second_cloud])
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(other))
    monkeypatch.setenv("IMAGEKIT_DEVCLOUD_DIR", str(devcloud.layout.state_dir))
    assert connect(devcloud.cloud).config.name == devcloud.cloud
    monkeypatch.setenv("IMAGEKIT_DEVCLOUD_DIR", str(tmp_path / "no-devcloud"))
    with pytest.raises(CloudError, match="unknown cloud"):
        connect(devcloud.cloud)
