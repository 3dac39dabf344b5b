# Sourced by the scripts a device session runs (train_default.sh, compare_presets.sh): the
# log, the clock and this package. Set T0 (start, epoch seconds), BUDGET (seconds) and OUT
# (an existing folder) first.
exec > >(tee -a "$OUT/log.txt") 2>&1
now() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET - $(now) )); }
say() { echo "[$(now)s] $*"; }

# The device machine has torch but not this package: a .whl folder in the working directory
# is installed first (--upgrade: a /tmp/site left by an earlier run must not shadow it).
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || { say "pip install failed"; exit 1; }
fi
export PYTHONUNBUFFERED=1
HRM="python3 -m hrm_cli"
