#!/usr/bin/env bash
# Builds the Aufruf appliance image: a raw x86_64 GPT disk, EFI | root-a | root-b | data,
# from Debian packages, without Docker and without loop mounts. Run as root.
#
#   image/build.sh [--binary PATH] [--out DIR]
#
# --binary  the aufruf binary to put in (default: a release build made here, with the
#           screens on the display: `--features kms`)
# --out     where aufruf.raw, aufruf.raw.zst and the slot files go (default: image/out)
#
# Same inputs, same bytes: SOURCE_DATE_EPOCH (default: the last commit's time) fixes
# the time stamps, and the partition and file system ids are derived from it; two
# builds of one commit from one mirror state give the same disk, byte for byte. The
# Debian mirror is AUFRUF_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

binary=""
out="$repo/image/out"
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$(realpath "$2"); shift 2 ;;
        --out) out=$(realpath -m "$2"); shift 2 ;;
        *) echo "image/build.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "image/build.sh: run as root (mmdebstrap needs it)" >&2; exit 1; }

image/setup.sh
if [ -z "$binary" ]; then
    cargo build --release --locked -p aufruf-node --bin aufruf --features kms
    binary="$repo/target/release/aufruf"
fi
[ -x "$binary" ] || { echo "image/build.sh: no binary at $binary" >&2; exit 1; }

export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
mirror="${AUFRUF_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# The version names the kernel files, which systemd-boot sorts: the crate's version
# and the commit count, e.g. 0.1.0.412 (AUFRUF_IMAGE_VERSION overrides it).
version="${AUFRUF_IMAGE_VERSION:-$("$binary" --version | awk '{print $2}').$(git rev-list --count HEAD 2>/dev/null || echo 0)}"
work="$out/work"
rm -rf "$work"
mkdir -p "$work" "$out"
started=$(date +%s)

# Partition sizes in MiB. The data partition starts small and grows to fill the disk
# on first boot; each root slot leaves room for larger updates.
esp_mib=256
root_mib=768
data_mib=128

# --- The update key -----------------------------------------------------------------
# Made by the first build and kept (AUFRUF_UPDATE_KEYS, default image/keys, never
# committed): its public half goes into the image, its private half signs updates.
keys="${AUFRUF_UPDATE_KEYS:-$repo/image/keys}"
mkdir -p "$keys"
chmod 700 "$keys"
if [ ! -f "$keys/update.key" ]; then
    (umask 077 && openssl genpkey -algorithm ed25519 -out "$keys/update.key")
    echo "image: made the update key $keys/update.key; keep it safe, it signs updates"
fi
openssl pkey -in "$keys/update.key" -pubout -outform DER -out "$keys/update.pub"

# --- Root file system -------------------------------------------------------------
# Only what a headless or screen device needs. The kernel's initramfs must mount a
# squashfs root found by its partition label, and read the machine id from the data
# partition (ext4; files/machine-id.initramfs). Both go in before the kernel's package,
# whose installation builds the initramfs.
rootfs="$work/rootfs"
packages=(
    systemd systemd-sysv systemd-timesyncd udev kmod
    linux-image-amd64 initramfs-tools
    systemd-boot        # systemd-bless-boot: marks a slot good once the node is healthy
    dbus                # logind: the power button powers the device off cleanly
    iproute2 ca-certificates
    systemd-resolved libnss-resolve   # DNS: host names in the set-up file, time servers by name
    libfontconfig1 fonts-dejavu-core fonts-noto-core   # the screens' fonts
    libinput10 libxkbcommon0   # the screens' touch and keys (Slint's linuxkms backend)
)
mmdebstrap --mode=root --variant=minbase --quiet \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --essential-hook='mkdir -p "$1/etc/initramfs-tools" && printf "squashfs\nvirtio_blk\nvirtio_pci\next4\n" >> "$1/etc/initramfs-tools/modules"' \
    --essential-hook="install -D -m 0755 \"$repo/image/files/machine-id.initramfs\" \"\$1/etc/initramfs-tools/scripts/init-bottom/aufruf-machine-id\"" \
    --customize-hook="$repo/image/rootfs.sh \"\$1\" \"$binary\" \"$version\" \"$keys/update.pub\"" \
    bookworm "$rootfs" "$mirror"

# Names are looked up through systemd-resolved, with the DNS servers DHCP gives.
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$rootfs/etc/resolv.conf"

# --- Slot files: the root as squashfs and the kernel as one EFI file ---------------
kernel=$(ls "$rootfs"/boot/vmlinuz-* | sort -V | tail -n1)
initrd=$(ls "$rootfs"/boot/initrd.img-* | sort -V | tail -n1)
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
rm -f "$rootfs"/boot/vmlinuz-* "$rootfs"/boot/initrd.img-*

