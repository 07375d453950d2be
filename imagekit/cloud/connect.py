"""Connections to clouds, by name, from clouds.yaml — the way every OpenStack
tool does it (`--os-cloud NAME`, else OS_CLOUD, else the only cloud defined,
else OS_* variables). Raw credentials never come from imagekit's command line.

`connect()` authenticates once up front, so a wrong cloud name, wrong
credentials or an unreachable Keystone fail here with one clear line instead
of in the middle of an upload. `trove_client()` gives a python-troveclient v1
client on the same keystoneauth session (one token for both).

Besides the usual clouds.yaml locations, the clouds.yaml of the default local
test cloud (`imagekit devcloud up`) is read when the name asked for is not
found in the usual file, so `--os-cloud devcloud` works without exporting
OS_CLIENT_CONFIG_FILE."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagekit import ui
from imagekit.cloud.errors import cloud_errors, translate
from imagekit.errors import CloudError

if TYPE_CHECKING:
    import openstack.connection
    from troveclient.v1.client import Client as TroveClient

APP_NAME = "imagekit"


def selected_cloud(cloud: str | None) -> str | None:
    """The cloud name in effect: the argument, else OS_CLOUD, else None."""
    return cloud or os.environ.get("OS_CLOUD") or None


def search_path() -> list[Path]:
    """Where clouds.yaml is looked for, in order (openstacksdk's list, with
    OS_CLIENT_CONFIG_FILE first), then the default devcloud's clouds.yaml."""
    from openstack.config import loader
    files = [Path(p) for p in loader.CONFIG_FILES]
    override = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if override:
        files.insert(0, Path(override))
    return list(dict.fromkeys(files))


def devcloud_clouds_yaml() -> Path:
    from imagekit.cloud.devcloud.layout import default_state_dir
    return default_state_dir() / "clouds.yaml"


def _load(files: list[Path] | None) -> Any:
    """openstacksdk's config: the usual search (None), or exactly `files`
    (then OS_CLIENT_CONFIG_FILE, secure.yaml and OS_* variables are ignored)."""
    from openstack import config
    from openstack import exceptions as sdk
    try:
        if files is None:
            return config.OpenStackConfig(app_name=APP_NAME)
        return config.OpenStackConfig(config_files=[str(f) for f in files], secure_files=[],
                                      load_envvars=False, app_name=APP_NAME)
    except sdk.ConfigException as exc:
        raise CloudError(f"cannot read clouds.yaml: {exc}",
                         "fix the YAML of the file named above") from exc


def _unknown_cloud(name: str, cfg: Any) -> CloudError:
    known = [c for c in cfg.get_cloud_names() if c not in ("defaults", "envvars")]
    looked = [p for p in search_path() if p.suffix == ".yaml"]
    if cfg.config_filename:
        where = f"read {cfg.config_filename}"
    else:
        where = "no clouds.yaml found in " + ", ".join(str(p) for p in looked)
    dev = devcloud_clouds_yaml()
    if dev.exists() and str(dev) != str(cfg.config_filename):
        where += f" and {dev}"
    names = ", ".join(known) if known else "none"
    return CloudError(f"unknown cloud '{name}' (known clouds: {names}; {where})",
                      "pass --os-cloud with one of the known names, set OS_CLIENT_CONFIG_FILE "
                      "to the clouds.yaml that defines it, or run 'imagekit devcloud up' for a "
                      "local test cloud")


def _quiet_client_logs() -> None:
    """keystoneauth and openstacksdk log warnings (version discovery...) that
    would reach stderr through logging's last-resort handler; errors reach
    the user as CloudError instead."""
    for name in ("keystoneauth", "openstack", "troveclient"):
        log = logging.getLogger(name)
        if not log.handlers:
            log.addHandler(logging.NullHandler())


