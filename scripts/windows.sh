#!/usr/bin/env bash
# The desk terminal for the clerks' Windows PCs: the aufruf binary cross-built for
# x86_64-pc-windows-gnu (mingw-w64, with its window backend for the desk screen) and
# started under Wine: `--version` must answer, `config check` must accept the example
# office and refuse a broken file. scripts/test.sh runs it; scripts/setup.sh installs
# the target, mingw-w64 and Wine.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-pc-windows-gnu
# Without the workspace's lint wrapper: the lints ran over the same code already.
env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS \
    cargo build --locked --target "$target" -p aufruf-node --bin aufruf --features aufruf-node/window
exe="${CARGO_TARGET_DIR:-target}/$target/debug/aufruf.exe"

work="$(mktemp -d)"
trap 'wineserver -k 2>/dev/null || true; rm -rf "$work"' EXIT
cp "$exe" "$work/aufruf.exe"
cp aufruf.toml "$work/aufruf.toml"
printf '[office]\nid = "zeitz"\n' > "$work/broken.toml"

# Rust's standard library takes its random numbers from ProcessPrng in
# bcryptprimitives.dll, which Windows has since 10 and Debian's Wine 8 has not. For
# this test only, a stand-in beside the binary hands out the same randomness through
# RtlGenRandom (advapi32's SystemFunction036).
cat > "$work/prng.c" <<'C'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
C
printf 'LIBRARY bcryptprimitives\nEXPORTS\n    ProcessPrng\n' > "$work/prng.def"
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" \
    "$work/prng.c" "$work/prng.def" -ladvapi32

export WINEPREFIX="$work/prefix" WINEARCH=win64 WINEDEBUG=-all
cd "$work"
wine wineboot --init >/dev/null 2>&1 || true
run() { timeout 120 wine aufruf.exe "$@" 2>&1 | tr -d '\r'; }

version="$(run --version)"
echo "windows: $version"
[[ "$version" == "aufruf "* ]] || { echo "windows: --version said: $version" >&2; exit 1; }

checked="$(run config check aufruf.toml)"
echo "windows: $checked"
[[ "$checked" == *"ok — office \"Bürgerbüro Zeitz\""* ]] \
    || { echo "windows: config check said: $checked" >&2; exit 1; }

# With pipefail the assignment fails when the check does, as it must here.
if refused="$(run config check broken.toml)"; then
    echo "windows: a broken file passed the check: $refused" >&2
    exit 1
fi
[[ "$refused" == *"broken.toml"* ]] \
    || { echo "windows: the broken file's refusal does not name it: $refused" >&2; exit 1; }
echo "windows: a broken file is refused: ${refused%%$'\n'*}"
