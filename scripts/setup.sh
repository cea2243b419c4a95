#!/usr/bin/env bash
# Installs what building and testing Aufruf needs on a fresh Debian machine with a Rust
# toolchain. Idempotent; run as root (CI runs it before the tests).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    gcc          # C parts of crypto crates
    make         # jemalloc, the aufruf binary's allocator (tikv-jemalloc-sys runs configure and make)
    pkg-config
    iproute2     # `ip netns` for the mDNS test between network namespaces (sync/tests/mdns_netns.rs)
    libfontconfig1    # the screens find their fonts through fontconfig (loaded at run time)
    fonts-dejavu-core # without any system font Slint's text layout panics (ui/ tests too)
    fonts-noto-core   # Arabic and Ukrainian on the kiosk
    chromium     # the portal's browser test (node/tests/portal_browser.rs, portal/e2e/)
    xvfb         # `xvfb-run`: the screens in a window on a machine without a desktop (README)
    libudev-dev libinput-dev libxkbcommon-dev  # the screens on an appliance's display (`--features kms`)
    gcc-mingw-w64-x86-64  # the desk terminal for the clerks' Windows PCs, cross-built (scripts/windows.sh)
    wine64       # … and started under Wine to show it runs
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm installs KERN, the portal's design system, which the build embeds
# (portal/package.json). Any npm will do: Debian's, or the one a nodejs package brings.
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# KERN for the portal and axe-core for its browser test, pinned in portal/package-lock.json. `npm ci` only when
# node_modules is missing or was installed from another lockfile.
lock_sum=$(sha256sum portal/package-lock.json | cut -d' ' -f1)
stamp=portal/node_modules/.aufruf-lock-sha256
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
    echo "setup: installing KERN (npm ci in portal/)"
    (cd portal && npm ci --no-audit --no-fund --ignore-scripts)
    echo "$lock_sum" > "$stamp"
fi

# What building and booting the appliance image needs (image/).
image/setup.sh

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust (rustup) first" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt 2>/dev/null || true
# The Rust standard library for Windows (scripts/windows.sh cross-builds the binary).
rustup target list --installed 2>/dev/null | grep -qx x86_64-pc-windows-gnu \
    || rustup target add x86_64-pc-windows-gnu
echo "setup: ready ($(cargo --version))"
