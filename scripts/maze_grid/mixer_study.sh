#!/usr/bin/env bash
# Experiment: which grid mixer extrapolates best (conv3, dwconv3, natt3). Each trains from
# scratch on the same mixed-size data with the same recipe and number of steps (full
# gradient, as the main run now uses), then is scored by eval_sizes.py on held-out sizes.
#   python scripts/maze_grid/make_data.py mazegrid                 # data and held-out sets
#   setsid nohup scripts/maze_grid/mixer_study.sh mazegrid > mazegrid/mixers.log 2>&1 &
# Run it again to continue: a stopped run resumes, a finished one is skipped.
# A cheaper variant trains on mazes of 5-10 a side and tests beyond them:
#   python scripts/maze_grid/make_data.py mixers --canvas 10 --train 40000
#   ln -s ../mazegrid/held-out mixers/held-out
#   SIZES="9 15 20" setsid nohup scripts/maze_grid/mixer_study.sh mixers > mixers/log 2>&1 &
set -euo pipefail
work=$(realpath "$1")
here=$(dirname "$(realpath "$0")")
export OMP_NUM_THREADS=${THREADS:-1}
for mixer in ${MIXERS:-conv3 dwconv3 natt3}; do
  run=$work/mixer-$mixer
  if [ ! -f "$run/model/model.safetensors" ]; then
    if [ -f "$run/checkpoint.safetensors" ]; then
      hrm train --resume "$run" --time-limit "${LIMIT:-20h}" -q
    else
      hrm train maze --data "$work/data" --arch grid-hrm --preset small --mixer "$mixer" \
        --gradient full --batch-size 64 --lr 1e-3 --warmup-steps 100 --lr-min-ratio 0.1 \
        --weight-decay 0.1 --steps "${STEPS:-3000}" --eval-interval 0 \
        --checkpoint-interval 250 --device cpu --seed 0 --out "$run" \
        --time-limit "${LIMIT:-20h}" -q
    fi
  fi
  [ -f "$run/sizes.json" ] || python "$here/eval_sizes.py" "$run/model" "$work/held-out" \
    --sizes ${SIZES:-9 15 20 30} --limit 50 --json "$run/sizes.json"
done
