#!/usr/bin/env bash
# One frame: develop the bundled dim raw with the default model, compressing highlights.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-${here}/out}"
mkdir -p "$out"
darkdev develop "$here/colorchart.dng" -o "$out/colorchart.jpg" --ratio 4 --hdr --overwrite
