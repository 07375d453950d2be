"""The four services of a devcloud: what each one serves, how it finds its
config, how its database is initialised, and its rendered config files
(templates/ in this package)."""
from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from imagekit.cloud.devcloud import bus as bus_mod
from imagekit.cloud.devcloud.layout import Layout, Ports
from imagekit.errors import ImagekitError

REGION = "RegionOne"
SERVICE_PROJECT = "service"
SHIM_MODULE = "imagekit_devcloud_wsgi"
DAEMON_SHIM = "imagekit_devcloud_daemon.py"
COMPUTE_MODULE = "imagekit_devcloud_compute"
# The guest ports the local compute forwards to 127.0.0.1 (databases, ssh).
FORWARDED_PORTS = (5432, 3306, 22)
USAGE_TIMEOUT = 1800        # s: guests boot under emulation here


@dataclass(frozen=True)
class Service:
    name: str
    app: str                   # the WSGI application, "module:attribute"
    prog: str                  # argv[0] the service sees
    conf: str                  # rendered config file, in conf/<name>/
    paste: str | None          # paste .ini copied from the venv's etc/<name>/
    catalog_type: str          # Keystone catalog service type
    url_path: str              # endpoint URL after host:port
    health_path: str = "/"     # answers without a token once the app is loaded


SERVICES: dict[str, Service] = {s.name: s for s in (
    Service("keystone", "keystone.wsgi.api:application", "keystone-wsgi-public",
            "keystone.conf", None, "identity", "/v3"),
    Service("glance", "glance.wsgi.api:application", "glance-api",
            "glance-api.conf", "glance-api-paste.ini", "image", ""),
    Service("nova", "nova.wsgi.osapi_compute:application", "nova-api-os-compute",
            "nova.conf", "api-paste.ini", "compute", "/v2.1"),
    Service("trove", "trove.cmd.app_wsgi:application", "trove-api",
            "trove.conf", "api-paste.ini", "database", "/v1.0/$(project_id)s"),
)}


@dataclass(frozen=True)
class Daemon:
    name: str
    program: str               # console script in the venv


DAEMONS: dict[str, Daemon] = {d.name: d for d in (
    Daemon("conductor", "trove-conductor"),
    Daemon("taskmanager", "trove-taskmanager"),
)}


@dataclass(frozen=True)
class Context:
    """Everything the configs and commands are made from."""
    layout: Layout
    ports: Ports
    password: str
    dist_port: int = 0          # the bus's Erlang distribution and epmd ports
    epmd_port: int = 0
    accel: str = "tcg"          # the local compute's qemu accelerator

    @property
    def bus(self) -> bus_mod.Bus:
        return bus_mod.Bus(self.layout, self.ports.rabbitmq, self.dist_port, self.epmd_port,
                           self.password)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports.of(service)}"

    def endpoint(self, service: str) -> str:
        return self.url(service) + SERVICES[service].url_path

    def conf_dir(self, service: str) -> Path:
        return self.layout.conf / service

    def conf_file(self, service: str) -> Path:
        return self.conf_dir(service) / SERVICES[service].conf


def _template(name: str) -> str:
    return (resources.files("imagekit.cloud.devcloud") / "templates" / name).read_text()


def render(ctx: Context) -> None:
    """Write every service's config (and the WSGI shim) into conf/."""
    lay = ctx.layout
    lay.make_dirs()
    for sub in ("glance/images", "glance/staging", "glance/tasks", "nova/locks"):
        (lay.data / sub).mkdir(parents=True, exist_ok=True)
    here = resources.files("imagekit.cloud.devcloud")
    for src, dst in (("wsgi_shim.py", f"{SHIM_MODULE}.py"), ("daemon_shim.py", DAEMON_SHIM),
                     ("compute_hook.py", f"{COMPUTE_MODULE}.py")):
        (lay.conf / dst).write_text((here / src).read_text())
    _write_compute_settings(ctx)
    bus_mod.render(ctx.bus)
    for svc in SERVICES.values():
        values = {"data": str(lay.data), "conf": str(lay.conf), "password": ctx.password,
                  "keystone_url": ctx.url("keystone"), "region": REGION,
                  "service_user": svc.name, "transport_url": ctx.bus.url(),
                  "guest_transport_url": ctx.bus.guest_url, "debug": "true",
                  "usage_timeout": str(USAGE_TIMEOUT)}
        values["authtoken"] = Template(_template("authtoken.inc")).substitute(values)
        d = ctx.conf_dir(svc.name)
        d.mkdir(parents=True, exist_ok=True)
        target = ctx.conf_file(svc.name)
        target.write_text(Template(_template(svc.conf)).substitute(values))
        target.chmod(0o600)
        if svc.name == "trove":
            guest = d / "trove-guestagent.conf"
            guest.write_text(Template(_template("trove-guestagent.conf")).substitute(values))
            guest.chmod(0o600)
            (d / "cloudinit").mkdir(exist_ok=True)
        if svc.paste:
            src = lay.venv / "etc" / svc.name / svc.paste
            if not src.exists():
                raise ImagekitError(f"{src} is missing from the devcloud venv",
                                    f"remove {lay.venv} and run 'imagekit devcloud up' again")
            shutil.copyfile(src, d / svc.paste)


