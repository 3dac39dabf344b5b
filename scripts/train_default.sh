#!/bin/bash
# Train a default model (sudoku or maze) in one GPU session with a hard wall-clock budget
# (the device we are lent gives 15 minutes at a time, 10 per command):
#   1. take the training and test CSVs from $DATA_DIR, or generate them (mazes only: the
#      Maze-Hard layout, shortest path over 110 cells, on every core);
#   2. build the dataset;
#   3. train until 30 s of steps are logged after the compile, then SIGTERM (a clean stop
#      with a checkpoint): this measures the step rate;
#   4. resume with the step count that ends the cosine schedule inside the budget.
# The run folder's model/ comes back in $OUT/model: the bundle scripts/package_default.py
# ships, and what the next session starts from (INIT=path/to/model): a checkpoint holds the
# ACT carry (0.24-0.47 GB for 30x30 mazes at batch 256) and cannot come back, so sessions chain through
# `hrm train --init-from` (fresh optimizer and schedule, a warm restart).
#
#   DATA_DIR=gen OUT=gpu-out bash scripts/train_default.sh sudoku
#   PYTHON=python3 DATA_DIR=gen OUT=gpu-out INIT=prev/model bash scripts/train_default.sh maze
#
# Knobs (environment): PYTHON (the interpreter with hrm, or with torch when a .whl folder
# brings hrm; default: the one the `hrm` on PATH runs), BUDGET seconds in all, INIT, AUG, DEVICE, MODEL (architecture flags),
# BATCH, LR, WARMUP, COMPILE, CAL, P1MAX, RESERVE, WORK, GEN_TRAIN/GEN_TEST (maze counts when
# generating), EASY (mazes: this many of any path length, seed 204, join the hard training
# set; the test set stays hard), HALTING (q-learning or halt-only: `hrm train --halting`,
# also with INIT), RATE_MULT (to rehearse an overrun on a CPU), and STEPS_PER_S (with
# STARTUP_S) to skip the calibration when an earlier session measured the step rate (30x30
# mazes at batch 256 on an H200: 8.9 steps/s, 45 s to the first step). A .whl folder in the
# working directory is installed first (the GPU machine has torch but not this package).
set -u
T0=$(date +%s)
TASK=${1:-${TASK:-}}
case "$TASK" in
  sudoku)
    TRAIN_CSV=sudoku-train.csv TEST_CSV=sudoku-test.csv
    AUG=${AUG:-8}
    MODEL=${MODEL:---preset small --gradient full --halt-max-steps 8}
    BATCH=${BATCH:-768} LR=${LR:-1e-3} WARMUP=${WARMUP:-500} ;;
  maze)
    TRAIN_CSV=maze-hard-train.csv TEST_CSV=maze-hard-test.csv
    AUG=${AUG:-0}   # mazes with tied shortest paths make symmetries label noise (README)
    MODEL=${MODEL:---preset small --gradient full --halt-max-steps 16}
    BATCH=${BATCH:-256} LR=${LR:-1e-3} WARMUP=${WARMUP:-500} ;;
  *) echo "usage: [DATA_DIR=...] [OUT=...] bash $0 sudoku|maze" >&2; exit 2 ;;
esac
OUT=${OUT:-gpu-out}
mkdir -p "${DATA_DIR:-.gpu}"
DATA_DIR=$(cd "${DATA_DIR:-.gpu}" && pwd)
BUDGET=${BUDGET:-570}
DEVICE=${DEVICE:-cuda}
COMPILE=${COMPILE---compile}
RESERVE=${RESERVE:-25}   # kept back for the final evaluation, the export and the copy (H200 maze: 5-20 s)
WORK=${WORK:-/tmp/hrmgpu}
INIT=${INIT:-}
mkdir -p "$OUT" "$WORK"
OUT=$(cd "$OUT" && pwd)
[ -n "$INIT" ] && INIT=$(cd "$(dirname "$INIT")" && pwd)/$(basename "$INIT")
. "$(dirname "$0")/device_session.sh"  # log, now/left/say, the wheel, $HRM
cd "$WORK"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv 2>/dev/null
"$PYTHON" -c "import torch, hrm.model; print('torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
nproc; free -g | head -2

