#!/usr/bin/env bash
# A night shoot: every raw under a folder, sub-folders mirrored, one JSON line per file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-${here}/out}"
darkdev develop "$here" --recursive -o "$out/batch" --format jpg --quality 90 --skip-existing --json
