"""`up`, `down` and `status` of a devcloud (one state folder).

`up` is idempotent: under the state folder's lock it reuses a running,
healthy stack with the same ports (0.2 s), otherwise (re)starts it: the venv
when missing, configs, each service's one-time init and its start in
parallel (a slow Keystone init overlaps the others), the Keystone catalog,
clouds.yaml. If anything fails after a start, what it started is stopped."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from imagekit import ui
from imagekit.cloud.devcloud import bus as bus_mod
from imagekit.cloud.devcloud import catalog, compute, procs, services, template, venv
from imagekit.cloud.devcloud.layout import (
    DAEMONS,
    SERVICES,
    STATE_FILES,
    STATE_SUBDIRS,
    Layout,
    Ports,
    default_state_dir,
    default_venv,
    port_in_use,
)
from imagekit.cloud.devcloud.procs import DevcloudError
from imagekit.cloud.devcloud.services import Context
from imagekit.errors import ImagekitError
from imagekit.tools.run import run


def start_timeout() -> float:
    return float(os.environ.get("IMAGEKIT_DEVCLOUD_START_TIMEOUT") or 240)


@dataclass(frozen=True)
class Options:
    state_dir: Path = field(default_factory=default_state_dir)
    venv: Path = field(default_factory=default_venv)
    ports: Ports | None = None        # None: the recorded ports, else the standard ones
    auto_ports: bool = False          # free ports (the recorded ones when still free)
    fresh: bool = False               # wipe the state first
    cloud_name: str = "devcloud"

    @property
    def layout(self) -> Layout:
        return Layout(self.state_dir.expanduser().resolve(), self.venv.expanduser().resolve())


@dataclass(frozen=True)
class Stack:
    """A running devcloud."""
    layout: Layout
    ports: Ports
    password: str
    cloud_name: str
    started: bool                     # False when an already running stack was reused
    pids: dict[str, int]

    @property
    def clouds_yaml(self) -> Path:
        return self.layout.clouds_yaml

    @property
    def clouds(self) -> tuple[str, ...]:
        return tuple(c.name for c in catalog.clouds(self.cloud_name))

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports.of(service)}"


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    port: int | None
    pid: int | None
    running: bool
    http: int | None                  # status of GET on its health path, None: no answer
    log: str


@dataclass(frozen=True)
class Status:
    state_dir: str
    venv: str
    venv_ready: bool
    clouds_yaml: str | None
    clouds: tuple[str, ...]
    services: tuple[ServiceStatus, ...]

    @property
    def running(self) -> bool:
        return all(s.running for s in self.services)


# --- state ----------------------------------------------------------------

def _read_state(lay: Layout) -> dict:
    try:
        return json.loads(lay.state_file.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(lay: Layout, state: dict) -> None:
    lay.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = lay.state_file.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=2)
    os.replace(tmp, lay.state_file)


def _wipe(lay: Layout) -> None:
    """Delete this devcloud's state — only the folders and files it made."""
    for sub in STATE_SUBDIRS:
        shutil.rmtree(lay.state_dir / sub, ignore_errors=True)
    for name in STATE_FILES:
        (lay.state_dir / name).unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(lay: Layout) -> Iterator[None]:
    lay.state_dir.mkdir(parents=True, exist_ok=True)
    with open(lay.lock, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            ui.info(f"waiting for another imagekit devcloud command on {lay.state_dir}")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


# --- processes -------------------------------------------------------------

ALL = SERVICES + DAEMONS


def _running(lay: Layout) -> dict[str, int]:
    """{service: pid} of this devcloud's services and daemons that are alive."""
    alive = {}
    for svc in ALL:
        pid = procs.read_pid(lay.pidfile(svc))
        if pid is not None and procs.is_ours(pid, lay.process_name(svc)):
            alive[svc] = pid
    return alive


def _stop_all(lay: Layout, state: dict | None = None) -> dict[str, str]:
    """Stop the local compute's VMs, then every service and daemon."""
    results: dict[str, str] = {}
    vms = compute.stop_all(lay)
    if vms:
        results["compute"] = f"{vms} VM(s) stopped"

    def one(svc: str) -> None:
        results[svc] = procs.stop(lay.pidfile(svc), lay.process_name(svc))

    threads = [threading.Thread(target=one, args=(s,)) for s in ALL
               if lay.pidfile(s).exists()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = state if state is not None else _read_state(lay)
    if results.get("rabbitmq") in ("stopped", "killed") and state.get("bus"):
        ctx = _context(lay, state)
        if ctx is not None:
            bus_mod.stop_epmd(ctx.bus)
    return results


def _context(lay: Layout, state: dict) -> Context | None:
    if not state.get("ports") or not state.get("password"):
        return None
    b = state.get("bus") or {}
    return Context(lay, Ports(**state["ports"]), state["password"], b.get("dist", 0),
                   b.get("epmd", 0), state.get("accel", "tcg"))


def _healthy(ctx: Context) -> bool:
    return all((procs.http_answers(ctx.url(s) + services.SERVICES[s].health_path) or 999) < 500
               for s in SERVICES) and bus_mod._amqp_answers(ctx.ports.rabbitmq)


def _choose_ports(opts: Options, state: dict, running: dict[str, int]) -> Ports:
    recorded = Ports(**state["ports"]) if state.get("ports") else None
    if opts.ports is not None:
        return opts.ports
    if opts.auto_ports:
        if recorded and (running or not any(port_in_use(p) for p in recorded.as_dict().values())):
            return recorded
        return Ports.free()
    return recorded or Ports()


def _init_and_start(ctx: Context, svc: str, needs_init: bool, timings: dict,
                    snapshot_into: Path | None) -> None:
    lay = ctx.layout
    log = lay.log(svc)
    env = services.wsgi_env(ctx, svc)
    t0 = time.monotonic()
    if needs_init:
        for argv in services.init_commands(ctx, svc):
            proc = run(argv, env=env, check=False, timeout=600, cwd=str(lay.state_dir))
            label = " ".join([os.path.basename(argv[0]),
                              *(a for a in argv[3:5] if not a.startswith("-"))])
            with open(log, "a") as f:
                f.write(f"--- imagekit devcloud: {label} (exit {proc.returncode})\n"
                        f"{proc.stdout}{proc.stderr}")
            if proc.returncode != 0:
                raise DevcloudError(f"initialising {svc} failed ({label}, exit "
                                    f"{proc.returncode}; log: {log})",
                                    "the end of its output is shown above",
                                    details=procs.tail_text(proc.stderr or proc.stdout, 20))
        if snapshot_into is not None:
            template.capture(lay, svc, snapshot_into)
    t1 = time.monotonic()
    running = procs.start(services.gunicorn_argv(ctx, svc), env=env, log=log,
                          pidfile=lay.pidfile(svc), name=lay.process_name(svc),
                          cwd=lay.state_dir)
    procs.wait_ready(ctx.url(svc) + services.SERVICES[svc].health_path, running.pid,
                     lay.process_name(svc), log, start_timeout())
    timings[svc] = (t1 - t0, time.monotonic() - t1)
    how = f"init {t1 - t0:.1f} s, " if needs_init else ""
    ui.verbose(f"{svc} answers on {ctx.url(svc)} ({how}start {time.monotonic() - t1:.1f} s)")


def _start_all(ctx: Context, state: dict, snapshot_into: Path | None) -> None:
    """Init and start the four in parallel; the catalog is registered as soon
    as Keystone answers, while the others are still starting."""
    initialized = state.setdefault("initialized", {})
    errors: list[BaseException] = []
    timings: dict[str, tuple[float, float]] = {}

    def one(svc: str) -> None:
        try:
            _init_and_start(ctx, svc, not initialized.get(svc), timings, snapshot_into)
            initialized[svc] = True
            if svc == "keystone" and state.get("registered") != ctx.ports.as_dict():
                t0 = time.monotonic()
                catalog.register(ctx, state.get("login_password"))
                state.pop("login_password", None)
                state["registered"] = ctx.ports.as_dict()
                ui.verbose(f"catalog registered ({time.monotonic() - t0:.1f} s)")
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    def bus() -> None:
        try:
            _start_bus(ctx)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(s,), name=f"devcloud-{s}") for s in SERVICES]
    threads.append(threading.Thread(target=bus, name="devcloud-rabbitmq"))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    _start_daemons(ctx)


