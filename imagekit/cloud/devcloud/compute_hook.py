"""The devcloud's local compute: a stand-in for nova-compute and Neutron's
ports, not Nova.

Trove's own client seams (`remote_nova_client`, `remote_neutron_client` in
trove.conf) point here. Flavors, keypairs and everything else still come from
the devcloud's real Nova API; only *servers* are answered locally: a server
Trove creates is booted as a qemu VM of the image's architecture on this host
(KVM when the devcloud says it works, else TCG):

- its disk: a throw-away qcow2 overlay on the image file in Glance's file store;
- the data volume: a blank qcow2 as the second virtio disk (`/dev/vdb`,
  Trove's `device_path`): the flavor's ephemeral size, else 2 GiB;
- a ConfigDrive (ISO 9660 labelled `config-2`, attached as a CD-ROM, so it
  never takes the `vdb` name) with `openstack/latest/meta_data.json`,
  `user_data` (what Trove rendered: the injected config files) and
  `network_data.json` (DHCP on the VM's MAC);
- qemu's user network: the guest reaches the host as 10.0.2.2 (the message
  bus); the database port and ssh are forwarded to free ports on 127.0.0.1;
- the serial console in `console.log`.

Server status follows the VM: BUILD until qemu runs, ACTIVE while it runs,
SHUTOFF when it powered off, ERROR when qemu failed. Deleting a server stops
its VM and removes its folder. Neutron's view: one port per server with the
guest's user-network address, no floating IPs, no security groups.

This module runs inside the devcloud's service venv (trove-api,
trove-taskmanager), copied next to the rendered configs: it uses only the
standard library and what Trove itself brings (novaclient). Its settings
come from the JSON file named by IMAGEKIT_DEVCLOUD_COMPUTE (written by
`imagekit devcloud up`). `python imagekit_devcloud_compute.py run DIR` is the
supervisor of one VM."""
from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

GUEST_ADDRESS = "10.0.2.15"     # qemu user network: the guest's DHCP address
NETWORK_ID = "imagekit-devcloud-user-net"
DEFAULT_DATA_GB = 2
STATES = ("BUILD", "ACTIVE", "SHUTOFF", "ERROR")


def settings() -> dict:
    with open(os.environ["IMAGEKIT_DEVCLOUD_COMPUTE"]) as f:
        return json.load(f)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def _read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


# --- the server records --------------------------------------------------

def servers_dir() -> str:
    return settings()["servers_dir"]


def server_dir(server_id: str) -> str:
    return os.path.join(servers_dir(), server_id)


def load(server_id: str) -> dict | None:
    rec = _read_json(os.path.join(server_dir(server_id), "server.json"))
    if rec is None:
        return None
    vm = _read_json(os.path.join(server_dir(server_id), "vm.json")) or {}
    status = vm.get("status", rec.get("status", "BUILD"))
    if status in ("BUILD", "ACTIVE") and vm.get("supervisor") and not _alive(vm["supervisor"]):
        status = "ERROR"
        vm.setdefault("fault", "the VM's supervisor is gone")
    rec["status"] = status
    rec["vm"] = vm
    return rec


class Server:
    """What Trove reads of a novaclient Server."""

    def __init__(self, manager: LocalServers, rec: dict) -> None:
        self._manager = manager
        self._rec = rec
        self.id = rec["id"]
        self.name = rec["name"]
        self.status = rec["status"]
        self.flavor = {"id": rec["flavor_id"]}
        self.image = {"id": rec["image_id"]}
        self.metadata = rec.get("meta") or {}
        self.tags = rec.get("tags") or []
        self.tenant_id = rec.get("tenant_id")
        self.user_id = rec.get("user_id")
        self.created = rec["created"]
        self.updated = rec.get("vm", {}).get("updated", rec["created"])
        self.key_name = rec.get("key_name")
        self.addresses = {NETWORK_ID: [{"addr": GUEST_ADDRESS, "version": 4,
                                        "OS-EXT-IPS:type": "fixed"}]}
        self.networks = {NETWORK_ID: [GUEST_ADDRESS]}
        self.fault = {"message": rec["vm"]["fault"]} if rec.get("vm", {}).get("fault") else {}
        self.host = socket.gethostname()
        setattr(self, "OS-EXT-AZ:availability_zone", rec.get("availability_zone") or "nova")
        setattr(self, "OS-EXT-STS:vm_state", self.status.lower())

    def delete(self) -> None:
        self._manager.delete(self.id)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __repr__(self) -> str:
        return f"<Server {self.id} {self.status}>"


