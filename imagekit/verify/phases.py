"""The phases of an instance's life that `imagekit verify` watches, in order,
each with what shows it and what to do when it never comes. The order is
the boot's: a phase is reached only after the ones before it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    id: str
    title: str           # shown live
    evidence: str        # what shows that it was reached (docs, --json)
    stalled_hint: str    # the fix when the boot stops before it


PHASES: tuple[Phase, ...] = (
    Phase("vm-started", "VM started",
          "the local compute's qemu for the server runs",
          "see the server's qemu.log in the devcloud's compute folder; is qemu-system installed?"),
    Phase("kernel-up", "kernel up",
          "the serial console shows the kernel's and systemd's first lines",
          "the image does not boot: check its bootloader and kernel (imagekit inspect) and its "
          "architecture"),
    Phase("cloud-init-wrote-files", "cloud-init wrote the injected files",
          "the console shows cloud-init.service finished (write_files runs in it)",
          "cloud-init did not run or found no datasource: the image must have cloud-init with the "
          "ConfigDrive and OpenStack datasources (imagekit check)"),
    Phase("agent-started", "agent started",
          "the console shows guest-agent.service started",
          "the guest agent's unit did not start: enable guest-agent.service in the image "
          "(imagekit customize --run-command 'systemctl enable guest-agent.service')"),
    Phase("agent-connected", "agent connected to the bus",
          "the queue guestagent.<instance id> has a consumer",
          "the agent started but never listened on the bus: see its first error below"),
    Phase("prepare-received", "prepare received",
          "the conductor recorded the agent's BUILDING heartbeat (prepare started)",
          "the agent listens but did not start prepare: see its log below"),
    Phase("database-answers", "database container healthy",
          "the database port, forwarded to 127.0.0.1, answers",
          "the database container did not come up: is its image in the guest's docker store? "
          "(imagekit customize --db-image distro)"),
    Phase("conductor-healthy", "conductor saw HEALTHY",
          "the conductor recorded the HEALTHY heartbeat",
          "the database runs but the agent did not report it healthy: see the agent's log"),
    Phase("api-active", "API ACTIVE",
          "the Trove API shows the instance ACTIVE, operating status HEALTHY",
          "the taskmanager did not finish the create: see the devcloud's taskmanager log"),
    Phase("query-answered", "query answered",
          "a database user made through the Trove API ran a query through the forwarded port",
          "the database answers but refused the user made through Trove: see the agent's log"),
)

BY_ID = {p.id: p for p in PHASES}
