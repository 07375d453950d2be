# Build redis from a source tarball (the original tool's community 3.2 row)
# and run it as a systemd service "redis". Usage: redis-src.sh URL
set -eu
set -o pipefail
url=$1
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends build-essential curl ca-certificates tcl
work=$(mktemp -d)
curl -fsSL --retry 3 "$url" | tar -xz -C "$work" --strip-components=1
(cd "$work" && unset ARCH && make -j"$(nproc)" && make PREFIX=/usr/local install)
getent passwd redis >/dev/null || useradd --system --home-dir /var/lib/redis --shell /usr/sbin/nologin redis
install -d -o redis -g redis -m 0750 /var/lib/redis /var/log/redis /etc/redis
sed -e 's|^dir .*|dir /var/lib/redis|' \
    -e 's|^logfile .*|logfile /var/log/redis/redis.log|' \
    -e 's|^pidfile .*|pidfile /run/redis/redis.pid|' \
    -e 's|^# *supervised .*|supervised systemd|' -e 's|^supervised .*|supervised systemd|' \
    -e 's|^daemonize .*|daemonize no|' \
    "$work/redis.conf" > /etc/redis/redis.conf
chown redis:redis /etc/redis/redis.conf
chmod 0640 /etc/redis/redis.conf
cat > /etc/systemd/system/redis.service <<'UNIT'
[Unit]
Description=Redis (built from source by imagekit)
After=network.target

[Service]
Type=notify
User=redis
Group=redis
RuntimeDirectory=redis
ExecStart=/usr/local/bin/redis-server /etc/redis/redis.conf
Restart=on-failure
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT
rm -rf "$work"
apt-get purge -y --auto-remove build-essential tcl || true