def cloud_region(cloud: str | None = None) -> Any:
    """The resolved openstack.config CloudRegion for a cloud name (no network).
    `region.config["imagekit_config_file"]` names the clouds.yaml it came from."""
    _quiet_client_logs()
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as sdk
    name = selected_cloud(cloud)
    cfg = _load(None)
    if name and name not in cfg.get_cloud_names():
        dev = devcloud_clouds_yaml()
        if dev.exists() and str(dev) != str(cfg.config_filename):
            alt = _load([dev])
            if name in alt.get_cloud_names():
                cfg = alt
    if name and name not in cfg.get_cloud_names():
        raise _unknown_cloud(name, cfg)
    defined = [c for c in cfg.get_cloud_names() if c not in ("defaults", "envvars")]
    if not name and not cfg.default_cloud and len(defined) > 1:
        raise CloudError(f"no cloud selected ({cfg.config_filename} defines "
                         f"{', '.join(defined)})",
                         "pass --os-cloud NAME or set OS_CLOUD to one of them")
    if not name and not [c for c in cfg.get_cloud_names() if c != "defaults"]:
        hint = "pass --os-cloud NAME (a cloud in clouds.yaml) or set OS_CLOUD"
        if os.environ.get("DBIMAGE_CONTROLLER_IP"):
            hint += ("; DBIMAGE_CONTROLLER_IP only names the controller for trove-manage: "
                     "describe its cloud in clouds.yaml")
        raise CloudError("no cloud selected and no clouds.yaml found", hint)
    try:
        region = cfg.get_one(cloud=name)
        region.config["imagekit_config_file"] = cfg.config_filename
        return region
    except (sdk.ConfigException, ksa.ClientException) as exc:
        raise CloudError(f"cloud '{name or cfg.default_cloud}' is not usable: {exc}",
                         f"fix its entry in {cfg.config_filename or 'clouds.yaml'}") from exc


def _auth_url(region: Any) -> str:
    return str((region.config.get("auth") or {}).get("auth_url") or "the auth_url")


def connect(cloud: str | None = None, *, authorize: bool = True) -> openstack.connection.Connection:
    """An openstacksdk Connection to `cloud` (None: OS_CLOUD, else the only
    cloud in clouds.yaml, else OS_* variables). With `authorize`, a token is
    fetched now, so bad credentials or an unreachable Keystone raise
    CloudError here (with the HTTP status and the request id)."""
    import openstack.connection
    from keystoneauth1 import exceptions as ksa

    region = cloud_region(cloud)
    name = region.name
    conn = openstack.connection.Connection(config=region)
    if authorize:
        with ui.step(f"connecting to cloud '{name}'") as step:
            try:
                conn.session.get_token()
            except ksa.ConnectionError as exc:
                raise CloudError(
                    f"cloud '{name}': cannot reach Keystone at {_auth_url(region)} "
                    f"({type(exc).__name__})",
                    "check auth_url in clouds.yaml and that the cloud is up (for the local "
                    "test cloud: imagekit devcloud status)") from exc
            except ksa.Unauthorized as exc:
                user = (region.config.get("auth") or {}).get("username") or "?"
                raise CloudError(
                    f"cloud '{name}': Keystone at {_auth_url(region)} refused the credentials "
                    f"of user '{user}'",
                    "check username, password, project and domain names of this cloud in "
                    f"{region.config.get('imagekit_config_file') or 'clouds.yaml'}",
                    status=getattr(exc, "http_status", 401),
                    request_id=getattr(exc, "request_id", None)) from exc
            except ksa.MissingRequiredOptions as exc:
                raise CloudError(f"cloud '{name}': incomplete auth settings: {exc}",
                                 "complete the auth section of this cloud in clouds.yaml") from exc
            except Exception as exc:
                mapped = translate(exc, "authenticating", name)
                if mapped is not None:
                    raise mapped from exc
                raise
            step["note"] = f"{_auth_url(region)} as {conn.current_project_id or '?'}"
    return conn


def trove_client(conn: openstack.connection.Connection) -> TroveClient:
    """A python-troveclient v1 client on `conn`'s keystoneauth session.
    Its management of datastore versions is `.mgmt_ds_versions`
    (create/edit/list/delete; `active`/`default` are the strings "true"/"false");
    `.datastores`, `.datastore_versions` read them back."""
    from troveclient import client as trove

    region = conn.config
    name = region.name
    with cloud_errors("connecting to Trove", name):
        return trove.Client("1.0", session=conn.session,
                            region_name=region.get_region_name("database"),
                            interface=region.get_interface("database") or "public",
                            service_type="database")
