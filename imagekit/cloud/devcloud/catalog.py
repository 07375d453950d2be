"""Keystone contents of a devcloud, made idempotently through openstacksdk
(imagekit's own venv) as the bootstrap admin: the `service` project, the
glance, nova and trove users (roles admin and service there), the image,
compute and database services with their endpoints (URLs corrected when ports
change), and a second project with its own admin user — the second cloud of
"one golden image to two clouds". Then the clouds.yaml naming both."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import yaml

from imagekit.cloud.devcloud.services import REGION, SERVICE_PROJECT, SERVICES, Context

INTERFACES = ("public", "internal")
SECOND_PROJECT = "second"
SECOND_USER = "second-admin"


@dataclass(frozen=True)
class CloudEntry:
    name: str
    username: str
    project: str


def clouds(cloud_name: str) -> tuple[CloudEntry, CloudEntry]:
    """The two clouds a devcloud defines: the admin project, and a second
    project with its own user in the same Keystone."""
    return (CloudEntry(cloud_name, "admin", "admin"),
            CloudEntry(f"{cloud_name}-second", SECOND_USER, SECOND_PROJECT))


def admin_connection(ctx: Context, password: str | None = None) -> Any:
    """The bootstrap admin, always talking to this devcloud's Keystone (the
    catalog's identity URL may still name an old port)."""
    import openstack
    return openstack.connect(
        auth_url=ctx.endpoint("keystone"), username="admin", password=password or ctx.password,
        project_name="admin", user_domain_name="Default", project_domain_name="Default",
        region_name=REGION, identity_api_version="3", interface="public",
        identity_endpoint_override=ctx.endpoint("keystone"),
        load_yaml_config=False, load_envvars=False, app_name="imagekit-devcloud")


def _ensure(existing: dict[str, Any], name: str, create: Any) -> Any:
    if name not in existing:
        existing[name] = create()
    return existing[name]


def register(ctx: Context, login_password: str | None = None) -> None:
    """Few requests on purpose (one list per kind, then only the creations):
    each costs 0.1-0.3 s on a busy 2-core machine. With login_password (the
    init snapshot's admin password), log in with it and set ctx.password."""
    from keystoneauth1 import exceptions as ksa
    conn = admin_connection(ctx, login_password)
    try:
        conn.session.get_token()
    except ksa.Unauthorized:
        if not login_password:
            raise
        conn.close()                    # changed already by an interrupted earlier run
        conn, login_password = admin_connection(ctx), None
    try:
        idc = conn.identity
        roles = {r.name: r for r in idc.roles()}
        projects = {p.name: p for p in idc.projects(domain_id="default")}
        users = {u.name: u for u in idc.users(domain_id="default")}
        admin = roles["admin"]

        def project(name: str) -> Any:
            return _ensure(projects, name, lambda: idc.create_project(
                name=name, domain_id="default", description="imagekit devcloud"))

        def user(name: str, proj: Any) -> Any:
            if name in users:
                return users[name]
            users[name] = idc.create_user(name=name, password=ctx.password, domain_id="default",
                                          default_project_id=proj.id)
            idc.assign_project_role_to_user(proj, users[name], admin)
            return users[name]

        service = project(SERVICE_PROJECT)
        for name in ("glance", "nova", "trove"):
            user(name, service)
        user(SECOND_USER, project(SECOND_PROJECT))

        svcs = {s.type: s for s in idc.services()}
        eps = list(idc.endpoints())
        for name, svc in SERVICES.items():
            url = ctx.endpoint(name)
            entry = _ensure(svcs, svc.catalog_type, lambda n=name, t=svc.catalog_type:
                            idc.create_service(name=n, type=t, enabled=True))
            mine = [e for e in eps if e.service_id == entry.id]
            for ep in mine:
                if ep.url != url:
                    idc.update_endpoint(ep, url=url)
            for iface in set(INTERFACES) - {e.interface for e in mine}:
                idc.create_endpoint(service_id=entry.id, interface=iface, url=url,
                                    region_id=REGION)
        if login_password and login_password != ctx.password:
            idc.update_user(users["admin"], password=ctx.password)
            _past_the_revocation_second()
    finally:
        conn.close()


def _past_the_revocation_second() -> None:
    """A password change revokes the user's tokens issued up to now, and a
    Fernet token's issue time has whole seconds: a token issued later in
    this same second would count as revoked (401 on its next use, from
    Keystone or from Glance's token check). Wait for the next second."""
    now = time.time()
    time.sleep(math.floor(now) + 1.05 - now)


def write_clouds_yaml(ctx: Context, cloud_name: str) -> None:
    entries = {}
    for c in clouds(cloud_name):
        entries[c.name] = {
            "auth": {"auth_url": ctx.endpoint("keystone"), "username": c.username,
                     "password": ctx.password, "project_name": c.project,
                     "user_domain_name": "Default", "project_domain_name": "Default"},
            "region_name": REGION, "interface": "public", "identity_api_version": 3,
        }
    path = ctx.layout.clouds_yaml
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# Written by 'imagekit devcloud up' (a local test cloud; rewritten on every "
                "start).\n")
        yaml.safe_dump({"clouds": entries}, f, sort_keys=False)
    os.replace(tmp, path)
