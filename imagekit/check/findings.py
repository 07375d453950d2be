"""The check table: every finding `imagekit check` can report, with its stable
id, default severity, what it means and how to fix it. The checks, the
`--json` output and docs/checks.md all come from this one table."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"       # an instance from this image would stay in BUILD (or worse)
    WARNING = "warning"   # works in some clouds, or a risk worth a look


@dataclass(frozen=True)
class CheckSpec:
    """One row of the check table."""
    id: str
    severity: Severity
    area: str             # image, agent, cloud-init, users, baked, database, network,
                       # space, cloud
    title: str            # what is wrong, as a short phrase
    why: str              # why it matters (docs/checks.md)
    fix: str              # the default fix (a finding may say something more precise)
    cloud: bool = False   # needs --os-cloud

    def found(self, message: str, fix: str | None = None,
              severity: Severity | None = None) -> Finding:
        return Finding(self.id, severity or self.severity, message, fix or self.fix)


@dataclass(frozen=True)
class Finding:
    """One problem in one image: stable id, severity, a one-line message, a fix."""
    id: str
    severity: Severity
    message: str
    fix: str

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "severity": self.severity.value, "message": self.message,
                "fix": self.fix}


E, W = Severity.ERROR, Severity.WARNING

_TABLE: tuple[CheckSpec, ...] = (
    # -- the image file ---------------------------------------------------------------------
    CheckSpec("image-backing-file", E, "image", "the qcow2 has a backing file",
              "Glance stores the one file uploaded: an overlay without its backing file boots "
              "nothing. A backing file outside the image's folder is not even opened.",
              "flatten it: qemu-img convert -O qcow2 IMAGE STANDALONE.qcow2"),
    CheckSpec("image-data-file", E, "image", "the qcow2 keeps its data in an external file",
              "The data file is not uploaded with the qcow2; the guest's disk would be empty.",
              "make it self-contained: qemu-img convert -O qcow2 IMAGE STANDALONE.qcow2"),
    CheckSpec("image-truncated", E, "image", "the qcow2 file is truncated",
              "Clusters point past the end of the file (an interrupted copy or download); "
              "Nova fails to boot it or the guest reads garbage.",
              "copy the image again and compare its checksum, or rebuild it"),
    CheckSpec("image-corrupt", E, "image", "the qcow2 metadata is corrupt",
              "qemu-img check finds corrupt metadata; the guest may not boot.",
              "rebuild the image, or repair a copy with qemu-img check -r all and check it again"),
    CheckSpec("guest-no-os", E, "image", "no operating system found in the image",
              "libguestfs finds no root filesystem with an operating system; nothing would boot.",
              "check the image with imagekit inspect; rebuild it with imagekit make"),
    # -- the guest agent --------------------------------------------------------------------
    CheckSpec("agent-missing", E, "agent", "the Trove guest agent is not installed",
              "Without the agent nothing answers the taskmanager's prepare call: the instance "
              "stays in BUILD until usage_timeout (P1, P19).",
              "build the image with the guest-agent element (imagekit make)"),
    CheckSpec("agent-unit-missing", E, "agent", "the guest agent has no systemd unit",
              "The agent code is there but nothing starts it at boot (P1).",
              "install guest-agent.service (the guest-agent element does), then enable it"),
    CheckSpec("agent-unit-disabled", E, "agent", "the guest agent's systemd unit is not enabled",
              "The agent does not start at boot; the instance stays in BUILD (P1).",
              "enable it: imagekit customize IMAGE -o OUT --link "
              "/etc/systemd/system/guest-agent.service:"
              "/etc/systemd/system/multi-user.target.wants/guest-agent.service"),
    CheckSpec("agent-unit-no-conf-d", E, "agent",
              "the agent's start command does not read /etc/trove/conf.d",
              "Trove injects guest_info.conf and trove-guestagent.conf into /etc/trove/conf.d; "
              "an agent started without --config-dir=/etc/trove/conf.d never sees its guest_id "
              "and exits ('guest_id parameter is not set', P4).",
              "start the agent with --config-dir=/etc/trove/conf.d in ExecStart"),
    CheckSpec("agent-unit-user-missing", E, "agent", "the agent's unit runs as a missing user",
              "systemd refuses to start a unit whose User= does not exist.",
              "create the user in the image, or fix User= in the unit"),
    CheckSpec("agent-release-unknown", E, "agent", "the agent's Trove release cannot be told",
              "Neither the agent's package metadata nor /etc/imagekit/guest-agent.json says "
              "which Trove release it is; nobody can match it to the controller (P2).",
              "install the agent with its dist-info (pip), or rebuild with imagekit make, which "
              "records the release"),
    CheckSpec("agent-release-inconsistent", E, "agent",
              "the recorded agent release differs from the installed agent",
              "/etc/imagekit/guest-agent.json names another release than the installed trove "
              "package: the image was changed after it was built, or the record is stale (P2, "
              "P20).",
              "rebuild the image, or re-install the agent of the recorded release"),
    # -- cloud-init -------------------------------------------------------------------------
    CheckSpec("cloud-init-missing", E, "cloud-init", "cloud-init is not installed",
              "Trove hands the agent its configuration as cloud-init user-data (write_files); "
              "without cloud-init guest_info.conf never arrives (P4).",
              "install cloud-init (the cloud-init-datasources element sets its datasources)"),
    CheckSpec("cloud-init-datasources-unset", W, "cloud-init",
              "cloud-init has no datasource_list",
              "cloud-init then probes every datasource it knows; boots are slower and may wait "
              "for unrelated metadata sources before reaching OpenStack's.",
              "set DIB_CLOUD_INIT_DATASOURCES=\"ConfigDrive, OpenStack\" (or write "
              "/etc/cloud/cloud.cfg.d/91-datasources.cfg with datasource_list: "
              "[ ConfigDrive, OpenStack ])"),
    CheckSpec("cloud-init-datasources-unusable", E, "cloud-init",
              "cloud-init's datasource_list has neither ConfigDrive nor OpenStack",
              "cloud-init never reads the user-data Nova was given, so guest_info.conf is "
              "never written (P3, P4).",
              "datasource_list: [ ConfigDrive, OpenStack ]"),
    CheckSpec("cloud-init-datasource-mismatch", E, "cloud-init",
              "cloud-init's datasources do not fit how the cloud delivers user-data",
              "Since Yoga, Trove does not ask Nova for a config drive "
              "(use_nova_server_config_drive=False): an image with only ConfigDrive never gets "
              "its configuration (P3). A cloud that uses config drives and has no metadata "
              "service needs ConfigDrive.",
              "datasource_list: [ ConfigDrive, OpenStack ] fits both"),
    # -- users and /etc/trove/conf.d ---------------------------------------------------------
    CheckSpec("guest-user-missing", E, "users",
              "the user Trove's injected files are owned by does not exist",
              "cloud-init's write_files fails on an unknown owner and the agent's configuration "
              "is missing or unreadable (P6). Trove's injected_config_owner defaults to ubuntu.",
              "create the user (GUEST_USERNAME at build time), or set injected_config_owner in "
              "trove.conf and check with --guest-user"),
    CheckSpec("conf-d-missing", E, "users", "/etc/trove/conf.d does not exist",
              "The agent reads its configuration from /etc/trove/conf.d; the guest-agent element "
              "creates it owned by the guest user.",
              "imagekit customize IMAGE -o OUT --mkdir /etc/trove/conf.d --chown "
              "GUEST_USER:root:/etc/trove/conf.d"),
    CheckSpec("conf-d-not-writable", E, "users", "the guest user cannot write /etc/trove/conf.d",
              "The agent runs as the guest user and writes to /etc/trove/conf.d; it fails when "
              "the folder is not writable.",
              "imagekit customize IMAGE -o OUT --chown GUEST_USER:root:/etc/trove "
              "--chown GUEST_USER:root:/etc/trove/conf.d (the guest-agent element's layout)"),
    # -- baked-in values ------------------------------------------------------------------------
    CheckSpec("baked-guest-info", E, "baked", "a guest_info.conf is baked into the image",
              "guest_info.conf is per instance (guest_id, tenant, datastore); every instance "
              "from this image would start as the same guest, and Trove's own file may not "
              "replace it.",
              "delete it: imagekit customize IMAGE -o OUT --delete PATH"),
    CheckSpec("baked-guest-id", E, "baked", "a guest_id is baked into the agent configuration",
              "A guest_id is per instance; instances from this image would listen on another "
              "instance's queue.",
              "remove guest_id from the file (Trove injects it at instance create)"),
    CheckSpec("private-key", E, "baked", "a private key is in the image",
              "Every instance would carry the same private key (dev-mode images copy the "
              "controller user's id_rsa); Nova injects keys at boot (nova_keypair).",
              "delete it (imagekit customize IMAGE -o OUT --delete PATH); for ssh access use "
              "nova_keypair in trove.conf"),
    CheckSpec("password-hash", E, "baked", "root or the guest user has a password",
              "A password hash in the image is shared by every instance (and readable from the "
              "image); locked accounts ('!' or '*') are fine.",
              "lock the account: imagekit customize IMAGE -o OUT --run-command 'passwd -l USER'"),
    CheckSpec("controller-secret", E, "baked", "controller secrets are baked into the image",
              "A transport_url with a password or service credentials in /etc/trove give anyone "
              "with the image (or one instance) the message bus and the cloud; Trove injects "
              "trove-guestagent.conf at instance create anyway. --allow-baked-config makes this "
              "a warning.",
              "delete the file from the image; keep the guest configuration on the controller "
              "(trove.conf guest_config)"),
    # -- the database runtime -------------------------------------------------------------------
    CheckSpec("runtime-missing", E, "database", "neither docker nor a database server is installed",
              "The agent runs the database either in docker (Victoria and later) or from a "
              "native package; this image has neither.",
              "build with the docker element (container style) or the database's element"),
    CheckSpec("db-package-missing", E, "database", "the database server package is not installed",
              "Native style: the agent installs nothing at prepare; the database must be in the "
              "image.",
              "build the image with the database's element (imagekit make -d DB -v VER)"),
    CheckSpec("db-version-mismatch", E, "database",
              "the installed database is not the requested version",
              "The datastore version registered in Trove names another database version than "
              "the one installed.",
              "rebuild for the right version, or check with the right -v"),
    CheckSpec("db-service-disabled", E, "database", "the database service is not enabled",
              "Native style: the database service must start at boot.",
              "enable the database's systemd unit"),
    CheckSpec("docker-missing", E, "database", "docker is not installed",
              "Container style (Victoria and later): the agent runs the database in docker.",
              "build the image with the docker element"),
    CheckSpec("docker-disabled", E, "database", "docker is not enabled",
              "Container style: docker must start at boot, or the agent cannot start the "
              "database container.",
              "enable docker.service"),
    CheckSpec("docker-group", E, "database", "the agent's user is not in the docker group",
              "The agent talks to /var/run/docker.sock (root:docker, 0660) as its own user; "
              "outside the docker group prepare fails.",
              "add the guest user to the docker group (the docker element does)"),
    CheckSpec("native-db-with-docker-agent", E, "database",
              "the agent runs databases in docker, the image has a native database instead",
              "Since Victoria (trove 14) the agent starts the database only as a docker "
              "container and asks docker for it at start-up; without docker it exits "
              "(DockerException, ENOENT) and systemd restarts it forever: the instance stays in "
              "BUILD. The natively installed server is never used.",
              "rebuild in container style: imagekit make -d DB (the default for a docker-era "
              "--trove-release)"),
    CheckSpec("native-db-enabled-beside-docker", W, "database",
              "a native database service is enabled beside docker",
              "The docker-era agent runs the database in a container that publishes the "
              "database's port; a native server started at boot holds that port (and memory), "
              "so the container cannot bind it.",
              "disable the native service (imagekit customize IMAGE -o OUT --delete "
              "/etc/systemd/system/multi-user.target.wants/UNIT), or rebuild without it"),
    CheckSpec("datastore-without-manager", E, "database",
              "the image's datastore has no manager in the agent's release",
              "The agent refuses to start with a datastore_manager it has no manager for "
              "(cmd/guest.py); the docker-era agents have mysql, mariadb and postgresql only "
              "(imagekit make --table).",
              "build for a datastore the release has, or with an agent release that has it "
              "(imagekit make --trove-release SERIES)"),
    CheckSpec("guest-agent-folder", E, "agent",
              "/opt/trove-guestagent is missing or not the agent user's",
              "The docker-era agent writes its prepare markers "
              "(/opt/trove-guestagent/.guestagent.prepare.start) there; prepare fails at once "
              "with FileNotFoundError or PermissionError.",
              "imagekit customize IMAGE -o OUT --mkdir /opt/trove-guestagent --chown "
              "GUEST_USER:GUEST_USER:/opt/trove-guestagent"),
    CheckSpec("db-image-missing", E, "database",
              "the database's docker image is not in the image",
              "The agent starts <[manager] docker_image>:<datastore version>; docker pulls it when "
              "it is not local, which fails without a registry the guest can reach (and takes "
              "15-30 min on emulated CPUs). Preloaded images are listed in "
              "/var/lib/imagekit/db-images/index.json. A warning when the guest's agent "
              "configuration names a container_registry.",
              "rebuild with the database image preloaded (imagekit make -d DB -v VER)"),
    # -- network --------------------------------------------------------------------------------
    CheckSpec("network-renderer-unapplied", E, "network",
              "cloud-init's network configuration would not be applied",
              "cloud-init renders the network for the first available renderer of its list "
              "(system_info: network: renderers): ifupdown (eni) when ifup, ifdown, ifquery and "
              "/etc/network/interfaces exist, netplan, "
              "networkd when systemd-networkd exists. Rendered for networkd while "
              "systemd-networkd.service is not enabled (or with no renderer at all), nothing "
              "configures the NIC: the agent never reaches the message bus.",
              "enable systemd-networkd: imagekit customize IMAGE -o OUT --link "
              "/lib/systemd/system/systemd-networkd.service:"
              "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service "
              "(or install ifupdown or netplan)"),
    CheckSpec("stale-ifupdown-stanza", W, "network",
              "ifupdown stanzas name eth0/eth1 but ifupdown is not what configures the network",
              "DIB leaves /etc/network/interfaces.d/eth0 and eth1; the kernel names the NIC "
              "ens3 or similar, and cloud-init renders for another renderer: the stanzas only "
              "mislead whoever debugs the network.",
              "delete them: imagekit customize IMAGE -o OUT --delete "
              "/etc/network/interfaces.d/eth0 --delete /etc/network/interfaces.d/eth1"),
    # -- space ----------------------------------------------------------------------------------
    CheckSpec("root-fs-low-space", E, "space", "the root filesystem is nearly full",
              "Logs, pip caches and docker images need room before cloud-init grows the disk; "
              "a full root filesystem stops the agent.",
              "build it bigger (imagekit make --image-size GB) or remove caches; the "
              "threshold is --min-free"),
    # -- with a cloud ---------------------------------------------------------------------------
    CheckSpec("trove-release-mismatch", E, "cloud", "the agent's release is not the controller's",
              "An agent of another series than the controller's Trove drops heartbeats "
              "silently (encrypted RPC format changes); the instance times out in BUILD (P2).",
              "rebuild the image for the controller's release: imagekit make --trove-release "
              "SERIES", cloud=True),
    CheckSpec("trove-release-unknown", W, "cloud", "the controller's Trove release is not known",
              "Trove's API does not report its release, so the agent release cannot be compared.",
              "state it: --trove-release SERIES (or trove_release in the cloud's clouds.yaml "
              "entry)", cloud=True),
    CheckSpec("trove-project-unknown", W, "cloud", "Trove's service project was not found",
              "Image visibility is checked against the project Trove's service user works in.",
              "name it with --service-project (default: service); finding projects needs the "
              "admin role", cloud=True),
    CheckSpec("glance-image-not-visible", E, "cloud",
              "the Glance image is not visible to Trove's service project",
              "Trove looks images up with its service credentials: a private image of another "
              "project or a share that was not accepted is invisible to it (P10).",
              "upload it into the service project, or share it and accept the membership "
              "(imagekit upload does both)", cloud=True),
    CheckSpec("datastore-version-missing", W, "cloud", "the datastore version is not registered",
              "Trove has no such datastore version yet; imagekit upload registers it.",
              "register it: imagekit upload IMAGE -d DB -v VER --os-cloud CLOUD", cloud=True),
    CheckSpec("datastore-tags-no-image", E, "cloud",
              "no active image carries all of the datastore version's tags",
              "Instance create fails with ImageNotFoundByTags (P10).",
              "upload the image with those tags (imagekit upload tags it), or fix the version's "
              "--image-tags", cloud=True),
    CheckSpec("datastore-tags-ambiguous", W, "cloud",
              "several active images carry all of the datastore version's tags",
              "Trove silently uses the newest one; uploading another image with the same tags "
              "switches every instance create to it.",
              "deactivate or untag the older images, or give each release its own tag",
              cloud=True),
    CheckSpec("datastore-image-missing", E, "cloud",
              "the datastore version's image does not exist or is not active",
              "Instance create fails: the version names a Glance image by id that Trove cannot "
              "use.",
              "point the version at an active image, or use image tags", cloud=True),
    CheckSpec("flavor-none-fits", E, "cloud",
              "no flavor registered for the datastore can hold the image",
              "Nova refuses every flavor whose root disk is smaller than the image's min_disk "
              "or virtual size.",
              "create a flavor with a bigger disk (imagekit flavor), or make the image smaller",
              cloud=True),
    CheckSpec("flavor-too-small", W, "cloud",
              "some flavors registered for the datastore cannot hold the image",
              "Instances created with those flavors fail at once.",
              "remove them from the datastore version, or give them a bigger disk", cloud=True),
)

CHECKS: dict[str, CheckSpec] = {c.id: c for c in _TABLE}
assert len(CHECKS) == len(_TABLE), "duplicate check id"


def spec(check_id: str) -> CheckSpec:
    return CHECKS[check_id]


def found(check_id: str, message: str, fix: str | None = None,
          severity: Severity | None = None) -> Finding:
    """A finding of the check `check_id` (KeyError for unknown ids: ids are stable)."""
    return CHECKS[check_id].found(message, fix, severity)
