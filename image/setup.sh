#!/usr/bin/env bash
# Installs what building and booting the appliance image needs (idempotent, as root).
set -euo pipefail
packages=(
    mmdebstrap        # the root file system from Debian packages, no Docker
    squashfs-tools    # the read-only root
    dosfstools mtools # the EFI partition, written without mounting it
    fdisk             # sfdisk: the partition table
    e2fsprogs         # mkfs.ext4 -d: the data partition
    systemd-boot-efi  # systemd-boot and the EFI stub for the kernel files
    binutils          # objcopy: kernel, initramfs and command line as one EFI file
    zstd              # the compressed image
    qemu-system-x86 ovmf   # the boot test: UEFI in software emulation
    curl              # the boot test asks the node's /health
    openssl           # the update key and signatures
    python3           # small binary helpers in the scripts
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "image/setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
