#!/usr/bin/env bash
# One slot's kernel as a single EFI file (a unified kernel image): systemd's EFI stub
# with the kernel, the initramfs, the command line and an os-release naming the version.
#   uki.sh <vmlinuz> <initrd> <version> <slot a|b> <out.efi>
set -euo pipefail
vmlinuz=$1 initrd=$2 version=$3 slot=$4 out=$5
case "$slot" in a|b) ;; *) echo "uki.sh: slot must be a or b" >&2; exit 2 ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# panic=10: a kernel that cannot mount its root reboots after 10 s, and systemd-boot
# counts the try, instead of hanging. The root is read-only squashfs.
printf 'root=PARTLABEL=root-%s rootfstype=squashfs ro panic=10 console=tty1 console=ttyS0,115200 systemd.show_status=auto' "$slot" > "$tmp/cmdline"
cat > "$tmp/os-release" <<OS
NAME="Aufruf"
ID=aufruf
PRETTY_NAME="Aufruf $version (slot $slot)"
VERSION_ID=$version
IMAGE_ID=aufruf
IMAGE_VERSION=$version
OS
# Section addresses as systemd's stub expects them (systemd 252; ukify places them the
# same way): small sections first, the kernel and the initramfs far enough apart.
objcopy \
    --add-section .osrel="$tmp/os-release" --change-section-vma .osrel=0x20000 \
    --add-section .cmdline="$tmp/cmdline" --change-section-vma .cmdline=0x30000 \
    --add-section .linux="$vmlinuz" --change-section-vma .linux=0x2000000 \
    --add-section .initrd="$initrd" --change-section-vma .initrd=0x3000000 \
    /usr/lib/systemd/boot/efi/linuxx64.efi.stub "$out"
