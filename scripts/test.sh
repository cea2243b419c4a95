#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of the workspace.
# Installs what it needs first (idempotent), so it runs alone on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

# One full run gains nothing from incremental state, which would take gigabytes of disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
df -h . | sed 's/^/disk: /'

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The appliance image, built from Debian packages and booted in QEMU (as root), with
# the screens drawn straight on the display (KMS) as on the devices.
cargo build --locked -p aufruf-node --bin aufruf --features kms
image/test.sh --binary target/debug/aufruf
du -sh "${CARGO_TARGET_DIR:-target}" 2>/dev/null | sed 's/^/target: /' || true
