"""`imagekit upload` resolved before anything is touched: the arguments, the
environment (DBIMAGE_SOURCE, DBIMAGE_CONTROLLER_IP ...) and the recipe become
one frozen UploadPlan; `--dry-run` prints it."""
from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from imagekit import paths
from imagekit.cloud import glance, naming
from imagekit.cloud.controller import Controller
from imagekit.errors import UsageError


@dataclass(frozen=True)
class Target:
    """One cloud to upload to, with the guest configuration profile for it."""
    cloud: str | None             # None: OS_CLOUD / the only cloud in clouds.yaml
    profile: Path | None = None


@dataclass(frozen=True)
class UploadPlan:
    image: Path
    db: str
    version: str                  # as given (-v); names use its x.y
    edition: str | None           # None, "community", "enterprise"
    targets: tuple[Target, ...]
    keypair: str | None = None
    commands: tuple[str, ...] = ()
    user: str | None = None       # -b; None: the image's guest user
    source_tag: str = naming.DEFAULT_SOURCE
    retarget: bool = True
    force: bool = False
    register: bool = True
    by_tags: bool = False
    default: bool = True
    visibility: str = "auto"
    service_project: str = "service"
    validation_rules: Path | None = None
    controller: Controller | None = None
    day: dt.date = field(default_factory=dt.date.today)

    @property
    def short_version(self) -> str:
        return naming.short_version(self.version)

    @property
    def image_name(self) -> str:
        return naming.image_name(self.db, self.version, self.edition, self.source_tag, self.day)

    @property
    def tags(self) -> tuple[str, ...]:
        return naming.image_tags(self.db, self.version)

    def describe(self) -> list[tuple[str, str]]:
        """(what, value) rows for --dry-run and the original's variable dump."""
        clouds = ", ".join(t.cloud or "(default)" for t in self.targets)
        profiles = {t.cloud or "(default)": str(t.profile) for t in self.targets if t.profile}
        ctl = self.controller.where if self.controller else "none (refused parameters reported)"
        rows = [("image", str(self.image)), ("database", self.db),
                ("version", f"{self.short_version} (given {self.version})"),
                ("edition", self.edition or "distro"), ("clouds", clouds),
                ("glance name", self.image_name), ("glance tags", ",".join(self.tags)),
                ("visibility", f"{self.visibility} (Trove's project: {self.service_project})"),
                ("re-target", "yes" if self.retarget else "no (--as-is)"),
                ("keypair (-k)", self.keypair or "none"),
                ("guest user (-b)", self.user or "the image's guest user"),
                ("commands (-s)", " ; ".join(self.commands) or "none"),
                ("guest config", ", ".join(f"{c}={p}" for c, p in profiles.items()) or "none"),
                ("register", "no (--no-register)" if not self.register else
                 ("by image tags" if self.by_tags else "by image id") +
                 (", default version" if self.default else "")),
                ("validation rules", str(self.validation_rules or "recipes/validation-rules")),
                ("controller", ctl)]
        return rows


def _resolve_image(value: str) -> Path:
    """-f: a path, or (the original's way) a file name in the images folder."""
    p = Path(value).expanduser()
    if p.exists() or "/" in value:
        return p
    alt = paths.images_dir() / value
    return alt if alt.exists() else p


def _targets(clouds: list[str] | None, profiles: list[str] | None) -> tuple[Target, ...]:
    names: list[str | None] = list(dict.fromkeys(clouds or [])) or [None]
    general: Path | None = None
    per_cloud: dict[str, Path] = {}
    for spec in profiles or []:
        cloud, sep, path = spec.partition("=")
        if sep and cloud and "/" not in cloud:
            if cloud not in names:
                raise UsageError(f"--guest-config {spec}: '{cloud}' is not one of the --os-cloud "
                                 "names", "give CLOUD=PROFILE for a cloud named with --os-cloud")
            per_cloud[cloud] = Path(path).expanduser()
        else:
            if general is not None:
                raise UsageError("--guest-config PROFILE given twice",
                                 "give one profile for all clouds, or CLOUD=PROFILE for each")
            general = Path(spec).expanduser()
    for p in [general, *per_cloud.values()]:
        if p is not None and not p.is_file():
            raise UsageError(f"--guest-config: {p}: no such profile file")
    return tuple(Target(n, per_cloud.get(n or "", general)) for n in names)


