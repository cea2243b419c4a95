#!/usr/bin/env bash
# mmdebstrap's customize hook: turns the Debian root into the appliance's.
#   rootfs.sh <rootfs> <aufruf binary> <version> <update key's public half>
set -euo pipefail
root=$1 binary=$2 version=$3 update_key=$4
files="$(dirname "$0")/files"

install -m 0755 "$binary" "$root/usr/bin/aufruf"
install -D -m 0644 "$update_key" "$root/usr/share/aufruf/update.pub"
install -m 0644 "$files/aufruf.service" "$root/etc/systemd/system/aufruf.service"
install -m 0644 "$files/aufruf-failed.service" "$root/etc/systemd/system/aufruf-failed.service"
install -m 0644 "$files/aufruf-update.service" "$root/etc/systemd/system/aufruf-update.service"
install -m 0644 "$files/aufruf-update.timer" "$root/etc/systemd/system/aufruf-update.timer"
install -D -m 0644 "$files/boot-complete-timeout.conf" "$root/etc/systemd/system/boot-complete.target.d/aufruf.conf"
install -m 0644 "$files/fstab" "$root/etc/fstab"
install -m 0644 "$files/20-wired.network" "$root/etc/systemd/network/20-wired.network"
install -d "$root/usr/lib/repart.d"
install -m 0644 "$files/50-data.conf" "$root/usr/lib/repart.d/50-data.conf"
install -m 0644 "$files/60-aufruf-printer.rules" "$root/etc/udev/rules.d/60-aufruf-printer.rules"
echo aufruf > "$root/etc/hostname"
printf 'IMAGE_ID=aufruf\nIMAGE_VERSION=%s\n' "$version" >> "$root/etc/os-release"

# The node runs as its own user; the printer's udev rule gives that user the device.
chroot "$root" useradd --system --home-dir /data/aufruf --no-create-home \
    --shell /usr/sbin/nologin --groups lp,dialout aufruf

chroot "$root" systemctl enable aufruf.service aufruf-update.timer systemd-networkd.service \
    systemd-resolved.service systemd-timesyncd.service systemd-repart.service >/dev/null 2>&1
# Writable places on a read-only root: /efi (the set-up file, boot counting), /data
# (the node, /var) and /tmp.
mkdir -p "$root/efi" "$root/data"
# Empty: the initramfs binds the id kept on /data over it (files/machine-id.initramfs).
: > "$root/etc/machine-id"

# Kernel modules no office device needs.
for dir in "$root"/usr/lib/modules/*/kernel/drivers; do
    rm -rf "$dir"/{infiniband,isdn,media,net/wireless,staging,net/ethernet/mellanox}
done
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/*
