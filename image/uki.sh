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
# objcopy (2.40) writes the time of the build into the PE header: the commit's time
# (SOURCE_DATE_EPOCH) instead, and the header's checksum summed again as objcopy sums
# it, so two builds of one commit give the same file.
python3 - "$out" "${SOURCE_DATE_EPOCH:-0}" <<'PY'
import struct
import sys

path, epoch = sys.argv[1], int(sys.argv[2])
if sys.byteorder != "little":
    sys.exit("uki.sh: the PE checksum is summed as little-endian words")
data = bytearray(open(path, "rb").read())
pe = struct.unpack_from("<I", data, 0x3C)[0]
if data[pe:pe + 4] != b"PE\0\0":
    sys.exit(f"uki.sh: {path} is not a PE file")
struct.pack_into("<I", data, pe + 8, epoch & 0xFFFFFFFF)  # TimeDateStamp
checksum_at = pe + 24 + 64  # the optional header's CheckSum
struct.pack_into("<I", data, checksum_at, 0)
padded = bytes(data) + (b"\0" if len(data) % 2 else b"")
total = sum(memoryview(padded).cast("H"))
while total >> 16:
    total = (total & 0xFFFF) + (total >> 16)
struct.pack_into("<I", data, checksum_at, (total + len(data)) & 0xFFFFFFFF)
with open(path, "wb") as out:
    out.write(data)
PY