def _not_found(server_id: str) -> Exception:
    from novaclient import exceptions
    exc = exceptions.NotFound(404, message="Not found")
    exc.message = "Not found"
    return exc


class LocalServers:
    """The `servers` manager of the nova client Trove gets."""

    def __init__(self, real: object, context: object = None) -> None:
        self._real = real
        self._context = context

    def _flavor(self, flavor_id: str) -> dict:
        f = self._real.flavors.get(flavor_id)
        return {"id": f.id, "ram": int(f.ram), "vcpus": int(f.vcpus), "disk": int(f.disk),
                "ephemeral": int(getattr(f, "OS-FLV-EXT-DATA:ephemeral", 0) or 0)}

    def _image_arch(self, image_id: str) -> str:
        try:
            from trove.common import clients_admin
            img = clients_admin.glance_client_trove_admin(self._context).images.get(image_id)
            arch = img.get("architecture") or img.get("hw_architecture")
        except Exception:  # noqa: BLE001 - the image is checked again when it boots
            arch = None
        return str(arch or "x86_64")

    def create(self, name, image, flavor, meta=None, files=None, userdata=None,
               key_name=None, availability_zone=None, block_device_mapping_v2=None,
               nics=None, scheduler_hints=None, config_drive=None, tags=None, **kwargs):
        server_id = str(uuid.uuid4())
        d = server_dir(server_id)
        os.makedirs(d, exist_ok=True)
        if isinstance(userdata, bytes):
            userdata = userdata.decode()
        if files:
            raise ValueError("the devcloud's compute takes injected files as user data only")
        ctx = self._context
        rec = {
            "id": server_id, "name": name, "image_id": image, "flavor_id": flavor,
            "flavor": self._flavor(flavor), "arch": self._image_arch(image),
            "meta": dict(meta or {}), "tags": list(tags or []), "key_name": key_name,
            "availability_zone": availability_zone,
            "tenant_id": getattr(ctx, "project_id", None) or getattr(ctx, "tenant", None),
            "user_id": getattr(ctx, "user_id", None) or getattr(ctx, "user", None),
            "created": _now(), "status": "BUILD",
            "mac": "fa:16:3e:" + ":".join(f"{b:02x}" for b in os.urandom(3)),
        }
        with open(os.path.join(d, "user_data"), "w") as f:
            f.write(userdata or "")
        _write_json(os.path.join(d, "server.json"), rec)
        log = open(os.path.join(d, "supervisor.log"), "ab")
        try:
            subprocess.Popen([sys.executable, os.path.abspath(__file__), "run", d],
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True, close_fds=True, env=dict(os.environ))
        finally:
            log.close()
        return Server(self, load(server_id) or rec)

    def get(self, server_id):
        server_id = getattr(server_id, "id", server_id)
        rec = load(str(server_id))
        if rec is None:
            raise _not_found(server_id)
        return Server(self, rec)

    def list(self, detailed=True, search_opts=None, **kwargs):
        out = []
        try:
            names = sorted(os.listdir(servers_dir()))
        except OSError:
            names = []
        for n in names:
            rec = load(n)
            if rec is not None:
                out.append(Server(self, rec))
        return out

    def delete(self, server_id):
        server_id = str(getattr(server_id, "id", server_id))
        stop(server_dir(server_id))

    def __getattr__(self, name):
        return getattr(self._real.servers, name)


def stop(d: str, timeout: float = 20.0) -> None:
    """Stop a server's VM (its supervisor's process group) and remove its folder."""
    power_off(d, timeout)
    shutil.rmtree(d, ignore_errors=True)


def power_off(d: str, timeout: float = 20.0) -> None:
    """Stop a server's VM (its supervisor's process group); keep its folder."""
    vm = _read_json(os.path.join(d, "vm.json")) or {}
    pid = vm.get("supervisor")
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def nova_client(context, region_name=None, *args, **kwargs):
    """trove.conf remote_nova_client: Trove's own (service-admin) client,
    servers answered here."""
    from trove.common import clients_admin
    real = clients_admin.nova_client_trove_admin(context, region_name, *args, **kwargs)
    real.servers = LocalServers(real, context)
    return real