def _start_bus(ctx: Context) -> None:
    lay = ctx.layout
    why = bus_mod.available()
    if why:
        raise DevcloudError(f"the devcloud's message bus cannot start: {why}", bus_mod.INSTALL_HINT)
    t0 = time.monotonic()
    log = lay.log("rabbitmq")
    running = procs.start(bus_mod.argv(), env=ctx.bus.env(), log=log,
                          pidfile=lay.pidfile("rabbitmq"), name=lay.process_name("rabbitmq"),
                          cwd=lay.state_dir)
    bus_mod.wait_ready(ctx.bus, running.pid, log, start_timeout())
    vm = bus_mod.vm_pid(ctx.bus)
    if vm:
        lay.pidfile("rabbitmq").write_text(f"{vm}\n")     # what `down` stops
    ui.verbose(f"rabbitmq answers on 127.0.0.1:{ctx.ports.rabbitmq} "
               f"({time.monotonic() - t0:.1f} s)")


def _start_daemons(ctx: Context) -> None:
    """trove-conductor and trove-taskmanager; ready once each one's queue on
    the bus has a consumer."""
    lay = ctx.layout
    t0 = time.monotonic()
    env = services.daemon_env(ctx)
    started = {}
    for name in services.DAEMONS:
        started[name] = procs.start(services.daemon_argv(ctx, name), env=env, log=lay.log(name),
                                    pidfile=lay.pidfile(name), name=lay.process_name(name),
                                    cwd=lay.state_dir)
    want = {"conductor": "trove-conductor", "taskmanager": "taskmanager"}
    deadline = t0 + start_timeout()
    while True:
        for name, r in started.items():
            if not procs.alive(r.pid):
                raise DevcloudError(f"trove-{name} exited while starting (log: {lay.log(name)})",
                                    "the end of its log is shown above",
                                    details=procs.read_tail(lay.log(name), 20))
        try:
            consumers = bus_mod.queues(ctx.bus)
        except ImagekitError:
            consumers = {}
        if all(consumers.get(q, 0) > 0 for q in want.values()):
            break
        if time.monotonic() > deadline:
            raise DevcloudError("trove-conductor and trove-taskmanager did not start listening "
                                f"on the bus within {start_timeout():.0f} s",
                                f"see {lay.log('conductor')} and {lay.log('taskmanager')}")
        time.sleep(1.0)
    ui.verbose(f"trove-conductor and trove-taskmanager listen on the bus "
               f"({time.monotonic() - t0:.1f} s)")


