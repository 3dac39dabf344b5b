#!/usr/bin/env bash
# README's first command (set up and solve) and its quick start, end to end as a newcomer
# runs them: in a fresh copy of this checkout, README's own `python -m venv` making a fresh
# .venv there, and a fresh HRM_HOME. Each command is echoed as README shows it; the
# `hrm datasets` ones must also print what README shows. The first failure stops the check
# (exit 1). About 4 minutes on 2 cores: the venv, then 1,200 training steps.
#   bash scripts/check_readme.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/hrm-readme.XXXXXX")
trap 'rm -rf "$work"' EXIT
bash "$repo/scripts/fresh_checkout.sh" "$work/hrm"
cd "$work/hrm"
# The parser needs only the standard library: README's `python`, before any venv exists.
python scripts/readme_commands.py script > "$work/readme.sh"
HRM_HOME="$work/hrm-home" bash "$work/readme.sh"
echo "README's first command and quick start ran as written" >&2