def from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> UploadPlan:
    env = os.environ if env is None else env
    if not args.file:
        raise UsageError("-f IMAGE must be specified", "the qcow2 image to upload, e.g. "
                         "-f images/debian_bookworm_postgresql_15.qcow2")
    if not args.datastore:
        raise UsageError("-d DB must be specified", "e.g. -d postgresql")
    if not args.datastore_version:
        raise UsageError("-v VERSION must be specified", "e.g. -v 15")
    if args.community and args.enterprise:
        raise UsageError("-c (community) and -e (enterprise) cannot be used together")
    if args.visibility not in glance.VISIBILITIES:
        raise UsageError(f"--visibility {args.visibility}: use one of "
                         f"{', '.join(glance.VISIBILITIES)}")
    image = _resolve_image(args.file)
    rules = Path(args.validation_rules).expanduser() if args.validation_rules else None
    if rules is not None and not rules.is_file():
        raise UsageError(f"--validation-rules {rules}: no such file")
    if not args.retarget and (args.keypair or args.run or args.guest_config or args.user):
        raise UsageError("--as-is uploads the file unchanged: -k, -s, -b and --guest-config "
                         "need the re-target", "drop --as-is, or those options")
    naming.short_version(args.datastore_version)
    return UploadPlan(
        image=image, db=args.datastore, version=args.datastore_version,
        edition="community" if args.community else "enterprise" if args.enterprise else None,
        targets=_targets(args.os_cloud, args.guest_config), keypair=args.keypair,
        commands=tuple(args.run or ()), user=args.user, source_tag=naming.source_tag(dict(env)),
        retarget=args.retarget, force=args.force, register=args.register,
        by_tags=args.image_tags, default=args.default, visibility=args.visibility,
        service_project=args.service_project, validation_rules=rules,
        controller=Controller.from_env(env))


def add_options(p: argparse.ArgumentParser, *, seed: bool = False) -> None:
    """The options of `imagekit upload`; `dbimage-upload` (seed=True) has the
    same letters (-d -v -c -e -f -k -s -b) and the cloud options."""
    if not seed:
        p.add_argument("--verify", action="store_true",
                       help="first boot IMAGE as a Trove instance in the local devcloud "
                            "(imagekit verify): upload only when it becomes ACTIVE and answers "
                            "a query")
    p.add_argument("-f", "--file", metavar="IMAGE",
                   help="the image to upload (qcow2 or raw): a path, or a file name in the "
                        "images folder as the original tool took it")
    p.add_argument("-d", "--datastore", metavar="DB",
                   help="the database: the Trove datastore and the image's tag "
                        "(mariadb, mongodb, mysql, postgresql, redis)")
    p.add_argument("-v", "--datastore-version", metavar="VERSION",
                   help="the database version; more than two parts are cut to x.y (the Trove "
                        "datastore version name)")
    ed = p.add_mutually_exclusive_group()
    ed.add_argument("-c", "--community", action="store_true",
                    help="the community edition (adds -c to the Glance name)")
    ed.add_argument("-e", "--enterprise", action="store_true",
                    help="the enterprise edition (adds -e to the Glance name)")
    p.add_argument("-k", "--keypair", metavar="KEYPAIR",
                   help="a Nova keypair of the target cloud: its public key is added to the "
                        "guest user's ~/.ssh/authorized_keys (for DBA access)")
    p.add_argument("-s", "--run", action="append", metavar="CMD",
                   help="a command run inside the image (sh -c, with the network; repeatable)")
    p.add_argument("-b", "--user", metavar="USER",
                   help="the guest user owning the authorized key (default: the guest agent's "
                        "user in the image, else ubuntu)")
    p.add_argument("--os-cloud", action="append", metavar="CLOUD",
                   help="a cloud from clouds.yaml (repeatable: one golden image to several "
                        "clouds; default OS_CLOUD)")
    p.add_argument("--guest-config", action="append", metavar="[CLOUD=]PROFILE",
                   help="a cloud profile (trove-guestagent.conf settings) written into the "
                        "image; CLOUD=PROFILE for one cloud (one appliance launch per distinct "
                        "profile)")
    p.add_argument("--force", action="store_true",
                   help="upload even when the offline checks find errors")
    if seed:
        p.set_defaults(retarget=True, register=True, image_tags=False, default=True,
                       visibility="auto", service_project="service", validation_rules=None,
                       dry_run=False, list=False, json=False)
        return
    p.add_argument("--as-is", dest="retarget", action="store_false",
                   help="upload the file unchanged (no re-target launch; the checks still run)")
    p.add_argument("--no-register", dest="register", action="store_false",
                   help="upload to Glance only; no Trove datastore version")
    p.add_argument("--image-tags", action="store_true",
                   help="register the datastore version by the image's Glance tags "
                        "(trove,DB,VERSION) instead of its id")
    p.add_argument("--no-default", dest="default", action="store_false",
                   help="do not make the version the datastore's default")
    p.add_argument("--visibility", default="auto", metavar="auto|private|shared",
                   help="private to Trove's service project (when the cloud's project is "
                        "it), or shared with it (accepted); default auto")
    p.add_argument("--service-project", default="service", metavar="PROJECT",
                   help="Trove's service project, name or id (default: service)")
    p.add_argument("--validation-rules", metavar="FILE",
                   help="Trove configuration-parameter rules (default: "
                        "recipes/validation-rules/DB[/X.Y]/validation-rules.json)")
    p.add_argument("--list", action="store_true",
                   help="only show what is registered (datastore versions and their images; "
                        "-d limits it to one datastore)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
