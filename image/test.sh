#!/usr/bin/env bash
# The appliance image, booted: builds it (or takes one), lets devices enroll with an
# office on this machine at their first boot, and checks, in QEMU's software emulation
# (no KVM assumed):
#   - the node's /health answers within the bound, as the device the set-up file names;
#   - the token is gone from the FAT partition's set-up file;
#   - the data partition grew to fill the disk;
#   - a wrong set-up file is said on the console, and the device does not reboot;
#   - two devices (a kiosk and the display) find each other and replicate a ticket;
#   - the build's signed update checks with the key in the image, a changed byte not;
#   - updates, published on this machine: the device boots again without the
#     enrollment service, enrolled, with the machine id of its first boot and the
#     store it caught up before; it fetches
#     a newer version and restarts into slot b; slot b corrupted, every try fails and
#     the device falls back to slot a; there it fetches the next version, boots it,
#     and the new version answers /health.
#
#   image/test.sh [--binary PATH] [--image aufruf.raw [--keys DIR]]
#
# With --image, the update steps need the build's folder (root.squashfs and the kernel
# files beside the image) and its update key (--keys, the build's AUFRUF_UPDATE_KEYS).
#
# Prints the build, boot-to-healthy and total times. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

binary=""
image=""
keys=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$(realpath "$2"); shift 2 ;;
        --image) image=$(realpath "$2"); shift 2 ;;
        --keys) keys=$(realpath "$2"); shift 2 ;;
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
updates_pid=""
cleanup() {
    for pid in "${vm_pid[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
    [ -n "$updates_pid" ] && kill "$updates_pid" 2>/dev/null || true
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
        cargo build --locked -p aufruf-node --bin aufruf --features kms
        binary="$repo/target/debug/aufruf"
    fi
    AUFRUF_UPDATE_KEYS="$work/keys" image/build.sh --binary "$binary" --out "$work/out"
    image="$work/out/aufruf.raw"
    keys="$work/keys"
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
    local name=$1 role=$2 peers=$3 token enroll_host=10.0.2.2
    [ "$name" = display-1 ] && enroll_host=_gateway
    token=$("$aufruf" office token --dir "$work/office" --node "$name" --role "$role")
    cp --sparse=always "$image" "$work/$name.raw"
    truncate -s 3G "$work/$name.raw"
    {
        # The guest reaches this machine's loopback at 10.0.2.2 (QEMU's user network),
        # its default gateway, which systemd-resolved names `_gateway`: display-1
        # finds the office and its updates by that name, through the image's DNS.
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
office = "$enroll_host:$enroll_port"
token = "$token"

EOF
        office_tables
    } >"$work/$name.toml"
    "$aufruf" config check "$work/$name.toml" >/dev/null || fail "the test's set-up file for $name is wrong"
    mcopy -o -i "$work/$name.raw@@1M" "$work/$name.toml" ::/aufruf.toml
    echo "$token" >"$work/$name.token"
}

