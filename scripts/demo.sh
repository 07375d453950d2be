#!/usr/bin/env bash
# `make demo` (after `make setup`): imagekit's main job on its embedded default,
# against a real local Trove control plane. Every step is idempotent; a re-run
# reuses the image, the customized golden image, the running devcloud, the
# re-targeted file (no appliance launch), the Glance image (0 bytes sent), the
# datastore version and the flavors.
#
#   1. build (or reuse) a PostgreSQL 15 guest image with diskimage-builder:
#      imagekit make -d postgresql -I  (Debian bookworm, container style: the
#      distribution's docker, PostgreSQL 15 as the container image postgres:15
#      built from bookworm's packages and preloaded, as the 2026.2 agent runs it);
#      the test suite's identical build is reused when it exists, and a build
#      made here is shared with the test suite
#   2. customize it into the golden image: the guest-agent patches of its
#      Trove release (imagekit customize --patch release; one appliance launch)
#   3. start the devcloud (Keystone, Glance, Nova API, Trove API, taskmanager,
#      conductor, RabbitMQ and the local compute, on 127.0.0.1)
#   4. upload: re-target the golden image to the devcloud (its cloud profile,
#      the demo keypair's key read from Nova, fresh host keys; the offline
#      checks in the same launch), Glance image, Trove datastore version
#      (default) and its configuration parameters (the types Trove's API
#      refuses through trove-manage: the devcloud is this host's controller)
#   5. the postgresql flavors in Nova
#   6. show what is registered
#   7. a PostgreSQL instance from it through the Trove API (imagekit verify
#      --keep: BUILD -> ACTIVE, HEALTHY, a user made through Trove, a query with
#      psql through the forwarded port); it keeps running, as the devcloud does
#
# Settings: IMAGEKIT_IMAGES_DIR (default images/), IMAGEKIT_DEVCLOUD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=$PWD/.venv/bin
IK=$BIN/imagekit
DB=postgresql
VER=15
CLOUD=devcloud
KEYPAIR=imagekit-demo
IMAGES=${IMAGEKIT_IMAGES_DIR:-$PWD/images}
DEMO_STATE=${XDG_CACHE_HOME:-$HOME/.cache}/imagekit/demo
t0=$SECONDS

if [ -t 2 ]; then B=$'\033[1m' N=$'\033[0m'; else B="" N=""; fi
step() { printf '\n%s== demo %s (%ss)%s\n' "$B" "$*" "$((SECONDS - t0))" "$N" >&2; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }
[ -x "$IK" ] || die "imagekit is not installed in .venv: run 'make setup' (or 'make demo')"
mkdir -p "$IMAGES" "$DEMO_STATE"

# -- 1. the image ------------------------------------------------------------------
step "1/7: the $DB $VER guest image (imagekit make -d $DB -I)"
read -r base_name cached < <("$BIN/python" - <<'EOF'
from imagekit import recipes
from tests import dibimages
print(recipes.resolve("postgresql").image_base, dibimages.db_image_path("postgresql"))
EOF
)
base=$IMAGES/$base_name.qcow2
if [ -f "$base" ]; then
    echo "reusing $base" >&2
elif [ -f "$cached" ]; then
    echo "reusing the test suite's identical build $cached" >&2
    cp --reflink=auto "$cached" "$base.part" && mv "$base.part" "$base"
else
    echo "building with diskimage-builder (about 10-20 minutes the first time)" >&2
    "$IK" make -d "$DB" -I --no-compress --output-dir "$IMAGES"
    [ -f "$base" ] || die "imagekit make did not produce $base"
    # the same command and inputs as the test suite's build: share it
    [ -f "$cached" ] || { cp --reflink=auto "$base" "$cached.part" && mv "$cached.part" "$cached"; }
fi

