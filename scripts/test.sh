#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of the workspace.
# Installs what it needs first (idempotent), so it runs alone on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

# One full run gains nothing from incremental state, which would take gigabytes of disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
df -h . | sed 's/^/disk: /'

# Built once, as the appliance's binary is: with the screens drawn straight on the
# display (KMS). The image test below boots that very binary.
features=(--features aufruf-node/kms)
cargo fmt --all -- --check
# Lints and tests in one build. `cargo clippy` runs clippy's driver in place of rustc
# on the workspace's own crates (RUSTC_WORKSPACE_WRAPPER) and stops after checking;
# here the driver compiles on, so the dependencies are compiled once instead of
# checked and then compiled again (about ten minutes less on two cores). The lints
# are those of `cargo clippy --workspace --all-targets -- -D warnings`, with the
# crates' clippy.toml; a lint stops the build.
clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"
[ -x "$clippy_driver" ] || { echo "test: no clippy-driver at $clippy_driver (rustup component add clippy)" >&2; exit 1; }
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --all-targets --no-run --locked "${features[@]}"
cargo test --workspace --locked "${features[@]}"
# The desk terminal for Windows PCs: cross-built, then started under Wine.
scripts/windows.sh
# The appliance image, built from Debian packages and booted in QEMU (as root).
image/test.sh --binary target/debug/aufruf
du -sh "${CARGO_TARGET_DIR:-target}" 2>/dev/null | sed 's/^/target: /' || true
