#!/usr/bin/env bash
# The appliance image, booted: builds it (or takes one), lets devices enroll with an
# office on this machine at their first boot, and checks, in QEMU's software emulation
# (no KVM assumed):
#   - the node's /health answers within the bound, as the device the set-up file names;
#   - the token is gone from the FAT partition's set-up file;
#   - the data partition grew to fill the disk;
#   - the second boot comes up healthy without the enrollment service;
#   - a wrong set-up file is said on the console, and the device does not reboot;
#   - two devices (a kiosk and the display) find each other and replicate a ticket;
#   - the build's signed update checks with the key in the image, a changed byte not.
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
# Software emulation boots in about a minute on two cores; the bound leaves room for
# a loaded CI machine.
bound=${AUFRUF_BOOT_BOUND_SECONDS:-420}
started=$(date +%s)
work=$(mktemp -d /tmp/aufruf-image-test.XXXXXX)
declare -A vm_pid=()
serve_pid=""
cleanup() {
    for pid in "${vm_pid[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "image test: FAILED: $*" >&2
    for console in "$work"/*.console; do
        [ -f "$console" ] || continue
        echo "--- $(basename "$console" .console)'s console (last 60 lines) ---" >&2
        tail -n 60 "$console" | tr -d '\r' >&2
    done
    exit 1
}

if [ -z "$image" ]; then
    if [ -z "$binary" ]; then
        cargo build --locked -p aufruf-node --bin aufruf
        binary="$repo/target/debug/aufruf"
    fi
    AUFRUF_UPDATE_KEYS="$work/keys" image/build.sh --binary "$binary" --out "$work/out"
    image="$work/out/aufruf.raw"
    # The signed update the build wrote: good with the key the image carries, refused
    # with one byte changed.
    update=$(ls "$work/out"/aufruf-*.update)
    unsquashfs -cat "$work/out/root.squashfs" usr/share/aufruf/update.pub >"$work/image-key.pub"
    cmp -s "$work/image-key.pub" "$work/keys/update.pub" || fail "the image does not carry the update key"
    "$binary" update check "$update" --key "$work/image-key.pub" || fail "the build's update is refused"
    cp "$update" "$work/tampered.update"
    python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(-4096, 2); b = f.read(1); f.seek(-4096, 2); f.write(bytes([b[0] ^ 1]))' "$work/tampered.update"
    if "$binary" update check "$work/tampered.update" --key "$work/image-key.pub" 2>"$work/tampered.err"; then
        fail "a tampered update was taken"
    fi
    grep -q "not what its signed manifest says" "$work/tampered.err" || fail "the tampered update's refusal: $(cat "$work/tampered.err")"
    echo "image test: the signed update checks with the image's key, a changed byte is refused"
else
    image/setup.sh
fi
aufruf="${binary:-$repo/target/debug/aufruf}"
[ -x "$aufruf" ] || cargo build --locked -p aufruf-node --bin aufruf
built=$(date +%s)

# --- The office: a CA and its enrollment service on this machine ---------------------
"$aufruf" office init --dir "$work/office" --office zeitz >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
enroll_port=$(free_port)
serve() {
    "$aufruf" office serve-enrollment --dir "$work/office" --listen "127.0.0.1:$enroll_port" \
        >>"$work/serve.log" 2>&1 &
    serve_pid=$!
}
stop_serving() {
    kill "$serve_pid"
    wait "$serve_pid" 2>/dev/null || true
    serve_pid=""
}
api_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export MTOOLS_SKIP_CHECK=1

# An office open around the clock, so the test passes at any hour.
office_tables() {
    cat <<'EOF'
[office]
id = "zeitz"
name = "Bürgerbüro Zeitz (image test)"
timezone = "Europe/Berlin"

[[departments]]
id = "buergerbuero"
name = { de = "Bürgerbüro", en = "Citizen office" }
refuse_walk_ins_past_closing = false
[departments.hours]
mon = ["00:00-23:59"]
tue = ["00:00-23:59"]
wed = ["00:00-23:59"]
thu = ["00:00-23:59"]
fri = ["00:00-23:59"]
sat = ["00:00-23:59"]
sun = ["00:00-23:59"]

[[services]]
id = "anmeldung"
department = "buergerbuero"
name = { de = "Anmeldung", en = "Registration" }
prefix = "A"
expected_minutes = 5

[[desks]]
id = "desk-1"
name = "Platz 1"
department = "buergerbuero"
services = ["anmeldung"]

[[number_blocks]]
node = "kiosk-1"
first = 1
last = 999
EOF
}

# A device's disk as IT flashes it: larger than the image, its set-up file edited.
#   device <name> <role> <peers (TOML array)>
device() {
    local name=$1 role=$2 peers=$3 token
    token=$("$aufruf" office token --dir "$work/office" --node "$name" --role "$role")
    cp --sparse=always "$image" "$work/$name.raw"
    truncate -s 3G "$work/$name.raw"
    {
        # The guest reaches this machine's loopback at 10.0.2.2 (QEMU's user network).
        cat <<EOF
[node]
id = "$name"
role = "$role"
credentials = "/data/aufruf/credentials"
store = "/data/aufruf/store"
api = "0.0.0.0:7380"
api_token = "$api_token"
mdns = false
peers = $peers

[enroll]
office = "10.0.2.2:$enroll_port"
token = "$token"

EOF
        office_tables
    } >"$work/$name.toml"
    "$aufruf" config check "$work/$name.toml" >/dev/null || fail "the test's set-up file for $name is wrong"
    mcopy -o -i "$work/$name.raw@@1M" "$work/$name.toml" ::/aufruf.toml
    echo "$token" >"$work/$name.token"
}

# Boots a device's disk; its API (and sync port, if given) forwarded to this machine.
#   boot <name> <api port> [<sync port>]
boot() {
    local name=$1 api=$2 sync=${3:-}
    local forward="hostfwd=tcp:127.0.0.1:$api-:7380"
    [ -n "$sync" ] && forward="$forward,hostfwd=tcp:127.0.0.1:$sync-:7340"
    cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/$name.vars"
    : >"$work/$name.console"
    qemu-system-x86_64 -machine q35 -m 1024 -smp 2 -accel tcg \
        -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
        -drive if=pflash,format=raw,unit=1,file="$work/$name.vars" \
        -drive file="$work/$name.raw",format=raw,if=virtio,cache=writeback \
        -netdev "user,id=net0,$forward" -device virtio-net-pci,netdev=net0 \
        -display none -serial "file:$work/$name.console" \
        -monitor "unix:$work/$name.monitor,server=on,wait=off" \
        -no-reboot &
    vm_pid[$name]=$!
}
running() { kill -0 "${vm_pid[$1]}" 2>/dev/null; }
# Waits, within the bound, until <command…> succeeds while <name> runs.
#   eventually <name> <since> <what> <command…>
eventually() {
    local name=$1 since=$2 what=$3
    shift 3
    until "$@"; do
        # -no-reboot: a reboot would end QEMU.
        running "$name" || fail "$name stopped or rebooted while waiting for: $what"
        [ $(( $(date +%s) - since )) -lt "$bound" ] || fail "not within $bound s: $what"
        sleep 2
    done
}
health() { curl -fsS --max-time 5 "http://127.0.0.1:$1/health" 2>/dev/null; }
api() { curl -fsS --max-time 5 -H "Authorization: Bearer $api_token" "$@" 2>/dev/null; }
# The power button (ACPI): systemd stops the node and unmounts cleanly, so the FAT
# partition can be read here afterwards.
power_off() {
    local name=$1 since
    python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"system_powerdown\n")' "$work/$name.monitor"
    since=$(date +%s)
    while running "$name"; do
        [ $(( $(date +%s) - since )) -lt 180 ] || fail "$name did not power off within 180 s"
        sleep 1
    done
    wait "${vm_pid[$name]}" 2>/dev/null || true
    unset "vm_pid[$name]"
}

# --- First boot: enrollment --------------------------------------------------------------
serve
device display-1 display '[]'
display_api=$(free_port)
boot display-1 "$display_api"
since=$(date +%s)
eventually display-1 "$since" "display-1's /health" health "$display_api" >/dev/null
first_boot=$(( $(date +%s) - since ))
health "$display_api" | grep -q '"node":"display-1"' || fail "/health does not name display-1"
grep -q "enrolled with the office" "$work/display-1.console" ||
    fail "the console does not report the enrollment"
echo "image test: first boot healthy after ${first_boot} s"
power_off display-1

esp="$work/display-1.raw@@1M"
mtype -i "$esp" ::/aufruf.toml >"$work/after.toml"
grep -q "$(cat "$work/display-1.token")" "$work/after.toml" &&
    fail "the token is still on the FAT partition"
grep -q "^# token: redeemed" "$work/after.toml" || fail "the set-up file lost its [enroll] note"

# The data partition (the last) reaches the disk's end, and its file system with it.
disk="$work/display-1.raw"
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

# --- Second boot: enrolled, no enrollment service needed -----------------------------------
stop_serving
: >"$work/display-1.console"
boot display-1 "$display_api"
since=$(date +%s)
eventually display-1 "$since" "display-1's /health after a reboot" health "$display_api" >/dev/null
second_boot=$(( $(date +%s) - since ))
grep -q "already enrolled" "$work/display-1.console" || fail "the second boot enrolled again"
power_off display-1

# --- A wrong set-up file: said on the console, and no boot loop ----------------------------
sed 's/^role = "display"/role = "displai"/' "$work/after.toml" >"$work/wrong.toml"
mcopy -o -i "$esp" "$work/wrong.toml" ::/aufruf.toml
boot display-1 "$display_api"
since=$(date +%s)
eventually display-1 "$since" "the report of the wrong set-up file" \
    grep -q "the node stopped trying to start" "$work/display-1.console"
grep -q "aufruf.toml.*role" "$work/display-1.console" || fail "the console does not name the wrong field"
running display-1 || fail "the device did not stay up"
power_off display-1

# --- Two devices: a kiosk's ticket reaches the display -----------------------------------
# Each dials the other's sync port, forwarded to this machine.
serve
kiosk_api=$(free_port)
kiosk_sync=$(free_port)
display_sync=$(free_port)
device kiosk-1 kiosk "[\"10.0.2.2:$display_sync\"]"
sed -e 's/^role = "displai"/role = "display"/' \
    -e "s/^peers = .*/peers = [\"10.0.2.2:$kiosk_sync\"]/" "$work/after.toml" >"$work/display-1.toml"
mcopy -o -i "$esp" "$work/display-1.toml" ::/aufruf.toml
boot kiosk-1 "$kiosk_api" "$kiosk_sync"
boot display-1 "$display_api" "$display_sync"
since=$(date +%s)
draw() {
    api -X POST -H 'content-type: application/json' -d '{"service": "anmeldung", "kind": "qr"}' \
        "http://127.0.0.1:$kiosk_api/api/tickets" >"$work/ticket.json"
}
eventually kiosk-1 "$since" "a ticket drawn at kiosk-1 (enrolled, caught up from display-1)" draw
number=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["ticket"]["number"])' "$work/ticket.json")
shown() { api "http://127.0.0.1:$display_api/api/day" | grep -q "\"$number\""; }
eventually display-1 "$since" "ticket $number on display-1" shown
two_devices=$(( $(date +%s) - since ))
echo "image test: ticket $number drawn at kiosk-1 is on display-1, ${two_devices} s after both booted"
power_off kiosk-1
power_off display-1
stop_serving

echo "image test: passed; build $((built - started)) s, first boot to healthy ${first_boot} s, second ${second_boot} s, two devices ${two_devices} s, total $(( $(date +%s) - started )) s"
echo "image test: image $(du -h --apparent-size "$image" | cut -f1) raw, $(du -h "$image.zst" 2>/dev/null | cut -f1) compressed"