# -- 2. the golden image -------------------------------------------------------------
step "2/7: customize it into the golden image (imagekit customize --patch release)"
golden=$IMAGES/${base_name}_golden.qcow2
if [ -f "$golden" ] && [ "$golden" -nt "$base" ]; then
    echo "reusing $golden (newer than $base_name.qcow2)" >&2
else
    "$IK" customize "$base" -o "$golden" --patch release
fi

# -- 3. the devcloud ---------------------------------------------------------------
step "3/7: the local Trove control plane (imagekit devcloud up)"
clouds_yaml=$("$IK" devcloud up --ports auto | tail -n 1)
[ -f "$clouds_yaml" ] || die "imagekit devcloud up did not print its clouds.yaml"
export OS_CLIENT_CONFIG_FILE=$clouds_yaml
unset OS_CLOUD
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
read -r state venv < <("$IK" devcloud status --json | "$BIN/python" -c \
    'import json, sys; d = json.load(sys.stdin); print(d["state_dir"], d["venv"])')

# the demo keypair (the DBA's key that -k puts into the image)
[ -f "$DEMO_STATE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "imagekit-demo" \
    -f "$DEMO_STATE/id_ed25519"
if ! "$BIN/openstack" --os-cloud "$CLOUD" keypair show "$KEYPAIR" >/dev/null 2>&1; then
    "$BIN/openstack" --os-cloud "$CLOUD" keypair create --public-key "$DEMO_STATE/id_ed25519.pub" \
        "$KEYPAIR" >/dev/null
    echo "created keypair $KEYPAIR" >&2
fi

# -- 4. upload and register ------------------------------------------------------------
step "4/7: re-target, check, upload, register (imagekit upload)"
# The devcloud's Trove is on this host: trove-manage loads the parameter types
# its API refuses (on a real cloud: DBIMAGE_CONTROLLER_IP=<controller>, over ssh).
export DBIMAGE_CONTROLLER_IP=localhost
DBIMAGE_TROVE_MANAGE="$venv/bin/trove-manage --config-file $state/conf/trove/trove.conf"
export DBIMAGE_TROVE_MANAGE
"$IK" upload -f "$golden" -d "$DB" -v "$VER" --os-cloud "$CLOUD" -k "$KEYPAIR" \
    --guest-config scripts/demo-profile.yaml

# -- 5. flavors ------------------------------------------------------------------------
step "5/7: the $DB flavors (imagekit flavor upload)"
"$IK" flavor upload -d "$DB" --os-cloud "$CLOUD"

# -- 6. what is registered --------------------------------------------------------------
step "6/7: what the cloud now has"
"$IK" upload --list -d "$DB" --os-cloud "$CLOUD"
# the same through the standard client: the default version, and its image
"$BIN/openstack" --os-cloud "$CLOUD" datastore show "$DB"
"$BIN/openstack" --os-cloud "$CLOUD" datastore version show "$VER" --datastore "$DB"
"$BIN/openstack" --os-cloud "$CLOUD" flavor list -c Name -c RAM -c Disk -c VCPUs

# -- 7. a database instance -------------------------------------------------------------
step "7/7: a $DB $VER instance in the devcloud, ACTIVE and answering (imagekit verify --keep)"
# A re-run replaces the instance of the previous run.
"$BIN/python" - "$CLOUD" <<'EOF'
import sys
import openstack
from troveclient.v1 import client
conn = openstack.connect(cloud=sys.argv[1])
trove = client.Client(session=conn.session)
for inst in trove.instances.list():
    if inst.name.startswith("imagekit-verify-"):
        trove.instances.delete(inst.id)
        print(f"deleted the previous run's instance {inst.id}", file=sys.stderr)
EOF
"$IK" verify -d "$DB" -v "$VER" --os-cloud "$CLOUD" --keep
"$BIN/openstack" --os-cloud "$CLOUD" database instance list

step "done in $((SECONDS - t0)) s; the devcloud and the instance keep running ('imagekit devcloud down' stops them)"
