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
cargo clippy --workspace --all-targets --locked "${features[@]}" -- -D warnings
cargo test --workspace --locked "${features[@]}"
# The appliance image, built from Debian packages and booted in QEMU (as root).
image/test.sh --binary target/debug/aufruf
du -sh "${CARGO_TARGET_DIR:-target}" 2>/dev/null | sed 's/^/target: /' || true