# Boots a device's disk; its API (and sync port, if given) forwarded to this machine.
# A reboot ends QEMU, unless `reboots` is set (e.g. `reboots=" " boot …`).
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
        ${reboots:--no-reboot} &
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
# Sends a command to <name>'s QEMU monitor and waits for its answer (the next
# prompt), so that the command is not lost with a connection closed too soon.
#   monitor <name> <command>
monitor() {
    python3 - "$work/$1.monitor" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
def until_prompt():
    seen = b""
    while b"(qemu)" not in seen:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("the monitor closed")
        seen += chunk
until_prompt()
s.sendall(sys.argv[2].encode() + b"\n")
until_prompt()
EOF
}
# The power button (ACPI), pressed again every 30 s should a press come too early:
# systemd stops the node and unmounts cleanly, so the FAT partition can be read here
# afterwards.
power_off() {
    local name=$1 since pressed=0 now
    since=$(date +%s)
    while running "$name"; do
        now=$(date +%s)
        if [ $(( now - pressed )) -ge 30 ]; then
            monitor "$name" system_powerdown || true
            pressed=$now
        fi
        [ $(( now - since )) -lt 180 ] || fail "$name did not power off within 180 s"
        sleep 1
    done
    wait "${vm_pid[$name]}" 2>/dev/null || true
    unset "vm_pid[$name]"
}
# Whether <name>'s display shows its screen: in QEMU's picture of it, at least a
# fifth of the pixels have the screens' background colour (#eef1f4,
# ui/ui/theme.slint) and a third the panels' white, where the kernel's console is
# black. The picture stays in the test's folder as <name>.ppm.
shows_screen() {
    local picture="$work/$1.ppm"
    rm -f "$picture"
    monitor "$1" "screendump $picture" >/dev/null 2>&1 || return 1
    python3 - "$picture" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
magic, width, height, depth, pixels = data.split(maxsplit=4)
assert magic == b"P6" and depth == b"255"
count = int(width) * int(height)
colours = [pixels[i:i + 3] for i in range(0, count * 3, 3)]
background = colours.count(b"\xee\xf1\xf4")
panels = colours.count(b"\xff\xff\xff")
sys.exit(0 if background * 5 >= count and panels * 3 >= count else 1)
EOF
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
# The machine id is made at the first boot and kept on data (the root is read-only).
machine_id=$(tr -d '\r' <"$work/display-1.console" |
    sed -n 's/^aufruf: machine id \([0-9a-f]\{32\}\), made and kept on data$/\1/p')
[ -n "$machine_id" ] || fail "the console does not report a machine id made and kept on data"
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

# --- A wrong set-up file: said on the console, and no boot loop ----------------------------
stop_serving
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
# The kiosk dials the display's sync port, forwarded to this machine, by the host name
# `_gateway` (systemd-resolved's name for the default gateway, QEMU's host): a static
# peer by name, looked up in the booted image. The display dials nobody, so the
# ticket crosses only if that name was looked up and dialled.
kiosk_api=$(free_port)
kiosk_sync=$(free_port)
display_sync=$(free_port)
device kiosk-1 kiosk "[\"_gateway:$display_sync\"]"
# The display draws its screen on QEMU's display (KMS, no window system).
sed -e 's/^role = "displai"/role = "display"/' \
    -e "s/^peers = .*/peers = []/" \
    -e 's/^mdns = false/mdns = false\nscreen = true/' "$work/after.toml" >"$work/display-1.toml"
mcopy -o -i "$esp" "$work/display-1.toml" ::/aufruf.toml
serve
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
eventually display-1 "$since" "display-1's screen on its display" shows_screen display-1
echo "image test: display-1 draws its screen on the display ($(head -c 20 "$work/display-1.ppm" | sed -n 2p) pixels)"
power_off kiosk-1
power_off display-1
stop_serving

# --- Updates: fetched, a broken slot falls back, the next version boots ------------------
updates=skipped
out=$(dirname "$image")
if [ -n "$keys" ] && [ -f "$keys/update.key" ] && [ -f "$out/root.squashfs" ]; then
    updates_started=$(date +%s)
    v1=$(unsquashfs -cat "$out/root.squashfs" usr/lib/os-release | sed -n 's/^IMAGE_VERSION=//p')
    [ -n "$v1" ] || fail "the image's os-release names no IMAGE_VERSION"
    v2="$v1.1"
    v3="$v1.2"
    # An update to version <v>: the image's root naming <v> in its os-release, and
    # kernel files for <v> made from the image's kernel and initramfs.
    unsquashfs -q -no-progress -d "$work/rootfs" "$out/root.squashfs"
    objcopy --dump-section .linux="$work/vmlinuz" --dump-section .initrd="$work/initrd.img" \
        "$(ls "$out"/aufruf-*-a.efi | head -n1)" "$work/scratch.efi"
    make_update() {
        local v=$1 dir="$work/update-$1"
        mkdir -p "$dir"
        sed -i "s/^IMAGE_VERSION=.*/IMAGE_VERSION=$v/" "$work/rootfs/usr/lib/os-release"
        mksquashfs "$work/rootfs" "$dir/root.squashfs" -noappend -comp zstd -Xcompression-level 3 \
            -quiet -no-progress
        for slot in a b; do
            image/uki.sh "$work/vmlinuz" "$work/initrd.img" "$v" "$slot" "$dir/$slot.efi"
        done
        image/bundle.sh "$v" "$dir/root.squashfs" "$dir/a.efi" "$dir/b.efi" "$keys/update.key" \
            "$work/aufruf-$v.update"
        rm -rf "$dir"
    }
    make_update "$v2"
    make_update "$v3"
    rm -rf "$work/rootfs"
    image_key="$work/update.pub"
    unsquashfs -cat "$out/root.squashfs" usr/share/aufruf/update.pub >"$image_key"
    "$aufruf" update publish "$work/aufruf-$v2.update" --dir "$work/published" --key "$image_key" ||
        fail "publishing $v2"
    update_port=$(free_port)
    "$aufruf" update serve --dir "$work/published" --listen "127.0.0.1:$update_port" \
        >>"$work/updates.log" 2>&1 &
    updates_pid=$!
    printf '\n[update]\nsource = "_gateway:%s"\n' "$update_port" >>"$work/display-1.toml"
    "$aufruf" config check "$work/display-1.toml" >/dev/null || fail "the set-up file with [update]"
    mcopy -o -i "$esp" "$work/display-1.toml" ::/aufruf.toml
    image_version() { health "$display_api" | python3 -c 'import json, sys; print(json.load(sys.stdin)["image"])'; }

    # 1. The device fetches $v2, writes slot b and restarts (which ends QEMU here).
    : >"$work/display-1.console"
    boot display-1 "$display_api"
    since=$(date +%s)
    eventually display-1 "$since" "display-1's /health before the update" health "$display_api" >/dev/null
    [ "$(image_version)" = "$v1" ] || fail "display-1 runs $(image_version), not $v1"
    # A reboot, with no enrollment service: the identity and the store on /data
    # survived (the store caught up with kiosk-1 before, so it does not wait again).
    grep -q "already enrolled" "$work/display-1.console" || fail "display-1 enrolled again"
    grep -q "aufruf: machine id $machine_id, kept on data" "$work/display-1.console" ||
        fail "display-1's machine id $machine_id did not survive a reboot"
    grep -q "the store is new" "$work/display-1.console" && fail "display-1's store did not survive a reboot"
    while running display-1; do
        [ $(( $(date +%s) - since )) -lt "$bound" ] || fail "display-1 did not restart for $v2 within $bound s"
        sleep 2
    done
    wait "${vm_pid[display-1]}" 2>/dev/null || true
    unset "vm_pid[display-1]"
    grep -q "$v2 written to slot b" "$work/display-1.console" || fail "no word of $v2 being written"
    mdir -b -i "$esp" ::/EFI/Linux | grep -q "aufruf-$v2-b+3.efi" || fail "slot b's kernel file with 3 tries is missing"
    fetched=$(( $(date +%s) - since ))
    echo "image test: display-1 fetched $v2, wrote slot b and restarted ${fetched} s after booting"

    # 2. Slot b broken (its squashfs superblock stays, the rest is zeros): each try
    # fails to mount the root and reboots; after three, systemd-boot starts slot a.
    # Meanwhile the office published $v3.
    "$aufruf" update publish "$work/aufruf-$v3.update" --dir "$work/published" --key "$image_key" >/dev/null ||
        fail "publishing $v3"
    read -r root_b_start root_b_size < <(sfdisk -d "$disk" | awk -F'[=,]' '/name="root-b"/ {gsub(/ /,""); print $2, $4}')
    fallocate --punch-hole --offset $(( root_b_start * 512 + 4096 )) \
        --length $(( root_b_size * 512 - 4096 )) "$disk"
    [ "$(dd if="$disk" bs=4096 skip=$(( root_b_start / 8 + 1 )) count=1 status=none | tr -d '\0' | wc -c)" = 0 ] ||
        fail "slot b was not zeroed"
    : >"$work/display-1.console"
    reboots=" " boot display-1 "$display_api"
    since=$(date +%s)
    # 3. From slot a it fetches $v3, writes slot b again, restarts into it, and slot b
    # counts as good once the node is healthy.
    is_v3() { [ "$(image_version 2>/dev/null)" = "$v3" ]; }
    eventually display-1 "$since" "$v3 answering /health after the fallback" is_v3
    fell_back=$(( $(date +%s) - since ))
    tries=$(grep -c "Rebooting automatically due to panic= boot argument" "$work/display-1.console" || true)
    [ "$tries" -eq 3 ] || fail "slot b was tried $tries times, not 3"
    grep -q "update: running $v1; $v3 written to slot b" "$work/display-1.console" ||
        fail "slot a ($v1) did not write $v3"
    # The update service runs only after systemd-bless-boot: its word on $v3 means
    # slot b counts as good.
    eventually display-1 "$since" "$v3 checking for updates after it booted" \
        grep -q "update: running $v3;.*up to date" "$work/display-1.console"
    power_off display-1
    entries=$(mdir -b -i "$esp" ::/EFI/Linux | xargs -n1 basename | sort | tr '\n' ' ')
    [ "$entries" = "aufruf-$v1-a.efi aufruf-$v3-b.efi " ] ||
        fail "the kernel files after the update: $entries (expected $v1 on a, $v3 on b, blessed)"
    kill "$updates_pid"
    wait "$updates_pid" 2>/dev/null || true
    updates_pid=""
    updates="$v2 fetched in ${fetched} s; b failed 3 times, then $v3 answered ${fell_back} s after boot; $(( $(date +%s) - updates_started )) s in all"
    echo "image test: updates: $updates"
else
    echo "image test: updates skipped (no update key or no build folder beside $image; see --keys)"
fi

echo "image test: passed; build $((built - started)) s, first boot to healthy ${first_boot} s, two devices ${two_devices} s, updates: ${updates}, total $(( $(date +%s) - started )) s"
echo "image test: image $(du -h --apparent-size "$image" | cut -f1) raw, $(du -h "$image.zst" 2>/dev/null | cut -f1) compressed"
