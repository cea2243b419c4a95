#!/usr/bin/env bash
# The demo office: a kiosk, two desks and a display as separate nodes on this machine,
# with simulated visitors and clerks. Installs what it needs first (idempotent).
# Extra arguments go to `aufruf demo`, e.g. `scripts/demo.sh --for 60s --speed 60`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
exec cargo run --locked -p aufruf-node --features window -- demo "$@"
