"""guest-config: a cloud profile into the image.

* /etc/trove/conf.d/trove-guestagent.conf, mode 0640, owned by the guest
  user (the profile's guest_user, else the User= of the agent's unit);
* the CA bundle, if any, in /etc/trove/certs/<ca_name>.pem and in the
  system trust store (Debian: /usr/local/share/ca-certificates + the
  bundle; RHEL: the anchors folder + the extracted bundle), without running
  anything in the guest, so it works for any architecture;
* the cloud-init datasource list in /etc/cloud/cloud.cfg.d/99-imagekit-datasources.cfg.
Per-instance values were refused when the profile was loaded."""
from __future__ import annotations

from imagekit.engine.ops.base import Prepared, executes
from imagekit.engine.ops.context import GuestContext
from imagekit.engine.plan import GuestConfig
from imagekit.errors import GuestError
from imagekit.guest import facts

CONF_DIR = "/etc/trove/conf.d"
CONF = f"{CONF_DIR}/trove-guestagent.conf"
CERTS = "/etc/trove/certs"
DATASOURCE_FILE = "/etc/cloud/cloud.cfg.d/99-imagekit-datasources.cfg"
TRUST_STORES = (
    # (anchor folder, anchor suffix, bundle that update tools would regenerate)
    ("/usr/local/share/ca-certificates", ".crt", "/etc/ssl/certs/ca-certificates.crt"),
    ("/etc/pki/ca-trust/source/anchors", ".pem", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"),
)


def guest_user(ctx: GuestContext, wanted: str | None) -> facts.Passwd:
    if wanted:
        return ctx.user(wanted)
    agent = facts.agent(ctx.g)
    if agent.unit and agent.unit.user:
        return ctx.user(agent.unit.user)
    raise GuestError("cannot tell which user owns the guest-agent configuration: the image has "
                     "no Trove guest-agent unit with a User= line",
                     "set guest_user in the cloud profile")


@executes(GuestConfig)
def guest_config(op: GuestConfig, ctx: GuestContext, prep: Prepared) -> None:
    prof = op.profile
    user = guest_user(ctx, prof.guest_user)
    ctx.details["guest_user"] = user.name
    # missing folders are made for the guest user; existing ones are left as they are
    exists = ctx.resolve(CONF_DIR, follow=True).kind is not None
    ctx.ensure_dir(CONF_DIR, parents_uid=user.uid, parents_gid=user.gid,
                   uid=None if exists else user.uid, gid=None if exists else user.gid)
    ctx.put_file(CONF, prof.agent_conf, mode=0o640, uid=user.uid, gid=user.gid)
    if prof.ca_bundle:
        _install_ca(ctx, prof.ca_bundle, prof.ca_name)
    if prof.datasources is not None:
        _datasources(ctx, prof.datasources, prof.name)


def _install_ca(ctx: GuestContext, bundle: bytes, name: str) -> None:
    ctx.ensure_dir(CERTS)
    ctx.put_file(f"{CERTS}/{name}.pem", bundle, mode=0o644, uid=0, gid=0)
    stores = 0
    for anchors, suffix, combined in TRUST_STORES:
        if ctx.resolve(anchors, follow=True).kind != "dir":
            continue
        stores += 1
        ctx.put_file(f"{anchors}/{name}{suffix}", bundle, mode=0o644, uid=0, gid=0)
        current = ctx.read(combined)
        if current is not None and bundle.strip() not in current:
            joined = current + (b"" if current.endswith(b"\n") or not current else b"\n") + bundle
            ctx.put_file(combined, joined if joined.endswith(b"\n") else joined + b"\n")
    if not stores:
        ctx.note("no system trust store found: the CA is only in /etc/trove/certs")


def _datasources(ctx: GuestContext, sources: tuple[str, ...], profile: str) -> None:
    if not facts.cloud_init(ctx.g, []).installed:
        ctx.record(DATASOURCE_FILE, "skipped", "cloud-init is not installed")
        ctx.note("cloud-init is not installed: datasource list not written")
        return
    ctx.ensure_dir("/etc/cloud/cloud.cfg.d")
    text = (f"# written by imagekit from cloud profile {profile}\n"
            f"datasource_list: [ {', '.join(sources)} ]\n")
    ctx.put_file(DATASOURCE_FILE, text.encode(), mode=0o644, uid=0, gid=0)
    effective = facts.cloud_init(ctx.g, [])
    if effective.datasource_file not in (DATASOURCE_FILE, None):
        ctx.note(f"{effective.datasource_file} sorts after {DATASOURCE_FILE} and overrides it")
