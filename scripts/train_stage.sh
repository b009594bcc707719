#!/usr/bin/env bash
# One resumable training stage: scripts/train_stage.sh RUN_DIR [darkdev.train arguments...]
# Skips a finished stage (RUN_DIR/summary.json), resumes an interrupted one (RUN_DIR/last.pt).
# The experiments in docs/training-history.md are runs of this script.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .venv/bin/activate ]; then . .venv/bin/activate; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export OMP_WAIT_POLICY=PASSIVE  # sleep, don't spin, while waiting (2.1 s vs 0.8 s per step)
out=$1
shift
if [ -f "$out/summary.json" ]; then
    echo "$(date -u +%H:%M:%S) $out: already finished"
    exit 0
fi
resume=()
if [ -f "$out/last.pt" ]; then resume=(--resume); fi
echo "$(date -u +%H:%M:%S) $out: training $* ${resume[*]:-}"
python -m darkdev.train "$@" --out "$out" "${resume[@]}"
