#!/bin/bash
# Compare model presets per FLOP on the default Sudoku data, in one GPU call: every preset
# trains the same number of FLOPs (as hrm.model.flops counts a training step),
# each with its own warm-up and cosine schedule over its step count, then `hrm eval` runs
# it on the held-out split at 8 (trained) and 16 segments.
#
#   DATA_DIR=gen OUT=gpu-out PFLOP=35 bash scripts/compare_presets.sh small paper
#
# DATA_DIR holds sudoku-train.csv and sudoku-test.csv (README: the default Sudoku model).
# Results: $OUT/compare.json (one entry per preset) and each run's metrics.jsonl.
# Knobs (environment): PFLOP (training FLOPs per preset, 1e15), BUDGET (seconds in all,
# shared out as a --time-limit backstop), AUG, BATCH, LR, WARMUP_FRACTION, COMMON
# (architecture flags every preset gets), DEVICE, COMPILE, WORK, PYTHON (the interpreter
# with hrm, or with torch when a .whl folder brings hrm; default: the `hrm` on PATH's).
set -u
T0=$(date +%s)
[ $# -ge 2 ] || { echo "usage: [DATA_DIR=...] [OUT=...] bash $0 PRESET PRESET..." >&2; exit 2; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-gpu-out}
DATA_DIR=$(cd "${DATA_DIR:-.gpu}" && pwd)
PFLOP=${PFLOP:-35}
BUDGET=${BUDGET:-560}
AUG=${AUG:-8}
BATCH=${BATCH:-768}
LR=${LR:-1e-3}
WARMUP_FRACTION=${WARMUP_FRACTION:-0.05}
COMMON=${COMMON:---gradient full --halt-max-steps 8}
DEVICE=${DEVICE:-cuda}
COMPILE=${COMPILE---compile}
WORK=${WORK:-/tmp/hrmcompare}
mkdir -p "$OUT" "$WORK"
OUT=$(cd "$OUT" && pwd)
. "$REPO/scripts/device_session.sh"  # log, now/left/say, the wheel, $HRM
for csv in sudoku-train.csv sudoku-test.csv; do
  [ -s "$DATA_DIR/$csv" ] || { say "missing $DATA_DIR/$csv"; exit 1; }
done
say "building data (aug $AUG)"
$HRM datasets build "$DATA_DIR/sudoku-train.csv" --test "$DATA_DIR/sudoku-test.csv" \
  --aug "$AUG" --out "$WORK/data" -q --force || { say "build failed"; exit 1; }

# Steps per preset: PFLOP / (FLOPs of one training step at this batch). The model is the
# one `hrm train sudoku --preset PRESET $COMMON` builds on this data: its own option parsing
# and build_config, so every architecture flag in COMMON counts.
plan() {  # PRESET -> "STEPS FLOP_PER_STEP PARAMETERS"
  "$PYTHON" - "$1" "$REPO/benchmarks" "$WORK/data" "$COMMON" "$BATCH" "$PFLOP" <<'EOF'
import shlex
import sys

preset, benchmarks, data, common, batch, pflop = sys.argv[1:]
from hrm.model.architectures import build_model
from hrm.model.flops import training_step_flops
from hrm.train.config import build_config
from hrm_cli.train_cmd import architecture_options, train

options = train.make_context("train", ["sudoku", "--data", data, "--preset", preset,
                                       *shlex.split(common)]).params
config = build_config("sudoku", data, "unused", preset=preset,
                      architecture=architecture_options(options)).model_config
flops = training_step_flops(config, int(batch))
params = build_model(config).num_parameters()
print(max(1, round(float(pflop) * 1e15 / flops)), flops, params)
EOF
}

RESULTS="$OUT/compare.jsonl"
: > "$RESULTS"
REMAINING=$#
for preset in "$@"; do
  read -r STEPS FLOPS PARAMS < <(plan "$preset") || { say "no plan for $preset"; exit 1; }
  WARMUP=$("$PYTHON" -c "print(max(1, round($STEPS * $WARMUP_FRACTION)))")
  LIMIT=$(( $(left) / REMAINING - 15 ))
  RUN="$WORK/run-$preset"
  rm -rf "$RUN"
  say "$preset: $PARAMS parameters, $FLOPS FLOP/step -> $STEPS steps (warm-up $WARMUP), --time-limit $LIMIT"
  $HRM train sudoku --data "$WORK/data" -o "$RUN" --preset "$preset" $COMMON \
    --batch-size "$BATCH" --lr "$LR" --warmup-steps "$WARMUP" --lr-min-ratio 0.05 \
    --weight-decay 0.1 --ema 0.999 --eval-interval 0 --checkpoint-interval 0 \
    --log-interval 10 --device "$DEVICE" --steps "$STEPS" --time-limit "$LIMIT" $COMPILE
  rc=$?
  say "$preset: hrm train exited $rc"
  $HRM eval "$RUN" --max-segments 16 --device "$DEVICE" --format json -q > "$WORK/eval-$preset.json"
  "$PYTHON" - "$preset" "$PARAMS" "$FLOPS" "$STEPS" "$rc" "$RUN" "$WORK/eval-$preset.json" \
      >> "$RESULTS" <<'EOF'
import json, statistics, sys
preset, params, flops, steps, rc, run, report = sys.argv[1:]
rows = [json.loads(line) for line in open(f"{run}/metrics.jsonl") if line.strip()]
rates = [r["samples_per_s"] for r in rows[2:]] or [r["samples_per_s"] for r in rows]
evaluation = json.load(open(report))
print(json.dumps({
    "preset": preset, "parameters": int(params), "flop_per_step": int(flops),
    "planned_steps": int(steps), "steps": rows[-1]["step"], "exit": int(rc),
    "training_flop": rows[-1]["step"] * int(flops), "wall_time_s": rows[-1]["elapsed_s"],
    "samples_per_s": statistics.median(rates),
    "exact_8": evaluation["by_segments"]["8"]["exact_accuracy"],
    "exact_16": evaluation["exact_accuracy"], "adaptive": evaluation["adaptive"],
}))
EOF
  cp "$RUN/metrics.jsonl" "$OUT/metrics-$preset.jsonl" 2>/dev/null
  REMAINING=$(( REMAINING - 1 ))
done
"$PYTHON" -c "import json, sys; print(json.dumps([json.loads(l) for l in open(sys.argv[1])], indent=1))" \
  "$RESULTS" > "$OUT/compare.json"
cat "$OUT/compare.json"
say "done"