def compute_settings_file(ctx: Context) -> Path:
    return ctx.layout.conf / "compute.json"


def _write_compute_settings(ctx: Context) -> None:
    lay = ctx.layout
    data = {"servers_dir": str(lay.compute), "glance_store": str(lay.data / "glance" / "images"),
            "accel": ctx.accel, "forward": list(FORWARDED_PORTS),
            "qemu_img": shutil.which("qemu-img") or "qemu-img",
            "qemu_x86_64": shutil.which("qemu-system-x86_64") or "qemu-system-x86_64",
            "qemu_ppc64": shutil.which("qemu-system-ppc64") or "qemu-system-ppc64",
            "genisoimage": shutil.which("genisoimage") or "genisoimage"}
    compute_settings_file(ctx).write_text(json.dumps(data, indent=2))


def daemon_env(ctx: Context) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "IMAGEKIT_", "PYTHON"))}
    env.update({"PYTHONPATH": str(ctx.layout.conf),
                "IMAGEKIT_DEVCLOUD_COMPUTE": str(compute_settings_file(ctx))})
    return env


def daemon_argv(ctx: Context, name: str) -> list[str]:
    lay = ctx.layout
    return [str(lay.bin("python")), str(lay.conf / DAEMON_SHIM), lay.process_name(name),
            DAEMONS[name].program, "--config-file", str(ctx.conf_file("trove"))]


def wsgi_env(ctx: Context, name: str) -> dict[str, str]:
    """The environment a service's gunicorn runs with."""
    conf = ctx.conf_file(name)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OS_", "IMAGEKIT_", "PYTHON"))}
    env.update({"IMAGEKIT_DEVCLOUD_APP": SERVICES[name].app,
                "IMAGEKIT_DEVCLOUD_PROG": SERVICES[name].prog,
                "IMAGEKIT_DEVCLOUD_ARGV": "[]",
                "NO_EVENTLET_MONKEYPATCH": "1"})
    if name == "keystone":
        env["OS_KEYSTONE_CONFIG_FILES"] = str(conf)
    elif name == "glance":
        env["OS_GLANCE_CONFIG_DIR"] = str(conf.parent)
    elif name == "nova":
        env["OS_NOVA_CONFIG_DIR"] = str(conf.parent)
    elif name == "trove":
        env["IMAGEKIT_DEVCLOUD_ARGV"] = json.dumps(["--config-file", str(conf)])
        env["IMAGEKIT_DEVCLOUD_COMPUTE"] = str(compute_settings_file(ctx))
        env["PYTHONPATH"] = str(ctx.layout.conf)   # trove-manage imports the compute hook too
    return env


def init_commands(ctx: Context, name: str) -> list[list[str]]:
    """The commands that create a service's database (and Keystone's keys
    and admin) on an empty state folder."""
    lay, conf = ctx.layout, str(ctx.conf_file(name))
    if name == "keystone":
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        manage = [str(lay.bin("keystone-manage")), "--config-file", conf]
        url = ctx.endpoint("keystone")
        return [[*manage, "db_sync"],
                [*manage, "fernet_setup", "--keystone-user", user, "--keystone-group", group],
                [*manage, "credential_setup", "--keystone-user", user, "--keystone-group", group],
                [*manage, "bootstrap", "--bootstrap-password", ctx.password,
                 "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
                 "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
                 "--bootstrap-region-id", REGION, "--bootstrap-admin-url", url,
                 "--bootstrap-public-url", url, "--bootstrap-internal-url", url]]
    if name == "glance":
        return [[str(lay.bin("glance-manage")), "--config-file", conf, "db_sync"]]
    if name == "nova":
        manage = [str(lay.bin("nova-manage")), "--config-file", conf]
        return [[*manage, "api_db", "sync"], [*manage, "db", "sync"]]
    if name == "trove":
        return [[str(lay.bin("trove-manage")), "--config-file", conf, "db_sync"]]
    raise KeyError(name)


def gunicorn_argv(ctx: Context, name: str, *, threads: int = 1) -> list[str]:
    """One master and one worker; one thread, because sqlite has one writer."""
    lay = ctx.layout
    return [str(lay.bin("gunicorn")), "--pythonpath", str(lay.conf),
            "--bind", f"127.0.0.1:{ctx.ports.of(name)}",
            "--workers", "1", "--threads", str(threads),
            "--name", lay.process_name(name),
            "--no-control-socket", "--graceful-timeout", "5", "--timeout", "600",
            "--access-logfile", "-", "--error-logfile", "-",
            f"{SHIM_MODULE}:application"]