if [ "$TASK" = maze ]; then  # seeds 201 (train) and 202 (test): never the same maze
  for spec in "$TRAIN_CSV ${GEN_TRAIN:-20000} 201" "$TEST_CSV ${GEN_TEST:-1000} 202"; do
    set -- $spec
    if [ ! -s "$DATA_DIR/$1" ]; then
      say "generating $2 hard mazes (seed $3) on $(nproc) cores"
      $HRM datasets generate maze --count "$2" --min-path 110 --seed "$3" --workers "$(nproc)" \
        -q -o "$DATA_DIR/$1" || { say "generation failed"; exit 1; }
    fi
  done
fi
for csv in "$TRAIN_CSV" "$TEST_CSV"; do
  [ -s "$DATA_DIR/$csv" ] || { say "missing $DATA_DIR/$csv (see README)"; exit 1; }
done
TRAIN_PATH="$DATA_DIR/$TRAIN_CSV"
EASY=${EASY:-0}
if [ "$TASK" = maze ] && [ "$EASY" -gt 0 ]; then  # mazes of any path length join training
  say "adding $EASY mazes of any path length (seed 204) to the training set"
  $HRM datasets generate maze --count "$EASY" --seed 204 --workers "$(nproc)" -q \
    -o "$WORK/easy.csv" --force || { say "generation failed"; exit 1; }
  { cat "$TRAIN_PATH"; tail -n +2 "$WORK/easy.csv"; } > "$WORK/train-mixed.csv"
  TRAIN_PATH="$WORK/train-mixed.csv"
fi
say "building data (aug $AUG)"
$HRM datasets build "$TRAIN_PATH" --test "$DATA_DIR/$TEST_CSV" \
  --aug "$AUG" --out "$WORK/data" -q --force || { say "build failed"; exit 1; }
$HRM datasets info "$WORK/data"

DMON=""
if command -v nvidia-smi >/dev/null && [ "$DEVICE" = cuda ]; then
  nvidia-smi dmon -s u -d 5 > "$WORK/dmon.txt" 2>&1 &
  DMON=$!
fi

RUN="$WORK/run"
START_FROM=""
[ -n "$INIT" ] && START_FROM="--init-from $INIT" && MODEL=""  # the architecture is INIT's
HALTING=${HALTING:+--halting $HALTING}  # a training choice: allowed with INIT too
TRAIN_ARGS="--data $WORK/data -o $RUN $MODEL $START_FROM $HALTING --batch-size $BATCH --lr $LR \
  --warmup-steps $WARMUP --lr-min-ratio 0.05 --weight-decay 0.1 --ema 0.999 --eval-interval 0 \
  --checkpoint-interval 2000 --log-interval 10 --device $DEVICE"

ckpt_step() {
  "$PYTHON" -c "import sys; from hrm.train.checkpoint import CheckpointReader; print(CheckpointReader(sys.argv[1]).state['step'])" "$RUN/checkpoint.safetensors"
}

# Phase 1: calibration. Train until CAL seconds of steps are logged after the first
# window (which holds the compile), then SIGTERM: a clean stop with a checkpoint.
CAL=${CAL:-30}
P1MAX=${P1MAX:-240}
rate_info() {  # prints "RATE STEP_SPAN" from metrics.jsonl, or nothing
  "$PYTHON" - "$RUN/metrics.jsonl" <<'EOF2' 2>/dev/null
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if len(rows) >= 3:
    a, b = rows[1], rows[-1]
    span = b["elapsed_s"] - a["elapsed_s"]
    if span > 0:
        print((b["step"] - a["step"]) / span, span)
EOF2
}
phase1() {
  rm -rf "$RUN"
  say "phase 1: $HRM train $TASK $TRAIN_ARGS $1 --steps 200000 --time-limit $P1MAX"
  local started=$(now)
  $HRM train "$TASK" $TRAIN_ARGS $1 --steps 200000 --time-limit "$P1MAX" &
  local pid=$!
  FIRST_ROW=""
  while kill -0 "$pid" 2>/dev/null; do
    if [ -z "$FIRST_ROW" ] && [ -s "$RUN/metrics.jsonl" ]; then
      FIRST_ROW=$(( $(now) - started )); say "first metrics after ${FIRST_ROW}s"
    fi
    info=$(rate_info)
    if [ -n "$info" ] && "$PYTHON" -c "import sys; sys.exit(0 if float('$info'.split()[1]) >= $CAL else 1)"; then
      say "calibrated: $info"; kill -TERM "$pid"; break
    fi
    sleep 2
  done
  wait "$pid"
}
finish() {  # a run paused at its time limit (exit 3) or stopped (130): export its bundle
  if [ "$(left)" -gt 10 ]; then
    STEP=$(ckpt_step)
    say "finishing at step $STEP: export the bundle"
    $HRM train --resume "$RUN" --steps "$STEP"; rc=$?
  fi
}

