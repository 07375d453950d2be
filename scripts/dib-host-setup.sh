#!/usr/bin/env bash
# Host fix-ups diskimage-builder needs on this kind of machine. Idempotent;
# called by scripts/setup.sh, safe to run by hand.
#
#  * Kernels without device-mapper: DIB maps partitions with `kpartx` and
#    expects /dev/mapper/loopXpN. We install two small stand-ins in
#    /usr/local/sbin (first in sudo's secure_path) that map partitions with
#    the kernel's own loop partitions (partx) and symlink
#    /dev/mapper/loopXpN -> ../loopXpN. They are installed ONLY when
#    device-mapper is missing, and removed again once it is present.
#  * binfmt_misc (foreign-architecture builds, e.g. ppc64el): mounted and the
#    qemu-user handlers enabled when the kernel supports it.
set -euo pipefail

say() { printf 'dib-host-setup: %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { say "error: not root and sudo is missing"; exit 1; }
    SUDO="sudo"
fi

MARK="imagekit-dm-shim"
SBIN=${IMAGEKIT_SHIM_DIR:-/usr/local/sbin}

has_device_mapper() {
    grep -qw device-mapper /proc/misc 2>/dev/null
}

is_our_shim() {
    [ -f "$1" ] && grep -q "$MARK" "$1" 2>/dev/null
}

install_file() {   # install_file DEST (content on stdin)
    local tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [ -f "$1" ] && cmp -s "$tmp" "$1"; then
        rm -f "$tmp"
        return 1
    fi
    $SUDO install -m 0755 "$tmp" "$1"
    rm -f "$tmp"
}

kpartx_shim() {
cat <<'EOF'
#!/bin/bash
# imagekit-dm-shim: kpartx stand-in for kernels without device-mapper.
# Installed by imagekit's scripts/dib-host-setup.sh; removed by it once the
# kernel has device-mapper. Maps partitions of a loop device with the
# kernel's loop partitions (partx) and makes /dev/mapper/<loopXpN> a symlink
# to /dev/<loopXpN>, which is what diskimage-builder expects.
# Supported: -a / -u (add or update), -d (delete), -l (list); -v, -s, -f,
# -g are accepted; the last argument is a block device or an image file.
set -euo pipefail
action="" verbose=0 dev=""
while [ $# -gt 0 ]; do
    case "$1" in
        -p|-t|-r) shift 2; continue ;;
        -*)
            opts=${1#-}
            while [ -n "$opts" ]; do
                case "${opts:0:1}" in
                    a|u) action=add ;;
                    d) action=del ;;
                    l) action=list ;;
                    v) verbose=1 ;;
                    s|f|g|n|b) ;;
                    *) echo "kpartx (imagekit shim): unsupported option -${opts:0:1}" >&2; exit 1 ;;
                esac
                opts=${opts:1}
            done ;;
        *) dev=$1 ;;
    esac
    shift
done
[ -n "$action" ] && [ -n "$dev" ] || {
    echo "usage: kpartx -a|-u|-d|-l [-v] DEVICE (imagekit shim, no device-mapper)" >&2; exit 1; }

if [ -f "$dev" ]; then            # an image file: use (or make) its loop device
    loop=$(losetup -j "$dev" -O NAME --noheadings | head -n1)
    if [ -z "$loop" ]; then
        [ "$action" = del ] && exit 0
        loop=$(losetup -f --show "$dev")
    fi
    dev=$loop
fi
[ -b "$dev" ] || { echo "kpartx (imagekit shim): $dev is not a block device" >&2; exit 1; }
base=$(basename "$dev")

parts() { partx -g -o NR,START,SECTORS "$dev" 2>/dev/null || true; }

