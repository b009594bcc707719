#!/usr/bin/env bash
# Train the bundled checkpoints one after the other (Bayer, then X-Trans) and publish each into
# darkdev/checkpoints/ (file + manifest entry). Rerun the same command after an interruption: finished stages
# are skipped and an interrupted stage resumes from its last checkpoint (runs/NAME/last.pt).
#
#   nohup scripts/train_bundled.sh > runs/bundled.log 2>&1 &
#
# Environment: PHOTOS (default ~/.cache/darkdev/photos), BAYER_MINUTES (45), XTRANS_MINUTES (30),
# THREADS (2), MODEL (lts), WIDTH (16), LR (3e-4), TV_WEIGHT (0.1, chosen by the sweep in
# docs/training-history.md; the paper's is 1), PUBLISH (1), INIT_BAYER / INIT_XTRANS (a
# checkpoint to start from: the shipped ones continue the previous shipped ones, see
# darkdev/checkpoints/manifest.json).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .venv/bin/activate ]; then . .venv/bin/activate; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# Sleep rather than spin while waiting for work: on a shared 2-core machine, spinning OpenMP
# threads made a training step several times slower (measured 2.1 s vs 0.8 s).
export OMP_WAIT_POLICY=PASSIVE

PHOTOS=${PHOTOS:-$HOME/.cache/darkdev/photos}
MODEL=${MODEL:-lts}
WIDTH=${WIDTH:-16}
LR=${LR:-3e-4}
TV_WEIGHT=${TV_WEIGHT:-0.1}
THREADS=${THREADS:-2}
PUBLISH=${PUBLISH:-1}

run_stage() {
    local name=$1 cfa=$2 minutes=$3 weights_file=$4 init=$5
    local out="runs/$name"
    if [ -f "$out/summary.json" ]; then
        echo "$(date -u +%H:%M:%S) $name: already finished"
    else
        local resume=()
        if [ -f "$out/last.pt" ]; then resume=(--resume); elif [ -n "$init" ]; then resume=(--init-from "$init"); fi
        echo "$(date -u +%H:%M:%S) $name: training ($cfa, $minutes min) ${resume[*]:-}"
        python -m darkdev.train --model "$MODEL" --cfa "$cfa" --width "$WIDTH" --crop 128 --batch 4 \
            --max-minutes "$minutes" --lr "$LR" --tv-weight "$TV_WEIGHT" --threads "$THREADS" \
            --photos "$PHOTOS" --out "$out" "${resume[@]}"
    fi
    if [ "$PUBLISH" = 1 ]; then
        python -c "from darkdev.training.publishing import publish; e = publish('$out', '$weights_file'); print('published', e.file, e.validation)"
    fi
}

run_stage "$MODEL-w$WIDTH-bayer" bayer "${BAYER_MINUTES:-45}" "$MODEL-w$WIDTH-bayer.safetensors" "${INIT_BAYER:-}"
run_stage "$MODEL-w$WIDTH-xtrans" xtrans "${XTRANS_MINUTES:-30}" "$MODEL-w$WIDTH-xtrans.safetensors" "${INIT_XTRANS:-}"
echo "$(date -u +%H:%M:%S) all stages done"