# /var lives on the data partition (journal, time stamps); the root keeps its mount point.
mv "$rootfs/var" "$work/var"
mkdir "$rootfs/var"
# mksquashfs takes its time stamps from SOURCE_DATE_EPOCH.
mksquashfs "$rootfs" "$out/root.squashfs" -noappend -comp zstd -quiet -no-progress
root_bytes=$(stat -c %s "$out/root.squashfs")
[ "$root_bytes" -le $((root_mib * 1024 * 1024)) ] || {
    echo "image/build.sh: root.squashfs ($root_bytes bytes) exceeds a ${root_mib} MiB slot" >&2
    exit 1
}
for slot in a b; do
    image/uki.sh "$work/vmlinuz" "$work/initrd.img" "$version" "$slot" "$out/aufruf-$version-$slot.efi"
done

# --- The signed update: the root and both kernel files, for devices running an older
# version (`aufruf update publish`, then devices fetch it) ---------------------------
image/bundle.sh "$version" "$out/root.squashfs" "$out/aufruf-$version-a.efi" \
    "$out/aufruf-$version-b.efi" "$keys/update.key" "$out/aufruf-$version.update"

# --- The EFI system partition -------------------------------------------------------
esp="$work/esp.img"
rm -f "$esp"
mkfs.vfat --invariant -C -F 32 -n AUFRUF -i "$(printf '%08x' $((SOURCE_DATE_EPOCH & 0xffffffff)))" "$esp" $((esp_mib * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/EFI/systemd ::/EFI/Linux ::/loader
mcopy -i "$esp" /usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" /usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/systemd/systemd-bootx64.efi
mcopy -i "$esp" "$repo/image/files/loader.conf" ::/loader/loader.conf
# Slot a is the one that is flashed: already blessed (no tries counter).
mcopy -i "$esp" "$out/aufruf-$version-a.efi" "::/EFI/Linux/aufruf-$version-a.efi"
mcopy -i "$esp" "$repo/image/files/aufruf.toml" ::/aufruf.toml

# --- The data partition: /var, the node's store and identity ------------------------
data="$work/data"
mkdir -p "$data/aufruf"
mv "$work/var" "$data/var"
rm -f "$work/data.img"
E2FSPROGS_FAKE_TIME="$SOURCE_DATE_EPOCH" mkfs.ext4 -q -L data \
    -U "$(image/uuid.sh "$SOURCE_DATE_EPOCH" data-fs)" \
    -E "root_owner=0:0,hash_seed=$(image/uuid.sh "$SOURCE_DATE_EPOCH" data-hash)" \
    -d "$data" "$work/data.img" "${data_mib}M"
# mke2fs (1.47.0) copies each file's access, change and modification times: the
# commit's time instead, in every inode, so two builds give the same partition.
(cd "$data" && find . | sed 's|^\.||; s|^$|/|') | while IFS= read -r path; do
    for field in atime mtime ctime; do
        printf 'sif "%s" %s @%s\nsif "%s" %s_extra 0\n' \
            "$path" "$field" "$SOURCE_DATE_EPOCH" "$path" "$field"
    done
done >"$work/data-times.debugfs"
# debugfs goes on after a failed command: anything on stderr but its banner is one.
E2FSPROGS_FAKE_TIME="$SOURCE_DATE_EPOCH" debugfs -w -f "$work/data-times.debugfs" \
    "$work/data.img" >/dev/null 2>"$work/data-times.log"
if grep -v '^debugfs [0-9]' "$work/data-times.log" >&2; then
    echo "image/build.sh: debugfs could not set the data partition's times" >&2
    exit 1
fi

# --- The disk -----------------------------------------------------------------------
disk="$out/aufruf.raw"
total_mib=$((1 + esp_mib + 2 * root_mib + data_mib + 1))
rm -f "$disk"
truncate -s "${total_mib}M" "$disk"
esp_start=1
root_a_start=$((esp_start + esp_mib))
root_b_start=$((root_a_start + root_mib))
data_start=$((root_b_start + root_mib))
sfdisk --quiet --no-reread --no-tell-kernel "$disk" <<EOF
label: gpt
label-id: $(image/uuid.sh "$SOURCE_DATE_EPOCH" disk)
unit: sectors
start=$((esp_start * 2048)), size=$((esp_mib * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp, uuid=$(image/uuid.sh "$SOURCE_DATE_EPOCH" esp)
start=$((root_a_start * 2048)), size=$((root_mib * 2048)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root-a, uuid=$(image/uuid.sh "$SOURCE_DATE_EPOCH" root-a)
start=$((root_b_start * 2048)), size=$((root_mib * 2048)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root-b, uuid=$(image/uuid.sh "$SOURCE_DATE_EPOCH" root-b)
start=$((data_start * 2048)), size=$((data_mib * 2048)), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=data, uuid=$(image/uuid.sh "$SOURCE_DATE_EPOCH" data)
EOF
put() { dd if="$1" of="$disk" bs=1M seek="$2" conv=notrunc,sparse status=none; }
put "$esp" "$esp_start"
put "$out/root.squashfs" "$root_a_start"
put "$work/data.img" "$data_start"

zstd -q -f -T0 -9 "$disk" -o "$disk.zst"
rm -rf "$work"
echo "image: $disk ($(du -h --apparent-size "$disk" | cut -f1) raw, $(du -h "$disk.zst" | cut -f1) compressed)"
echo "image: version $version, root $((root_bytes / 1024 / 1024)) MiB, update $out/aufruf-$version.update, built in $(( $(date +%s) - started )) s"