case "$action" in
    add)
        partx -u "$dev" 2>/dev/null || partx -a "$dev"
        mkdir -p /dev/mapper
        while read -r nr start sectors; do
            [ -n "$nr" ] || continue
            node=/dev/${base}p$nr
            for _ in $(seq 50); do [ -b "$node" ] && break; sleep 0.1; done
            [ -b "$node" ] || { echo "kpartx (imagekit shim): $node did not appear" >&2; exit 1; }
            ln -sfn "../${base}p$nr" "/dev/mapper/${base}p$nr"
            if [ "$verbose" = 1 ]; then
                echo "add map ${base}p$nr (0:0): 0 $sectors linear $dev $start"
            fi
        done < <(parts)
        ;;
    del)
        for link in /dev/mapper/"${base}"p*; do
            [ -L "$link" ] || continue
            rm -f "$link"
            [ "$verbose" = 1 ] && echo "del devmap : $(basename "$link")"
        done
        partx -d "$dev" 2>/dev/null || true
        ;;
    list)
        while read -r nr start sectors; do
            [ -n "$nr" ] && echo "${base}p$nr : 0 $sectors $dev $start"
        done < <(parts)
        ;;
esac
EOF
}

dmsetup_shim() {
cat <<'EOF'
#!/bin/bash
# imagekit-dm-shim: dmsetup stand-in for kernels without device-mapper.
# Installed by imagekit's scripts/dib-host-setup.sh next to its kpartx shim.
# Knows the calls diskimage-builder makes: `mknodes` (nothing to do: the
# partitions are real loop partitions) and `remove loopXpN` (drop the
# /dev/mapper symlink and the kernel partition). Everything else fails.
set -euo pipefail
args=()
for a in "$@"; do
    case "$a" in
        --noudevsync|--noudevrules|--verifyudev|-v|--verbose|-f|--force) ;;
        *) args+=("$a") ;;
    esac
done
cmd=${args[0]:-}
case "$cmd" in
    mknodes) exit 0 ;;
    ls|info|status|table) echo "No devices found"; exit 0 ;;
    version) echo "imagekit dmsetup shim: kernel without device-mapper (partx + /dev/mapper symlinks)"; exit 0 ;;
    remove)
        name=$(basename "${args[1]:-}")
        link=/dev/mapper/$name
        if [ ! -L "$link" ]; then
            echo "Device $name not found" >&2
            echo "Command failed." >&2
            exit 1
        fi
        rm -f "$link"
        if [[ "$name" =~ ^(loop[0-9]+)p([0-9]+)$ ]] && [ -b "/dev/${BASH_REMATCH[1]}" ]; then
            partx -d --nr "${BASH_REMATCH[2]}" "/dev/${BASH_REMATCH[1]}" 2>/dev/null || true
        fi
        exit 0 ;;
    *)
        echo "dmsetup (imagekit shim): '$cmd' is not available: this kernel has no device-mapper" >&2
        exit 1 ;;
esac
EOF
}

if has_device_mapper; then
    for f in kpartx dmsetup; do
        if is_our_shim "$SBIN/$f"; then
            $SUDO rm -f "$SBIN/$f"
            say "device-mapper present: removed the $f shim from $SBIN"
        fi
    done
else
    for f in kpartx dmsetup; do
        if [ -e "$SBIN/$f" ] && ! is_our_shim "$SBIN/$f"; then
            say "warning: $SBIN/$f exists and is not imagekit's shim; left alone"
            continue
        fi
        if "${f}_shim" | install_file "$SBIN/$f"; then
            say "no device-mapper in this kernel: installed the $f shim in $SBIN"
        fi
    done
fi

# binfmt_misc for foreign-architecture builds (ppc64el through qemu-user).
if [ -d /proc/sys/fs/binfmt_misc ] && [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    if $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null; then
        say "mounted binfmt_misc"
    fi
fi
if [ -e /proc/sys/fs/binfmt_misc/register ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-ppc64le ] \
        && command -v update-binfmts >/dev/null; then
    $SUDO update-binfmts --enable >/dev/null 2>&1 || true
fi
exit 0
