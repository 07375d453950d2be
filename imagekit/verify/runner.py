"""`imagekit verify`: boot an image as a real Trove instance in the devcloud
and watch it become ACTIVE and serve its database.

Resolve, then act: the devcloud is started (idempotent) and connected first;
then the image goes to its Glance (a throw-away copy unless identical bytes
are there already), a throw-away datastore version points at it (its Trove
`version` is the datastore version, so the agent asks docker for
`<docker_image>:<version>`), and an instance is created through the Trove
API. Its phases (phases.py) are watched from outside the guest. On success
a database user is made through the Trove API and a query runs through the
forwarded port with the database's own client. Whatever happens — success,
failure, timeout, Ctrl-C, SIGTERM — the instance, its VM, the throw-away
version and image are removed (unless --keep)."""
from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagekit import ui
from imagekit.cloud.devcloud import bus as bus_mod
from imagekit.cloud.devcloud import compute, stack
from imagekit.errors import CloudError, ImagekitError, UsageError, VerifyFailed
from imagekit.signals import terminate_as_interrupt, terminate_ignored
from imagekit.verify import observe
from imagekit.verify.diagnose import Diagnosis, hint_for, read_disk
from imagekit.verify.phases import BY_ID, PHASES

FLAVOR = "imagekit-verify"
# A stall is called once the guest has had this long (s) for the next phase:
AGENT_GRACE = 180.0      # after cloud-init finished (its final stage): the agent's start
CONNECT_GRACE = 200.0    # after the agent started: its queue has a consumer
AGENT_RESTARTS = 3       # starts of the agent (console lines) that make a crash loop
FLAVOR_SPEC = {"ram": 2048, "vcpus": 2, "disk": 0, "ephemeral": 2}
POLL = 2.0


@dataclass(frozen=True)
class VerifyOptions:
    image: Path | None               # None: the image the datastore version points at
    datastore: str
    version: str
    cloud: str = "devcloud"
    state_dir: Path | None = None    # the devcloud's; default its standard one
    timeout: float = 1200.0
    keep: bool = False


@dataclass
class PhaseTime:
    id: str
    title: str
    seconds: float | None = None     # since the instance was created


@dataclass
class VerifyResult:
    ok: bool
    image: str | None
    datastore: str
    version: str
    instance_id: str | None = None
    phases: list[PhaseTime] = field(default_factory=list)
    stalled: str | None = None
    error: str | None = None
    hint: str | None = None
    query: str | None = None
    kept: dict[str, str] = field(default_factory=dict)
    diagnosis: dict[str, Any] | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"schema": "imagekit.verify/1", **{k: v for k, v in self.__dict__.items()
                                                   if k != "phases"},
                "phases": [p.__dict__ for p in self.phases]}