class LocalNeutron:
    """trove.conf remote_neutron_client: the one port each server has."""

    def __init__(self, context=None, region_name=None, *args, **kwargs) -> None:
        self._context = context

    def list_ports(self, device_id=None, name=None, **kwargs):
        ports = []
        for s in LocalServers(None).list():
            if device_id and s.id != device_id:
                continue
            port_name = f"trove-{s.metadata.get('trove_instance_id', s.id)}"
            if name and name != port_name:
                continue
            ports.append({"id": f"port-{s.id}", "name": port_name, "device_id": s.id,
                          "network_id": NETWORK_ID, "mac_address": s._rec.get("mac"),
                          "fixed_ips": [{"ip_address": GUEST_ADDRESS, "subnet_id": NETWORK_ID}]})
        return {"ports": ports}

    def show_port(self, port_id):
        for p in self.list_ports()["ports"]:
            if p["id"] == port_id:
                return {"port": p}
        return {"port": {}}

    def list_floatingips(self, **kwargs):
        return {"floatingips": []}

    def list_security_groups(self, **kwargs):
        return {"security_groups": []}

    def list_networks(self, **kwargs):
        return {"networks": [{"id": NETWORK_ID, "name": NETWORK_ID, "subnets": [NETWORK_ID]}]}

    def show_subnet(self, subnet_id):
        return {"subnet": {"id": subnet_id, "cidr": "10.0.2.0/24", "ip_version": 4}}

    def delete_port(self, *a, **k):
        return None

    def delete_security_group(self, *a, **k):
        return None


def neutron_client(context, region_name=None, *args, **kwargs):
    return LocalNeutron(context, region_name)


class _NoVolumes:
    """Cinder's volumes as the devcloud has them: none (the data volume is the
    VM's second disk)."""

    def list(self, *args, **kwargs):
        return []

    def get(self, volume_id):
        from cinderclient import exceptions
        raise exceptions.NotFound(404, f"no volume {volume_id}: the devcloud has no Cinder")

    def create(self, *args, **kwargs):
        raise RuntimeError("the devcloud has no Cinder: the data volume is the flavor's "
                           "ephemeral disk (trove.conf volume_support = false)")


class LocalCinder:
    def __init__(self) -> None:
        self.volumes = _NoVolumes()


def cinder_client(context, region_name=None, *args, **kwargs):
    """trove.conf remote_cinder_client: no volumes (deleting an instance lists them)."""
    return LocalCinder()


# --- the supervisor of one VM --------------------------------------------

def _config_drive(d: str, rec: dict, conf: dict) -> str:
    root = os.path.join(d, "configdrive")
    latest = os.path.join(root, "openstack", "latest")
    os.makedirs(latest, exist_ok=True)
    meta = {"uuid": rec["id"], "name": rec["name"], "hostname": rec["name"],
            "launch_index": 0, "availability_zone": rec.get("availability_zone") or "nova",
            "meta": rec.get("meta") or {}, "project_id": rec.get("tenant_id"),
            "devices": []}
    network = {"links": [{"id": "tap0", "type": "phy", "ethernet_mac_address": rec["mac"],
                          "mtu": 1500, "vif_id": f"port-{rec['id']}"}],
               "networks": [{"id": "network0", "link": "tap0", "type": "ipv4_dhcp",
                             "network_id": NETWORK_ID}],
               "services": []}
    with open(os.path.join(latest, "meta_data.json"), "w") as f:
        json.dump(meta, f)
    with open(os.path.join(latest, "network_data.json"), "w") as f:
        json.dump(network, f)
    shutil.copyfile(os.path.join(d, "user_data"), os.path.join(latest, "user_data"))
    iso = os.path.join(d, "config-2.iso")
    subprocess.run([conf.get("genisoimage", "genisoimage"), "-quiet", "-o", iso, "-V", "config-2",
                    "-J", "-R", "-input-charset", "utf-8", root], check=True,
                   capture_output=True, text=True)
    return iso


