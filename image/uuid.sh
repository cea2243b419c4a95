#!/usr/bin/env bash
# A stable UUID (version 4 layout) from a seed and a name, so that the same build
# inputs give the same partition and file system ids: uuid.sh <seed> <name>
set -euo pipefail
h=$(printf '%s/%s' "$1" "$2" | sha256sum | cut -c1-32)
printf '%s-%s-4%s-%x%s-%s\n' "${h:0:8}" "${h:8:4}" "${h:13:3}" $(( (0x${h:16:1} & 0x3) | 0x8 )) "${h:17:3}" "${h:20:12}"
