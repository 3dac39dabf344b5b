# Sourced by the scripts a device session runs (train_default.sh, compare_presets.sh): the
# log, the clock, the interpreter and this package. Set T0 (start, epoch seconds), BUDGET
# (seconds) and OUT (an existing folder) first.
exec > >(tee -a "$OUT/log.txt") 2>&1
now() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( BUDGET - $(now) )); }
say() { echo "[$(now)s] $*"; }

# The interpreter: $PYTHON, else the one the `hrm` on PATH runs (as `hrm doctor` reports
# it). Never a bare `python3`: inside a virtual environment that can be another Python,
# without hrm or torch.
if [ -z "${PYTHON:-}" ] && command -v hrm >/dev/null; then
  PYTHON=$(hrm doctor --format json | sed -n 's/^ *"executable": *"\(.*\)",*$/\1/p')
fi
if [ -z "${PYTHON:-}" ]; then
  echo "$(basename "$0"): set PYTHON to the Python that has hrm installed (PYTHON=python3" \
    "where torch is installed and a .whl folder brings hrm), or put hrm on PATH" >&2
  exit 2
fi
case $PYTHON in  # a relative path must survive the scripts' `cd`
  */*) PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON") ;;
esac
say "python: $PYTHON"

# The device machine has torch but not this package: a .whl folder in the working directory
# is installed first (--upgrade: a /tmp/site left by an earlier run must not shadow it).
if [ -d .whl ]; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || { say "pip install failed"; exit 1; }
fi
export PYTHONUNBUFFERED=1
HRM="$PYTHON -m hrm_cli"