if [ -n "${STEPS_PER_S:-}" ]; then
  # The step rate is known (an earlier session's log): one run, no calibration stop and
  # no second compile. STARTUP_S: seconds to the first step (the compile).
  rm -rf "$RUN"
  TOTAL=$("$PYTHON" -c "print(int(0.95 * $STEPS_PER_S * max(0, $(left) - $RESERVE - ${STARTUP_S:-50})))")
  LIMIT=$(( $(left) - 20 ))
  say "one run at $STEPS_PER_S steps/s: $HRM train $TASK $TRAIN_ARGS $COMPILE --steps $TOTAL --time-limit $LIMIT"
  $HRM train "$TASK" $TRAIN_ARGS $COMPILE --steps "$TOTAL" --time-limit "$LIMIT"; rc=$?
  say "the run exited $rc"
  { [ $rc -eq 3 ] || [ $rc -eq 130 ]; } && finish
else
  phase1 "$COMPILE"; rc=$?
  if [ $rc -ne 3 ] && [ $rc -ne 130 ] && [ $rc -ne 0 ] && [ -n "$COMPILE" ]; then
    say "phase 1 exited $rc with '$COMPILE'; again without it"
    COMPILE=""
    phase1 ""; rc=$?
  fi
  say "phase 1 exited $rc"

  if [ $rc -eq 3 ] || [ $rc -eq 130 ]; then
    STEP=$(ckpt_step)
    info=$(rate_info); RATE=${info%% *}; RATE=${RATE:-${DEFAULT_RATE:-5}}
    STARTUP=${FIRST_ROW:-60}
    AVAIL=$(( $(left) - RESERVE - STARTUP ))
    TOTAL=$("$PYTHON" -c "print(int($STEP + 0.95 * ${RATE_MULT:-1} * $RATE * max(0, $AVAIL)))")
    say "phase 1 stopped at step $STEP; $RATE steps/s; restart ~${STARTUP}s; ${AVAIL}s to train -> --steps $TOTAL"
    if [ "$TOTAL" -gt "$STEP" ]; then
      LIMIT=$(( $(left) - 20 ))
      say "phase 2: $HRM train --resume $RUN --steps $TOTAL --time-limit $LIMIT $COMPILE"
      $HRM train --resume "$RUN" --steps "$TOTAL" --time-limit "$LIMIT" $COMPILE; rc=$?
      say "phase 2 exited $rc"
    fi
    [ "$rc" -ne 0 ] && finish  # paused at the time limit, or phase 2 skipped
  fi
fi

[ -n "$DMON" ] && kill "$DMON" 2>/dev/null
echo "--- dmon"; head -200 "$WORK/dmon.txt" 2>/dev/null
say "copying back"
mkdir -p "$OUT/run" "$OUT/model"
cp "$RUN/config.json" "$RUN/metrics.jsonl" "$OUT/run/" 2>/dev/null
cp "$RUN/evals.jsonl" "$OUT/run/" 2>/dev/null
if [ -f "$RUN/model/model.safetensors" ]; then
  cp "$RUN/model/"* "$OUT/model/"
else
  say "no bundle came out of this session"
fi
ls -laR "$OUT"
say "done"
