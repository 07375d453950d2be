#!/bin/bash
# Sourced by 60-imagekit-database for container images: the docker ordering of
# the guest agent. The database's container image, and the unit that loads it
# before the agent starts, come with imagekit's db-image operation (the
# post-build plan of `imagekit make`, or `imagekit customize --db-image`).
set -eu
install -d -m 0755 /var/lib/imagekit/db-images
mkdir -p /etc/systemd/system/guest-agent.service.d
cat > /etc/systemd/system/guest-agent.service.d/50-imagekit-docker.conf <<'UNIT'
# imagekit: the agent runs the database as a docker container and talks to
# the daemon as soon as it starts; the database image must be loaded first.
[Unit]
Wants=docker.service imagekit-db-images.service
After=docker.service imagekit-db-images.service
UNIT
