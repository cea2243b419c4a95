#!/usr/bin/env bash
# Installs what building and testing Aufruf needs on a fresh Debian machine with a Rust
# toolchain. Idempotent; run as root (CI runs it before the tests).
set -euo pipefail

packages=(
    gcc          # C parts of crypto crates
    make         # jemalloc, the aufruf binary's allocator (tikv-jemalloc-sys runs configure and make)
    pkg-config
    iproute2     # `ip netns` for the mDNS test between network namespaces (sync/tests/mdns_netns.rs)
    libfontconfig1    # the screens find their fonts through fontconfig (loaded at run time)
    fonts-dejavu-core # without any system font Slint's text layout panics (ui/ tests too)
    fonts-noto-core   # Arabic and Ukrainian on the kiosk
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt 2>/dev/null || true
echo "setup: ready ($(cargo --version))"
