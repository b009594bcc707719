#!/usr/bin/env bash
# In a pipeline: raw on stdin, PNG on stdout, logs on stderr.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-${here}/out}"
mkdir -p "$out"
darkdev develop - -o - --ratio 4 < "$here/colorchart.dng" > "$out/from_pipe.png"
