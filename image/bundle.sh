#!/usr/bin/env bash
# A signed update (node/src/update.rs has the format): a root file system and each
# slot's kernel file, behind a manifest of their sizes and SHA-256 signed with the
# update key (Ed25519, `openssl pkeyutl -rawin`).
#   bundle.sh <version> <root.squashfs> <kernel-a.efi> <kernel-b.efi> <update.key> <out>
set -euo pipefail
version=$1 root=$2 kernel_a=$3 kernel_b=$4 key=$5 out=$6
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
part() { printf '{"name":"%s","size":%s,"sha256":"%s"}' "$1" "$(stat -c %s "$2")" "$(sha256sum "$2" | cut -d' ' -f1)"; }
printf '{"version":"%s","parts":[%s,%s,%s]}' "$version" \
    "$(part root "$root")" "$(part kernel-a "$kernel_a")" "$(part kernel-b "$kernel_b")" >"$tmp/manifest"
openssl pkeyutl -sign -inkey "$key" -rawin -in "$tmp/manifest" -out "$tmp/signature"
{
    printf 'AUFRUF-UPDATE-1\n'
    python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack(">I", int(sys.argv[1])))' \
        "$(stat -c %s "$tmp/manifest")"
    cat "$tmp/manifest" "$tmp/signature" "$root" "$kernel_a" "$kernel_b"
} >"$out.partial"
mv "$out.partial" "$out"