def _qemu_argv(rec: dict, conf: dict, disk: str, data: str, iso: str, fwd: dict) -> list[str]:
    flavor = rec["flavor"]
    ram = max(int(flavor.get("ram") or 1024), 512)
    vcpus = max(1, min(int(flavor.get("vcpus") or 1), os.cpu_count() or 1, 4))
    hostfwd = ",".join(f"hostfwd=tcp:127.0.0.1:{host}-:{guest}" for guest, host in fwd.items())
    netdev = "user,id=net0" + ("," + hostfwd if hostfwd else "")
    accel = conf.get("accel", "tcg")
    console = os.path.join(os.path.dirname(disk), "console.log")
    if rec.get("arch") in ("ppc64le", "ppc64el", "ppc64"):
        return [conf.get("qemu_ppc64", "qemu-system-ppc64"), "-machine", "pseries,accel=tcg",
                "-cpu", "power9", "-smp", str(vcpus), "-m", str(ram),
                "-drive", f"file={disk},if=none,id=d0,format=qcow2,cache=unsafe",
                "-device", "virtio-blk-pci,drive=d0",
                "-drive", f"file={data},if=none,id=d1,format=qcow2,cache=unsafe",
                "-device", "virtio-blk-pci,drive=d1",
                "-device", "spapr-vscsi,id=scsi0",
                "-drive", f"file={iso},if=none,id=cd0,media=cdrom,readonly=on",
                "-device", "scsi-cd,drive=cd0",
                "-netdev", netdev, "-device", f"virtio-net-pci,netdev=net0,mac={rec['mac']}",
                "-display", "none", "-vga", "none", "-serial", f"file:{console}",
                "-monitor", "none"]
    cpu = "host" if accel == "kvm" else "max"
    # -nodefaults: no floppy (cloud-init probes it for a config drive, slowly), no
    # default NIC or display; virtio-rng feeds the guest's entropy (ssh keys at boot)
    return [conf.get("qemu_x86_64", "qemu-system-x86_64"), "-nodefaults",
            "-machine", f"pc,accel={accel}", "-cpu", cpu, "-smp", str(vcpus), "-m", str(ram),
            "-device", "virtio-rng-pci",
            "-drive", f"file={disk},if=virtio,format=qcow2,cache=unsafe",
            "-drive", f"file={data},if=virtio,format=qcow2,cache=unsafe",
            "-drive", f"file={iso},media=cdrom,if=ide,readonly=on",
            "-netdev", netdev, "-device", f"virtio-net-pci,netdev=net0,mac={rec['mac']}",
            "-display", "none", "-serial", f"file:{console}", "-monitor", "none"]


def supervise(d: str) -> int:
    conf = settings()
    rec = _read_json(os.path.join(d, "server.json"))
    vm_file = os.path.join(d, "vm.json")
    vm = {"supervisor": os.getpid(), "status": "BUILD", "updated": _now()}
    _write_json(vm_file, vm)
    qemu = None

    def on_term(signum, frame):
        if qemu is not None and qemu.poll() is None:
            qemu.terminate()
            try:
                qemu.wait(10)
            except subprocess.TimeoutExpired:
                qemu.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        source = os.path.join(conf["glance_store"], rec["image_id"])
        if not os.path.isfile(source):
            raise RuntimeError(f"image {rec['image_id']} has no file in Glance's store ({source})")
        info = json.loads(subprocess.run([conf.get("qemu_img", "qemu-img"), "info",
                                          "--output=json", source], check=True,
                                         capture_output=True, text=True).stdout)
        fmt = info["format"]
        disk = os.path.join(d, "disk.qcow2")
        subprocess.run([conf.get("qemu_img", "qemu-img"), "create", "-q", "-f", "qcow2",
                        "-F", fmt, "-b", source, disk], check=True, capture_output=True, text=True)
        data = os.path.join(d, "data.qcow2")
        gb = rec["flavor"].get("ephemeral") or conf.get("data_disk_gb") or DEFAULT_DATA_GB
        subprocess.run([conf.get("qemu_img", "qemu-img"), "create", "-q", "-f", "qcow2", data,
                        f"{gb}G"], check=True, capture_output=True, text=True)
        iso = _config_drive(d, rec, conf)
        fwd = {int(p): _free_port() for p in conf.get("forward", [22])}
        argv = _qemu_argv(rec, conf, disk, data, iso, fwd)
        vm.update(forwarded={str(k): v for k, v in fwd.items()}, argv=argv,
                  console=os.path.join(d, "console.log"), disk=disk, data_disk=data)
        with open(os.path.join(d, "qemu.log"), "ab") as qlog:
            qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog, stderr=qlog)
        time.sleep(1.0)
        if qemu.poll() is not None:
            raise RuntimeError("qemu exited at once: " + _tail(os.path.join(d, "qemu.log")))
        vm.update(status="ACTIVE", qemu=qemu.pid, started=_now(), updated=_now())
        _write_json(vm_file, vm)
        rc = qemu.wait()
        if rc == 0:
            vm.update(status="SHUTOFF", updated=_now())
        else:
            vm.update(status="ERROR", updated=_now(),
                      fault=f"qemu exited with status {rc}: " + _tail(os.path.join(d, "qemu.log")))
        _write_json(vm_file, vm)
        return 0
    except Exception as exc:  # noqa: BLE001 - becomes the server's fault
        vm.update(status="ERROR", fault=str(exc), updated=_now())
        if os.path.isdir(d):
            _write_json(vm_file, vm)
        return 1


def _tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-lines:])
    except OSError:
        return ""


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        sys.exit(supervise(sys.argv[2]))
    print("usage: imagekit_devcloud_compute.py run SERVER_DIR", file=sys.stderr)
    sys.exit(2)
