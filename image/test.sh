#!/usr/bin/env bash
# The appliance image, booted: builds it (or takes one), lets a device enroll with an
# office on this machine at its first boot, and checks, in QEMU's software emulation
# (no KVM assumed):
#   - the node's /health answers within the bound, as the device the set-up file names;
#   - the token is gone from the FAT partition's set-up file;
#   - the data partition grew to fill the disk;
#   - the second boot comes up healthy without the enrollment service.
#
#   image/test.sh [--binary PATH] [--image aufruf.raw]
#
# Prints the build, boot-to-healthy and total times. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

binary=""
image=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$(realpath "$2"); shift 2 ;;
        --image) image=$(realpath "$2"); shift 2 ;;
        *) echo "image/test.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
# Software emulation boots in well under two minutes on two cores; the bound leaves
# room for a loaded CI machine.
bound=${AUFRUF_BOOT_BOUND_SECONDS:-420}
started=$(date +%s)
work=$(mktemp -d /tmp/aufruf-image-test.XXXXXX)
qemu_pid=""
serve_pid=""
cleanup() {
    [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "image test: FAILED: $*" >&2
    if [ -f "$work/console.log" ]; then
        echo "--- the device's console (last 60 lines) ---" >&2
        tail -n 60 "$work/console.log" | tr -d '\r' >&2
    fi
    exit 1
}

if [ -z "$image" ]; then
    if [ -z "$binary" ]; then
        cargo build --locked -p aufruf-node --bin aufruf
        binary="$repo/target/debug/aufruf"
    fi
    image/build.sh --binary "$binary" --out "$work/out"
    image="$work/out/aufruf.raw"
else
    image/setup.sh
fi
aufruf="${binary:-$repo/target/debug/aufruf}"
[ -x "$aufruf" ] || cargo build --locked -p aufruf-node --bin aufruf
built=$(date +%s)

# --- The office: a CA and its enrollment service on this machine ---------------------
"$aufruf" office init --dir "$work/office" --office zeitz >/dev/null
token=$("$aufruf" office token --dir "$work/office" --node display-1 --role display)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
enroll_port=$(free_port)
api_port=$(free_port)
"$aufruf" office serve-enrollment --dir "$work/office" --listen "127.0.0.1:$enroll_port" \
    >"$work/serve.log" 2>&1 &
serve_pid=$!

# --- The disk as IT flashes it: larger than the image, set-up file edited ------------
disk="$work/disk.raw"
cp --sparse=always "$image" "$disk"
truncate -s 3G "$disk"
api_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
{
    # The guest reaches this machine's loopback at 10.0.2.2 (QEMU's user network).
    cat <<EOF
[node]
id = "display-1"
role = "display"
credentials = "/data/aufruf/credentials"
store = "/data/aufruf/store"
api = "0.0.0.0:7380"
api_token = "$api_token"
mdns = false

[enroll]
office = "10.0.2.2:$enroll_port"
token = "$token"

EOF
    # The office's configuration, so the device need not wait for a peer to bring it.
    sed -n '/^\[office\]/,$p' aufruf.toml
} >"$work/aufruf.toml"
"$aufruf" config check "$work/aufruf.toml" >/dev/null || fail "the test's set-up file is wrong"
export MTOOLS_SKIP_CHECK=1
esp="$disk@@1M"
mcopy -o -i "$esp" "$work/aufruf.toml" ::/aufruf.toml

boot() {
    cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd" 2>/dev/null || true
    : >"$work/console.log"
    qemu-system-x86_64 -machine q35 -m 1024 -smp 2 -accel tcg \
        -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
        -drive if=pflash,format=raw,unit=1,file="$work/vars.fd" \
        -drive file="$disk",format=raw,if=virtio,cache=writeback \
        -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$api_port-:7380" \
        -device virtio-net-pci,netdev=net0 \
        -display none -serial "file:$work/console.log" \
        -monitor "unix:$work/monitor.sock,server=on,wait=off" \
        -no-reboot &
    qemu_pid=$!
}
wait_healthy() {
    local since=$1
    while :; do
        if health=$(curl -fsS --max-time 5 "http://127.0.0.1:$api_port/health" 2>/dev/null); then
            echo "$health"
            return 0
        fi
        kill -0 "$qemu_pid" 2>/dev/null || fail "QEMU ended before the node answered"
        [ $(( $(date +%s) - since )) -lt "$bound" ] || fail "no /health within $bound s"
        sleep 2
    done
}
shutdown_guest() {
    # The power button (ACPI): systemd stops the node and unmounts cleanly, so the
    # FAT partition can be read here afterwards.
    python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"system_powerdown\n")' "$work/monitor.sock"
    local since
    since=$(date +%s)
    while kill -0 "$qemu_pid" 2>/dev/null; do
        [ $(( $(date +%s) - since )) -lt 180 ] || fail "the device did not power off within 180 s"
        sleep 1
    done
    wait "$qemu_pid" 2>/dev/null || true
    qemu_pid=""
}