class Verifier:
    def __init__(self, opts: VerifyOptions) -> None:
        self.opts = opts
        self.cleanups: list[tuple[str, Any]] = []
        self.result = VerifyResult(False, str(opts.image) if opts.image else None,
                                   opts.datastore, opts.version,
                                   phases=[PhaseTime(p.id, p.title) for p in PHASES])
        self.t0 = 0.0

    # -- set-up ------------------------------------------------------------
    def _devcloud(self) -> None:
        sopts = stack.Options(state_dir=self.opts.state_dir) if self.opts.state_dir \
            else stack.Options()
        with ui.step("the devcloud (Keystone, Glance, Nova API, Trove, RabbitMQ, local compute)"):
            self.stack = stack.up(sopts)
        self.layout = self.stack.layout
        st = stack._read_state(self.layout)
        ctx = stack._context(self.layout, st)
        if ctx is None:
            raise CloudError("the devcloud has no recorded state", "run 'imagekit devcloud up'")
        self.bus = ctx.bus
        self.trove_db = self.layout.data / "trove.sqlite"

    def _connect(self) -> None:
        from imagekit.cloud.connect import connect, trove_client
        if self.opts.cloud not in self.stack.clouds:
            raise UsageError(f"cloud '{self.opts.cloud}' is not the devcloud's "
                             f"({', '.join(self.stack.clouds)})",
                             "imagekit verify boots instances on the devcloud's local compute: "
                             "use --os-cloud devcloud")
        import os
        os.environ.setdefault("OS_CLIENT_CONFIG_FILE", str(self.stack.clouds_yaml))
        self.conn = connect(self.opts.cloud)
        self.trove = trove_client(self.conn)

    def _flavor(self) -> str:
        f = self.conn.compute.find_flavor(FLAVOR, ignore_missing=True)
        if f is None:
            f = self.conn.compute.create_flavor(name=FLAVOR, is_public=True, **FLAVOR_SPEC)
        return str(f.id)

    def _image(self) -> str:
        """The Glance image the instance boots from."""
        from imagekit.cloud import glance
        from imagekit.tools import qemuimg
        path = self.opts.image
        assert path is not None
        qemuimg.info(path)            # a readable disk image, or a one-line error
        name = f"imagekit-verify-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]}"
        spec = glance.ImageUpload(path=path, name=name, tags=("imagekit-verify",),
                                  properties=glance.image_properties(
                                      provenance="imagekit-verify", os_distro=None,
                                      os_version=None, architecture=None),
                                  visibility="auto")
        with ui.step(f"uploading {path.name} to the devcloud's Glance") as d:
            res = glance.upload(self.conn, spec, cloud=self.opts.cloud)
            d["note"] = (f"image {res.image_id}, " + ("reused, 0 bytes sent" if res.reused
                                                      else f"{res.bytes_sent} bytes sent"))
        if not res.reused:
            self.cleanups.append(("image", res.image_id))
        return res.image_id

    def _version(self, image_id: str) -> str:
        from imagekit.cloud import trove as trove_mod
        name = f"{self.opts.version}-imagekit-verify-{secrets.token_hex(3)}"
        spec = trove_mod.VersionSpec(datastore=self.opts.datastore, name=name,
                                     manager=self.opts.datastore, image_id=image_id,
                                     packages=(), active=True, default=False,
                                     version_number=self.opts.version)
        with ui.step(f"registering the throw-away datastore version {name}"):
            reg = trove_mod.register(self.trove, spec, cloud=self.opts.cloud)
        self.cleanups.append(("version", reg.version_id))
        return name

    def _existing_version(self) -> str:
        from imagekit.cloud import trove as trove_mod
        v = trove_mod.find_version(self.trove, self.opts.datastore, self.opts.version)
        if v is None:
            raise UsageError(f"the devcloud has no datastore version {self.opts.datastore} "
                             f"{self.opts.version}",
                             "give the image to verify (imagekit verify IMAGE ...), or upload "
                             "it first (imagekit upload --os-cloud devcloud)")
        return str(v.name)

    # -- the watch -----------------------------------------------------------
    def _until(self, check, seconds: float, message: str) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            if time.monotonic() > deadline:
                raise VerifyFailed(message, BY_ID["query-answered"].stalled_hint)
            time.sleep(2)

    def _reached(self, pid: str) -> None:
        """A phase seen; the phases before it are reached by then too."""
        for p in PHASES:
            if p.id == pid:
                break
            if p.id != "database-answers":
                self._mark(p.id)
        self._mark(pid)

    def _mark(self, pid: str) -> None:
        ph = next(p for p in self.result.phases if p.id == pid)
        if ph.seconds is None:
            ph.seconds = round(time.monotonic() - self.t0, 1)
            ui.info(f"{ph.title} ({ph.seconds:.0f} s after create)")
            ui.event("verify-phase", phase=pid, seconds=ph.seconds)

    def _done(self, pid: str) -> bool:
        return next(p for p in self.result.phases if p.id == pid).seconds is not None

    def _server(self) -> compute.LocalServer | None:
        iid = self.result.instance_id
        return next((s for s in compute.servers(self.layout) if s.trove_instance_id == iid), None)

    def _watch(self) -> compute.LocalServer | None:
        iid = self.result.instance_id
        assert iid is not None
        deadline = self.t0 + self.opts.timeout
        server = None
        port = observe.DB_PORTS.get(self.opts.datastore)
        boot_done = started = None
        text = ""
        while True:
            server = self._server() or server
            now = time.monotonic()
            if server is not None:
                if server.status == "ERROR":
                    raise VerifyFailed(f"the local compute could not run the server: "
                                       f"{server.fault or 'qemu failed'}",
                                       BY_ID["vm-started"].stalled_hint)
                if server.status in ("ACTIVE", "SHUTOFF"):
                    self._reached("vm-started")
                text = observe.console_text(server.console)
                if observe.KERNEL.search(text):
                    self._reached("kernel-up")
                if observe.CLOUD_INIT_FILES.search(text):
                    self._reached("cloud-init-wrote-files")
                if observe.AGENT_STARTED.search(text):
                    self._reached("agent-started")
                if server.status == "SHUTOFF":
                    raise VerifyFailed("the VM powered off", "see its console log")
                if boot_done is None and observe.CLOUD_INIT_DONE.search(text):
                    boot_done = now
                loading = observe.loading_db_images(text)
                if boot_done and not self._done("agent-started") and not loading and \
                        not self._done("agent-connected") and now - boot_done > AGENT_GRACE:
                    raise VerifyFailed("the guest agent never started: cloud-init finished "
                                       f"{now - boot_done:.0f} s ago",
                                       BY_ID["agent-started"].stalled_hint)
            if server is not None and not self._done("agent-connected") and \
                    observe.agent_starts(text) >= AGENT_RESTARTS:
                raise VerifyFailed(f"the guest agent exits at start: systemd started it "
                                   f"{observe.agent_starts(text)} times",
                                   BY_ID["agent-connected"].stalled_hint)
            if self._done("agent-started") and started is None:
                started = now
            if started and not self._done("agent-connected") and now - started > CONNECT_GRACE:
                raise VerifyFailed(f"the guest agent started {now - started:.0f} s ago and never "
                                   "listened on the bus", BY_ID["agent-connected"].stalled_hint)
            if not self._done("agent-connected"):
                with contextlib.suppress(ImagekitError):
                    if bus_mod.queues(self.bus).get(f"guestagent.{iid}", 0) > 0:
                        self._reached("agent-connected")
            st = observe.service_status(self.trove_db, iid)
            if st is not None and st.status not in ("new", "unknown"):
                self._reached("agent-connected")
                self._reached("prepare-received")
            if st is not None and ("fail" in st.status or "error" in st.status
                                   or st.status in ("crashed", "shutdown")):
                raise VerifyFailed(f"the agent reported {st.status.upper()} for the database",
                                   BY_ID["database-answers"].stalled_hint)
            if server is not None and port and server.port(port) and \
                    observe.database_answers(self.opts.datastore, server.port(port)):
                self._reached("database-answers")
            if st is not None and st.status == "healthy":
                self._reached("conductor-healthy")
            inst = self.trove.instances.get(iid)
            status = str(getattr(inst, "status", "")).upper()
            op_status = str(getattr(inst, "operating_status", "") or "").upper()
            if status == "ERROR":
                fault = getattr(inst, "fault", None) or {}
                msg = fault.get("message") if isinstance(fault, dict) else str(fault)
                raise VerifyFailed(f"the Trove API shows the instance in ERROR: {msg or 'no fault'}",
                                   "see the devcloud's taskmanager log")
            if status == "ACTIVE" and op_status in ("HEALTHY", ""):
                self._reached("api-active")
                if server is not None and port and server.port(port):
                    self._reached("database-answers")
                return server
            if time.monotonic() > deadline:
                raise VerifyFailed(f"timed out after {self.opts.timeout:.0f} s", None)
            time.sleep(POLL)

    def _query(self, server: compute.LocalServer | None) -> None:
        from imagekit.tools import dbclient
        iid = self.result.instance_id
        port = observe.DB_PORTS.get(self.opts.datastore)
        if server is None or not port or not server.port(port):
            raise VerifyFailed("the database port is not forwarded by the local compute",
                               BY_ID["query-answered"].stalled_hint)
        user, password, dbname = "imagekit_verify", secrets.token_urlsafe(12), "imagekit_verify"
        with ui.step("creating a database and a user of it through the Trove API"):
            self.trove.databases.create(iid, [{"name": dbname}])
            self._until(lambda: dbname in {d.name for d in self.trove.databases.list(iid)},
                        60, "the database made through the Trove API never appeared")
            self.trove.users.create(iid, [{"name": user, "password": password,
                                           "databases": [{"name": dbname}]}])
            self._until(lambda: user in {u.name for u in self.trove.users.list(iid)},
                        60, "the user made through the Trove API never appeared")
        deadline = time.monotonic() + 120
        last: Exception | None = None
        with ui.step(f"querying {self.opts.datastore} through 127.0.0.1:{server.port(port)} "
                     "with its own client") as d:
            while time.monotonic() < deadline:
                try:
                    out = dbclient.query(self.opts.datastore, port=server.port(port), user=user,
                                         password=password, database=dbname,
                                         sql="SELECT 40 + 2")
                    if out.strip() == "42":
                        self.result.query = f"SELECT 40 + 2 -> {out.strip()} as {user}"
                        d["note"] = self.result.query
                        self._reached("query-answered")
                        return
                    last = RuntimeError(f"unexpected answer {out!r}")
                except ImagekitError as exc:      # the user may be a moment behind
                    last = exc
                time.sleep(3)
        raise VerifyFailed(f"the query through the forwarded port failed: {last}",
                           BY_ID["query-answered"].stalled_hint)

    # -- failure and clean-up --------------------------------------------------
    def _stalled(self) -> str | None:
        for p in self.result.phases:
            if p.seconds is None:
                return p.id
        return None

    def _diagnose(self, server: compute.LocalServer | None) -> Diagnosis | None:
        if server is None:
            return None
        compute.power_off(server.folder)
        if server.disk is None or not server.disk.exists():
            return None
        d = read_disk(server.disk)
        text = observe.console_text(server.console)
        if not d.first_error:
            for line in text.splitlines():
                if "FAILED" in line or "Failed to start" in line:
                    d.first_error = line.strip()
                    d.hint = d.hint or hint_for(line)
                    break
        return d

    def _cleanup(self) -> None:
        iid = self.result.instance_id
        if iid:
            with ui.step(f"deleting the instance {iid}"), contextlib.suppress(Exception):
                self.trove.instances.delete(iid)
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    try:
                        self.trove.instances.get(iid)
                    except Exception:  # noqa: BLE001 - 404: gone
                        break
                    time.sleep(2)
            server = self._server()
            if server is not None:               # the taskmanager did not get to it
                from imagekit.cloud.devcloud import compute_hook
                compute_hook.stop(str(server.folder))
        for kind, ident in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                if kind == "version":
                    self.trove.mgmt_ds_versions.delete(ident)
                elif kind == "image":
                    self.conn.image.delete_image(ident, ignore_missing=True)

    def run(self) -> VerifyResult:
        start = time.monotonic()
        self.server: compute.LocalServer | None = None
        interrupted = False
        try:
            with terminate_as_interrupt():
                try:
                    self._run()
                    self.result.ok = True
                except VerifyFailed as exc:
                    self._failed(exc)
        except KeyboardInterrupt:
            interrupted = True
            self.result.stalled = self._stalled()
            self.result.error = "interrupted"
        finally:
            with terminate_ignored():
                self._finish(start)
        if interrupted:
            raise KeyboardInterrupt()
        return self.result

    def _run(self) -> None:
        self._devcloud()
        self._connect()
        flavor = self._flavor()
        if self.opts.image is not None:
            version = self._version(self._image())
        else:
            version = self._existing_version()
        with ui.step(f"creating a {self.opts.datastore} {self.opts.version} instance "
                     "through the Trove API") as d:
            inst = self.trove.instances.create(
                f"imagekit-verify-{secrets.token_hex(3)}", flavor,
                datastore=self.opts.datastore, datastore_version=version)
            self.result.instance_id = str(inst.id)
            d["note"] = str(inst.id)
        self.t0 = time.monotonic()
        self.server = self._watch()
        self._query(self.server)

    def _failed(self, exc: VerifyFailed) -> None:
        self.result.stalled = self._stalled()
        self.result.error = exc.message
        self.result.hint = exc.hint
        if self.result.instance_id:
            self.server = self._server() or self.server
            diag = self._diagnose(self.server)
            if diag is not None:
                self.result.diagnosis = diag.to_json()
                if diag.first_error:
                    self.result.error = f"{exc.message}; first error: {diag.first_error}"
                self.result.hint = diag.hint or self.result.hint
        if self.result.stalled and not self.result.hint:
            self.result.hint = BY_ID[self.result.stalled].stalled_hint

    def _finish(self, start: float) -> None:
        self.result.seconds = round(time.monotonic() - start, 1)
        if not hasattr(self, "layout"):
            return                            # nothing was made in the devcloud
        server = self._server() or self.server
        if self.opts.keep and server is not None:
            self.result.kept = {"instance": self.result.instance_id or "",
                                "disk": str(server.disk), "console": str(server.console),
                                "folder": str(server.folder)}
        else:
            self._cleanup()
        self.result.seconds = round(time.monotonic() - start, 1)


def verify(opts: VerifyOptions) -> VerifyResult:
    return Verifier(opts).run()