def _print_details(exc: BaseException) -> None:
    details = getattr(exc, "details", "")
    if details and not ui.settings.json_events:
        ui.err.print(details, markup=False, highlight=False, style="dim")


def _accel(state: dict) -> str:
    """KVM when the appliance backend's verdict says it works here, else TCG."""
    if state.get("accel") in ("kvm", "tcg"):
        return state["accel"]
    from imagekit.guest import backend
    try:
        return backend.choose().accel
    except ImagekitError:
        return "tcg"


# --- the commands ------------------------------------------------------------

def up(opts: Options) -> Stack:
    lay = opts.layout
    with _locked(lay):
        state = _read_state(lay)
        if opts.fresh:
            if lay.state_dir.exists():
                with ui.step("wiping the devcloud's state"):
                    _stop_all(lay)
                    _wipe(lay)
            state = {}
        running = _running(lay)
        ports = _choose_ports(opts, state, running)
        password = state.get("password") or secrets.token_urlsafe(18)
        bus_ports = state.get("bus") or {}
        if not bus_ports or any(port_in_use(p) for p in bus_ports.values()) and not running:
            free = Ports.free()
            bus_ports = {"dist": free.keystone, "epmd": free.glance}
        ctx = Context(lay, ports, password, bus_ports["dist"], bus_ports["epmd"],
                      _accel(state))
        same_ports = state.get("ports") == ports.as_dict() and state.get("bus") == bus_ports
        if len(running) == len(ALL) and same_ports and _healthy(ctx):
            if state.get("cloud_name") != opts.cloud_name or not lay.clouds_yaml.exists():
                catalog.write_clouds_yaml(ctx, opts.cloud_name)
                state["cloud_name"] = opts.cloud_name
                _write_state(lay, state)
            ui.info(f"devcloud already running ({lay.state_dir})")
            return Stack(lay, ports, password, opts.cloud_name, False, running)
        if running:
            with ui.step("stopping the devcloud's services to restart them"):
                _stop_all(lay)
        venv.ensure(lay.venv)
        taken = [f"{s} {ports.of(s)}" for s in (*SERVICES, "rabbitmq") if port_in_use(ports.of(s))]
        if taken:
            raise DevcloudError(f"port(s) already in use on 127.0.0.1: {', '.join(taken)}",
                                "another program serves there: pass --ports auto (free ports) "
                                "or --ports KEYSTONE,GLANCE,NOVA,TROVE")
        snapshot, partial = None, None
        if not any((state.get("initialized") or {}).values()) and template.enabled():
            snapshot = template.find(lay)
            if snapshot is not None:
                state["login_password"] = snapshot.password
            else:
                partial = template.staging(lay)
        state.update(ports=ports.as_dict(), password=password, cloud_name=opts.cloud_name,
                     venv=str(lay.venv), bus=bus_ports, accel=ctx.accel)
        lay.make_dirs()
        if snapshot is not None:
            template.restore(snapshot, lay)
            state["initialized"] = {s: True for s in SERVICES}
        _write_state(lay, state)
        services.render(ctx)
        try:
            if snapshot is not None:
                title = "starting (databases from the init snapshot)"
            elif not any((state.get("initialized") or {}).values()):
                title = "initialising and starting"
            else:
                title = "starting"
            with ui.step(f"{title} keystone, glance, nova, trove on ports {ports} (and "
                         "registering the catalog)"):
                try:
                    _start_all(ctx, state, partial)
                finally:
                    _write_state(lay, state)
            if partial is not None and template.publish(lay, partial, password):
                ui.verbose(f"init snapshot saved in {template.location(lay)}")
            catalog.write_clouds_yaml(ctx, opts.cloud_name)
            _write_state(lay, state)
        except BaseException as exc:
            if partial is not None:
                shutil.rmtree(partial, ignore_errors=True)
            _print_details(exc)
            if not os.environ.get("IMAGEKIT_DEVCLOUD_KEEP_ON_FAILURE"):
                _stop_all(lay)
            if isinstance(exc, DevcloudError | KeyboardInterrupt):
                raise
            from imagekit.cloud.errors import translate
            mapped = translate(exc, "registering the devcloud's catalog")
            if mapped is not None:
                raise mapped from exc
            raise
        return Stack(lay, ports, password, opts.cloud_name, True, _running(lay))