# --- First boot: enrollment ------------------------------------------------------------
boot
boot_started=$(date +%s)
health=$(wait_healthy "$boot_started")
first_boot=$(( $(date +%s) - boot_started ))
echo "image test: first boot healthy after ${first_boot} s: $health"
echo "$health" | grep -q '"display-1"' || fail "/health does not name display-1: $health"
grep -q "enrolled with the office" "$work/console.log" ||
    fail "the console does not report the enrollment"
shutdown_guest

mtype -i "$esp" ::/aufruf.toml >"$work/after.toml"
grep -q "$token" "$work/after.toml" && fail "the token is still on the FAT partition"
grep -q "^# token: redeemed" "$work/after.toml" || fail "the set-up file lost its [enroll] note"

# The data partition (the last) reaches the disk's end, and its file system with it.
read -r data_start data_size < <(sfdisk -d "$disk" | awk -F'[=,]' '/name="data"/ {gsub(/ /,""); print $2, $4}')
disk_sectors=$(( $(stat -c %s "$disk") / 512 ))
[ $(( data_start + data_size )) -ge $(( disk_sectors - 2048 )) ] ||
    fail "the data partition did not grow: $data_size sectors from $data_start of $disk_sectors"
fs_bytes=$(python3 - "$disk" "$data_start" <<'EOF'
import struct, sys
with open(sys.argv[1], 'rb') as f:
    f.seek(int(sys.argv[2]) * 512 + 1024)
    sb = f.read(1024)
blocks = struct.unpack_from('<I', sb, 4)[0] | (struct.unpack_from('<I', sb, 0x150)[0] << 32)
print(blocks * (1024 << struct.unpack_from('<I', sb, 24)[0]))
EOF
)
[ "$fs_bytes" -ge $(( (data_size - 2048) * 512 )) ] ||
    fail "the data file system did not grow: $fs_bytes bytes in a partition of $((data_size * 512))"
echo "image test: data partition grew to $((data_size / 2048)) MiB, its file system to $((fs_bytes / 1048576)) MiB"

# --- Second boot: enrolled, no enrollment service needed -------------------------------
kill "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
serve_pid=""
boot
boot_started=$(date +%s)
health=$(wait_healthy "$boot_started")
second_boot=$(( $(date +%s) - boot_started ))
echo "$health" | grep -q '"display-1"' || fail "/health does not name display-1 after a reboot"
grep -q "already enrolled" "$work/console.log" || fail "the second boot enrolled again"
shutdown_guest

# --- A wrong set-up file: said on the console, and no boot loop -------------------------
sed 's/^role = "display"/role = "displai"/' "$work/after.toml" >"$work/wrong.toml"
mcopy -o -i "$esp" "$work/wrong.toml" ::/aufruf.toml
boot
boot_started=$(date +%s)
until grep -q "the node stopped trying to start" "$work/console.log"; do
    # -no-reboot: a reboot would end QEMU.
    kill -0 "$qemu_pid" 2>/dev/null || fail "the device rebooted or stopped over a wrong set-up file"
    [ $(( $(date +%s) - boot_started )) -lt "$bound" ] ||
        fail "no report of the wrong set-up file within $bound s"
    sleep 2
done
grep -q "aufruf.toml.*role" "$work/console.log" || fail "the console does not name the wrong field"
kill -0 "$qemu_pid" 2>/dev/null || fail "the device did not stay up"
shutdown_guest

echo "image test: passed; build $((built - started)) s, first boot to healthy ${first_boot} s, second ${second_boot} s, total $(( $(date +%s) - started )) s"
echo "image test: image $(du -h --apparent-size "$image" | cut -f1) raw, $(du -h "$image.zst" 2>/dev/null | cut -f1) compressed"
