# Build MongoDB's core from a source tarball (the original tool's community
# 3.4 row; takes hours) and run it as systemd service "mongod".
# Usage: mongodb-src.sh URL
set -eu
set -o pipefail
url=$1
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends build-essential scons curl ca-certificates \
    libssl-dev libpcap-dev python-is-python2 2>/dev/null \
    || apt-get install -y --no-install-recommends build-essential scons curl ca-certificates libssl-dev
work=$(mktemp -d)
curl -fsSL --retry 3 "$url" | tar -xz -C "$work" --strip-components=1
(cd "$work" && unset ARCH && scons -j"$(nproc)" --prefix=/usr core install)
getent passwd mongodb >/dev/null || useradd --system --home-dir /var/lib/mongodb --shell /usr/sbin/nologin mongodb
install -d -o mongodb -g mongodb -m 0750 /var/lib/mongodb
install -d -o mongodb -g mongodb -m 0755 /var/log/mongodb
cat > /etc/mongod.conf <<'CONF'
storage:
  dbPath: /var/lib/mongodb
  journal:
    enabled: true
  engine: wiredTiger
systemLog:
  destination: file
  path: /var/log/mongodb/mongod.log
  logAppend: true
  verbosity: 0
security:
  authorization: enabled
net:
  bindIp: 0.0.0.0
CONF
cat > /etc/systemd/system/mongod.service <<'UNIT'
[Unit]
Description=MongoDB (built from source by imagekit)
After=network.target

[Service]
User=mongodb
Group=mongodb
ExecStart=/usr/bin/mongod --config /etc/mongod.conf
LimitNOFILE=64000
LimitNPROC=64000

[Install]
WantedBy=multi-user.target
UNIT
rm -rf "$work"