def down(opts: Options, *, purge: bool = False) -> dict[str, str]:
    """Stop this devcloud's processes (only those it recorded and that still
    are what it started). With purge, delete its state too."""
    lay = opts.layout
    if not lay.state_dir.exists():
        return {}
    with _locked(lay):
        results = _stop_all(lay)
        if purge:
            _wipe(lay)
    return results


def status(opts: Options) -> Status:
    lay = opts.layout
    state = _read_state(lay)
    ports = Ports(**state["ports"]) if state.get("ports") else None
    rows = []
    for svc in SERVICES:
        pid = procs.read_pid(lay.pidfile(svc))
        alive = pid is not None and procs.is_ours(pid, lay.process_name(svc))
        port = ports.of(svc) if ports else None
        http = None
        if alive and port:
            http = procs.http_answers(f"http://127.0.0.1:{port}"
                                      f"{services.SERVICES[svc].health_path}")
        rows.append(ServiceStatus(svc, port, pid if alive else None, alive, http,
                                  str(lay.log(svc))))
    for svc in DAEMONS:
        pid = procs.read_pid(lay.pidfile(svc))
        alive = pid is not None and procs.is_ours(pid, lay.process_name(svc))
        port = ports.rabbitmq if ports and svc == "rabbitmq" else None
        rows.append(ServiceStatus(svc, port, pid if alive else None, alive, None,
                                  str(lay.log(svc))))
    name = state.get("cloud_name", "devcloud")
    return Status(str(lay.state_dir), str(lay.venv), venv.is_ready(lay.venv),
                  str(lay.clouds_yaml) if lay.clouds_yaml.exists() else None,
                  tuple(c.name for c in catalog.clouds(name)) if lay.clouds_yaml.exists() else (),
                  tuple(rows))
