#!/usr/bin/env bash
# Set up everything imagekit and its tests need on a Debian/Ubuntu host:
# system packages (apt), the project venv (.venv, with the system site packages
# so that Debian's python3-guestfs binding is importable) and imagekit itself.
# Idempotent: a second run only checks and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$1" >&2; [ $# -gt 1 ] && printf 'setup: hint: %s\n' "$2" >&2; exit 1; }

[ -r /etc/debian_version ] || die "this setup script supports Debian and Ubuntu hosts only" \
    "install libguestfs, its Python binding and qemu-img with your package manager, then create .venv by hand"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and sudo is missing" "run this script as root once"
    SUDO="sudo"
fi

# The packages: libguestfs and its binding, qemu-img, DIB's host tools, and
# what the tests need (busybox-static for the tiny test images, sshd for the
# remote-builder test, tmux for the shell tests, GNU patch for the engine);
# the devcloud's RabbitMQ and local compute, and `imagekit verify` (qemu for
# x86_64 and ppc64le guests, genisoimage for the ConfigDrive, the psql and
# mariadb clients); mmdebstrap, umoci and skopeo for the database images.
PACKAGES=(
    libguestfs-tools python3-guestfs qemu-utils linux-image-amd64
    debootstrap kpartx squashfs-tools dosfstools gdisk parted lvm2 sudo
    xfsprogs e2fsprogs util-linux udev procps curl ca-certificates
    python3-venv python3-dev gcc
    openssh-server openssh-client patch file
    busybox-static tmux
    qemu-user-static binfmt-support
    rabbitmq-server qemu-system-x86 qemu-system-ppc genisoimage
    mmdebstrap umoci skopeo
    postgresql-client mariadb-client
)
if [ "$(dpkg --print-architecture)" != amd64 ]; then
    PACKAGES=("${PACKAGES[@]/linux-image-amd64/linux-image-$(dpkg --print-architecture)}")
fi
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${#missing[@]} system packages: ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
else
    say "system packages: all ${#PACKAGES[@]} present"
fi

# Debian's rabbitmq-server starts the system's default node (rabbit@host, port
# 5672) when it is installed; imagekit never uses it (the devcloud runs a node
# of its own on its own port), so stop it and keep it from starting again.
# Cheap when there is nothing to do: no rabbitmqctl call unless it runs.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    if systemctl is-enabled --quiet rabbitmq-server 2>/dev/null \
            || systemctl is-active --quiet rabbitmq-server 2>/dev/null; then
        say "stopping and disabling the system's RabbitMQ node (the devcloud runs its own)"
        $SUDO systemctl disable --now rabbitmq-server >/dev/null 2>&1 \
            || say "warning: 'systemctl disable --now rabbitmq-server' failed; imagekit does not need it"
    fi
elif [ -x /etc/init.d/rabbitmq-server ]; then
    pid=$(cat /var/run/rabbitmq/pid 2>/dev/null || true)
    if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
        say "stopping the system's RabbitMQ node (the devcloud runs its own)"
        $SUDO /etc/init.d/rabbitmq-server stop >/dev/null 2>&1 || true
    fi
    if compgen -G '/etc/rc[2345].d/S*rabbitmq-server' >/dev/null && command -v update-rc.d >/dev/null; then
        $SUDO update-rc.d rabbitmq-server disable >/dev/null 2>&1 || true
    fi
fi

# Foreign architectures (ppc64le) run through qemu-user: binfmt_misc must be
# mounted, which a fresh machine may not have done.
if [ -d /proc/sys/fs/binfmt_misc ] && [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    $SUDO update-binfmts --enable >/dev/null 2>&1 || true
fi

# Host fix-ups DIB needs on kernels without device-mapper (see scripts/dib-host-setup.sh).
if [ -x scripts/dib-host-setup.sh ]; then
    scripts/dib-host-setup.sh
fi

# The venv: Debian's python3 (the only one with the guestfs binding).
PY=/usr/bin/python3
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import guestfs' 2>/dev/null; then
    say "creating .venv with $PY -m venv --system-site-packages"
    rm -rf .venv
    "$PY" -m venv --system-site-packages .venv
fi
stamp=.venv/.imagekit-installed
want=$(cat setup.py | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "installing imagekit and its Python dependencies into .venv"
    .venv/bin/pip install -q --upgrade pip 2>&1 | grep -v 'is ignored' || true
    .venv/bin/pip install -q -e ".[test]" 2>&1 | grep -v 'is ignored' || true
    .venv/bin/python -c 'import imagekit, guestfs, openstack, troveclient, sh, rich, yaml' \
        || die "the venv is incomplete" "remove .venv and run 'make setup' again"
    echo "$want" > "$stamp"
else
    say ".venv: up to date"
fi
say "done: $(.venv/bin/imagekit --version)"
