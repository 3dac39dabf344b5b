#!/usr/bin/env bash
# Experiment: the same grid-hrm, full gradient through each segment (Bansal-style
# progressive training), warm-started from the one-step run at step 6,435 (the `run`
# folder, in git history before this one). To continue the paused run:
#   python wip/maze-grid/make_data.py mazegrid      # the same data, ~2.5 min
#   cp -r wip/maze-grid/run-full wip/maze-grid/train_full.sh mazegrid/
#   setsid nohup mazegrid/train_full.sh > mazegrid/train_full.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")"
export OMP_NUM_THREADS=${THREADS:-1}
if [ -f run-full/checkpoint.safetensors ]; then
  exec hrm train --resume run-full --data data --time-limit "${LIMIT:-20h}"
fi
exec hrm train maze --data data --gradient full \
  --init-from run --batch-size 64 --lr 1e-3 \
  --warmup-steps 100 --weight-decay 0.1 --steps 40000 --eval-interval 4 \
  --checkpoint-interval 250 --device cpu --seed 0 --out run-full --time-limit "${LIMIT:-20h}"
