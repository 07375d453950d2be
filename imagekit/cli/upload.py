"""`imagekit upload`: re-target a golden image to one or more clouds, upload
it to Glance and register it as a Trove datastore version."""
from __future__ import annotations

import argparse
import json

from imagekit import ui
from imagekit.cloud import publish, trove, uploadplan

DESCRIPTION = (
    "Re-target a Trove guest image to one or more clouds and register it: one appliance "
    "launch per distinct re-target (the cloud profile from --guest-config, the -k public key "
    "read from the cloud's Nova, fresh ssh host keys, the -s commands), the offline checks "
    "(errors stop the upload unless --force), then for every --os-cloud: a Glance image "
    "(qcow2/bare; tags trove, DB, X.Y; properties os_distro, os_version, architecture, "
    "hw_rng_model, imagekit_provenance; private to Trove's service project or shared with it; "
    "named DB-X.Y[-c|-e]$DBIMAGE_SOURCE-DATE), verified by its sha512 and reused with no byte "
    "sent when the cloud already has it; the Trove datastore DB and its version X.Y pointing "
    "at the image (created, or edited when it exists; the datastore's default unless "
    "--no-default) with the recipe's packages; the version's configuration parameters from "
    "the validation rules (types Trove's API refuses are loaded with trove-manage on "
    "DBIMAGE_CONTROLLER_IP over ssh, or reported). Re-running with the same inputs changes "
    "nothing. Note: here -v is the datastore version; --verbose says more.")

EPILOG = ("environment: DBIMAGE_SOURCE (Glance name part, default -dib), DBIMAGE_CONTROLLER_IP, "
          "DBIMAGE_CTRL_USER, DBIMAGE_CTRL_SSH_PORT, DBIMAGE_CTRL_PRIVATE_SSH_KEY, "
          "DBIMAGE_CTRL_PASSWD, DBIMAGE_TROVE_MANAGE (trove-manage on the controller), "
          "OS_CLOUD, OS_CLIENT_CONFIG_FILE, http_proxy/https_proxy/no_proxy.")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("upload", parents=[common], conflict_handler="resolve",
                       help="re-target an image, upload it to Glance, register it with Trove",
                       description=DESCRIPTION, epilog=EPILOG)
    uploadplan.add_options(p)
    p.set_defaults(func=run)


def _connect(cloud: str | None):
    from imagekit.cloud.connect import connect
    return connect(cloud)


def show_registered(clouds: list[str] | None, datastore: str | None, as_json: bool) -> int:
    from imagekit.cloud.connect import trove_client
    out = []
    for name in list(dict.fromkeys(clouds or [])) or [None]:
        conn = _connect(name)
        cloud = conn.config.name
        rows = trove.listing(trove_client(conn), conn, cloud=cloud, datastore=datastore)
        if as_json:
            out.append({"cloud": cloud, "versions": [
                {**r.__dict__, "image_tags": list(r.image_tags), "packages": list(r.packages)}
                for r in rows]})
        else:
            trove.render_listing(rows, cloud)
    if as_json:
        ui.out.print(json.dumps({"schema": "imagekit.registered/1", "clouds": out}, indent=2),
                     markup=False)
    return 0


def _verify_first(plan) -> None:
    """--verify: the golden image booted in the devcloud before any real cloud
    sees it; a failure stops the upload (exit 6, nothing uploaded)."""
    from imagekit.errors import VerifyFailed
    from imagekit.verify.runner import VerifyOptions, verify
    res = verify(VerifyOptions(image=plan.image, datastore=plan.db, version=plan.version))
    if not res.ok:
        raise VerifyFailed(f"--verify: {plan.image.name} did not become a working instance "
                           f"(stalled before '{res.stalled}'): {res.error}; nothing uploaded",
                           res.hint)
    ui.info(f"--verify: {plan.image.name} became ACTIVE and answered ({res.seconds:.0f} s)")


def render(result: publish.PublishResult) -> None:
    ui.out.print(f"{result.plan.image_name}: {len(result.outcomes)} cloud(s), "
                 f"{result.launches} appliance launch(es), {result.seconds:.1f} s", markup=False)
    for line in publish.summary_lines(result):
        ui.out.print(f"  {line}", markup=False)


def run(args: argparse.Namespace) -> int:
    if args.list:
        return show_registered(args.os_cloud, args.datastore, args.json)
    plan = uploadplan.from_args(args)
    if args.dry_run:
        for what, value in plan.describe():
            ui.out.print(f"{what:18} {value}", markup=False)
        return 0
    if getattr(args, "verify", False):
        _verify_first(plan)
    result = publish.run(plan, _connect)
    if args.json:
        ui.out.print(json.dumps(result.to_dict(), indent=2), markup=False)
        return 0
    render(result)
    for o in result.outcomes:
        if o.registered:
            trove.render_listing(o.listing, o.cloud)
    return 0
