#!/bin/bash
# Sourced by 60-imagekit-database for container images: the docker ordering of
# the guest agent and the unit that loads the database's container image(s)
# preloaded into /var/lib/imagekit/db-images (by `imagekit make` /
# `imagekit customize --db-image`) before the agent starts.
set -eu
install -d -m 0755 /var/lib/imagekit/db-images /usr/local/libexec
cat > /usr/local/libexec/imagekit-db-images <<'SCRIPT'
#!/bin/sh
# imagekit: load the container images listed in /var/lib/imagekit/db-images/index.json
# into docker, once (an image already in docker's store is skipped).
set -eu
dir=/var/lib/imagekit/db-images
[ -f "$dir/index.json" ] || exit 0
python3 - "$dir/index.json" <<'PY' | while read -r ref file; do
import json, sys
for e in json.load(open(sys.argv[1])):
    print(e["ref"], e["file"])
PY
    if docker image inspect "$ref" >/dev/null 2>&1; then
        echo "imagekit-db-images: $ref already loaded"
        continue
    fi
    start=$(date +%s)
    docker load -i "$dir/$file"
    docker image inspect "$ref" >/dev/null
    echo "imagekit-db-images: $ref loaded from $file in $(( $(date +%s) - start )) s"
done
SCRIPT
chmod 0755 /usr/local/libexec/imagekit-db-images
cat > /etc/systemd/system/imagekit-db-images.service <<'UNIT'
[Unit]
Description=Load the database container images preloaded by imagekit into docker
Requires=docker.service
After=docker.service
Before=guest-agent.service
ConditionPathExists=/var/lib/imagekit/db-images/index.json

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/libexec/imagekit-db-images
TimeoutStartSec=900

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable imagekit-db-images.service
mkdir -p /etc/systemd/system/guest-agent.service.d
cat > /etc/systemd/system/guest-agent.service.d/50-imagekit-docker.conf <<'UNIT'
# imagekit: the agent runs the database as a docker container and talks to
# the daemon as soon as it starts; the database image must be loaded first.
[Unit]
Wants=docker.service imagekit-db-images.service
After=docker.service imagekit-db-images.service
UNIT
