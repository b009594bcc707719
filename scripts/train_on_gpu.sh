#!/usr/bin/env bash
# The prepared GPU training session (see darkdev/training/session.py), for a lent GPU machine
# (one H100/H200, torch 2.11, no rawpy, 15 minutes of device time in all, 64 MiB in, 8 files
# of 16 MiB out). Before the session, here: python scripts/make_photo_pack.py (-> gpu-pack/).
# Then one device call:
#
#   run(command="scripts/train_on_gpu.sh", carry=["gpu-pack"], timeout_s=560)
#
# What comes back in $OUT: log.txt, results.json (self-check, crops/s, training, validation,
# 12 MP frames/s) and the best weights as fp16 safetensors shards with their index.
# Environment overrides: MINUTES (whole session, default 7), MODEL (rmcn-3), WIDTH (32),
# CFA (bayer), CROP (256 packed px), BATCH (16), LR (3e-4), INIT_FROM, LATER_SGN_LR_SCALE,
# PHOTOS (gpu-pack/photos),
# and for the CPU rehearsal (tests/test_gpu_session.py) the tiny settings of EXTRA.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu-session}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
if [ -x .venv/bin/python ] && [ -z "${PYTHON_SET:-}" ]; then PYTHON=.venv/bin/python; fi
"$PYTHON" -m darkdev.training.session --out "$OUT" --photos "${PHOTOS:-gpu-pack/photos}" \
    --minutes "${MINUTES:-7}" --model "${MODEL:-rmcn-3}" --width "${WIDTH:-32}" \
    --cfa "${CFA:-bayer}" --crop "${CROP:-256}" --batch "${BATCH:-16}" --lr "${LR:-3e-4}" \
    ${INIT_FROM:+--init-from "$INIT_FROM"} \
    ${LATER_SGN_LR_SCALE:+--later-sgn-lr-scale "$LATER_SGN_LR_SCALE"} ${EXTRA:-} 2>&1 | tee "$OUT/log.txt"
