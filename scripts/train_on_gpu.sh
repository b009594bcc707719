#!/usr/bin/env bash
# The prepared GPU training session (see darkdev/training/session.py), for a lent GPU machine
# (one H100/H200, torch 2.11, no rawpy, 15 minutes of device time in all, 64 MiB in, 8 files
# of 16 MiB out). Before the session, here: python scripts/make_photo_pack.py (-> gpu-pack/),
# after python scripts/gpu_tree.py leave-behind --cfa KIND where the tree is too heavy (restore
# after the call).
# Then one device call:
#
#   run(command="scripts/train_on_gpu.sh", carry=["gpu-pack"], timeout_s=560)
#
# What comes back in $OUT: log.txt, results.json (self-check, crops/s, training, validation,
# 12 MP frames/s, the run's summary and log) and the best weights as fp16 safetensors shards
# with their index. Back here: darkdev unpack-session FILES_AT runs/gpu-bayer, then
# darkdev publish runs/gpu-bayer --name ... (README, "The prepared GPU session").
# By default it trains the paper's width 32 RMCN-3 (without back connection) started from the
# bundled CPU-trained network of the CFA kind, widened (and for an LTS grown) exactly, so the
# session's minutes add to what the CPU learnt instead of starting from noise.
# Environment overrides: MINUTES (whole session, default 7), MODEL (rmcn-3-nobc), WIDTH (32),
# CFA (bayer), CROP (256 packed px), BATCH (16), LR (1e-4), INIT_FROM (the bundled network of
# CFA; set it empty to train from scratch, e.g. MODEL=rmcn-3 LR=3e-4 INIT_FROM=),
# TV_WEIGHT (0.1, the bundled networks'), SSIM_WEIGHT (0.3), SELECT_BY (psnr+ssim),
# LATER_SGN_LR_SCALE, PHOTOS (gpu-pack/photos), DEAD_LEAVES (40 images of 1024 px drawn on the
# machine's CPUs during the self-check and trained on beside the photos; 0: photos only),
# EMA_DECAY (0: validate the weights themselves; e.g. 0.999 for their moving average).
# A MODEL or WIDTH the bundled network cannot start (e.g. MODEL=rmcn-3, with a back connection)
# needs INIT_FROM= or a matching file: the session checks this in its first seconds.
# and for the CPU rehearsal (tests/test_gpu_session.py) the tiny settings of EXTRA.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu-session}
CFA=${CFA:-bayer}
case "$CFA" in  # the bundled network to start from (both trained at TV weight 0.1)
    bayer) bundled=darkdev/checkpoints/rmcn-3-nobc-w16-bayer.safetensors ;;
    xtrans) bundled=darkdev/checkpoints/rmcn-3-nobc-w24-xtrans.safetensors ;;
    *) echo "CFA must be bayer or xtrans, got $CFA" >&2; exit 2 ;;
esac
INIT_FROM=${INIT_FROM-$bundled}
# scripts/gpu_tree.py asks which bundled file the session reads, so this case is the one rule
if [ "${1:-}" = "--starting-network" ]; then echo "$INIT_FROM"; exit 0; fi
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}
if [ -x .venv/bin/python ] && [ -z "${PYTHON_SET:-}" ]; then PYTHON=.venv/bin/python; fi
"$PYTHON" -m darkdev.training.session --out "$OUT" --photos "${PHOTOS:-gpu-pack/photos}" \
    --minutes "${MINUTES:-7}" --model "${MODEL:-rmcn-3-nobc}" --width "${WIDTH:-32}" \
    --cfa "$CFA" --crop "${CROP:-256}" --batch "${BATCH:-16}" --lr "${LR:-1e-4}" \
    --tv-weight "${TV_WEIGHT:-0.1}" --ssim-weight "${SSIM_WEIGHT:-0.3}" \
    --select-by "${SELECT_BY:-psnr+ssim}" ${INIT_FROM:+--init-from "$INIT_FROM"} \
    --dead-leaves "${DEAD_LEAVES:-40}" --ema-decay "${EMA_DECAY:-0}" \
    ${LATER_SGN_LR_SCALE:+--later-sgn-lr-scale "$LATER_SGN_LR_SCALE"} ${EXTRA:-} 2>&1 | tee "$OUT/log.txt"
