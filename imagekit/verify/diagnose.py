"""Why an instance stalled, read out of the stopped VM's disk through
libguestfs (read-only, the overlay of the server) and out of its console:
the guest agent's log, whether its unit was enabled, cloud-init's log."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from imagekit import ui
from imagekit.errors import ImagekitError

AGENT_LOG = "/var/log/trove/trove-guestagent.log"
AGENT_WANTS = "/etc/systemd/system/multi-user.target.wants/guest-agent.service"
CLOUD_INIT_LOG = "/var/log/cloud-init.log"
DB_IMAGE_INDEX = "/var/lib/imagekit/db-images/index.json"
ERROR_LINE = re.compile(r"^\S+ \S+ \d+ (ERROR|CRITICAL) ")
EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Timeout|Failure)[\w.]*): (.+)$")

# (pattern in the first error, hint): the fixes for what seeded faults and
# real images get wrong most often
HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"DockerException|docker\.sock|Error while fetching server API version"),
     "the agent runs the database in docker and docker is not running in the image: build "
     "it with --style container (imagekit make), or install docker.io and add the guest user "
     "to the docker group"),
    (re.compile(r"No such image|pull access denied|manifest unknown|registry", re.I),
     "the database's container image is not in the guest and no registry can serve it: "
     "imagekit customize IMAGE --db-image distro"),
    (re.compile(r"datastore_manager|Datastore manager|not a valid datastore|registry_ext|"
                r"No module named 'trove\.guestagent\.datastore", re.I),
     "the datastore version's manager has no manager in this agent release: register the "
     "version with a manager the agent has (imagekit make --table)"),
    (re.compile(r"ECONNREFUSED|ENETUNREACH|EHOSTUNREACH|AMQP server on .* is unreachable|"
                r"Connection refused|timed out", re.I),
     "the agent cannot reach the message bus: check transport_url in the guest's "
     "trove-guestagent.conf (and any conf.d file in the image overriding it)"),
    (re.compile(r"/opt/trove-guestagent"),
     "the agent's folder /opt/trove-guestagent is missing or not the guest user's"),
)


@dataclass
class Diagnosis:
    first_error: str | None = None
    hint: str | None = None
    agent_enabled: bool | None = None
    agent_log_tail: list[str] = field(default_factory=list)
    db_images: str | None = None
    read_error: str | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


def first_error(lines: list[str]) -> str | None:
    """The first ERROR/CRITICAL line, made concrete by the exception line of
    the traceback that follows it."""
    for i, line in enumerate(lines):
        if ERROR_LINE.search(line):
            exc = None
            for follow in lines[i + 1:i + 80]:
                m = EXC_LINE.match(follow.strip())
                if m:
                    exc = follow.strip()
                elif exc and ERROR_LINE.search(follow) is None and not follow.startswith(" "):
                    break
            msg = line.split(" ERROR ", 1)[-1].split(" CRITICAL ", 1)[-1].strip()
            msg = re.sub(r"^\S+ \[[^\]]*\] ", "", msg)
            return f"{msg} — {exc}" if exc and exc not in msg else msg
    return None


def hint_for(text: str) -> str | None:
    for pat, hint in HINTS:
        if pat.search(text):
            return hint
    return None


def read_disk(disk: Path) -> Diagnosis:
    """Open the stopped server's disk read-only and read what tells."""
    import guestfs

    from imagekit.guest import backend
    d = Diagnosis()
    g = guestfs.GuestFS(python_return_dict=True)
    try:
        g.set_backend_settings(backend.choose().settings)
        g.add_drive_opts(str(disk), format="qcow2", readonly=True)
        with ui.step("reading the guest's logs from its disk (libguestfs, read-only)"):
            g.launch()
            roots = g.inspect_os()
            if not roots:
                d.read_error = "no operating system found on the server's disk"
                return d
            root = roots[0]
            mps = g.inspect_get_mountpoints(root)
            for mp in sorted(mps, key=len):
                try:
                    g.mount_ro(mps[mp], mp)
                except RuntimeError:
                    pass
            d.agent_enabled = bool(g.is_symlink(AGENT_WANTS)) if g.exists(AGENT_WANTS) else False
            if g.is_file(AGENT_LOG):
                lines = g.read_file(AGENT_LOG).decode(errors="replace").splitlines()
                d.agent_log_tail = lines[-40:]
                d.first_error = first_error(lines)
            if g.is_file(DB_IMAGE_INDEX):
                d.db_images = g.read_file(DB_IMAGE_INDEX).decode(errors="replace")
    except RuntimeError as exc:
        d.read_error = str(exc)
    except ImagekitError as exc:
        d.read_error = exc.message
    finally:
        try:
            g.shutdown()
        except RuntimeError:
            pass
        g.close()
    if d.first_error:
        d.hint = hint_for(d.first_error + "\n" + "\n".join(d.agent_log_tail))
    elif d.agent_enabled is False:
        d.first_error = "guest-agent.service is not enabled in the image"
        d.hint = ("enable it: imagekit customize IMAGE -o OUT --run-command "
                  "'systemctl enable guest-agent.service'")
    return d
