#!/usr/bin/env bash
# README's test command (its "Two commands"), for a clone's root: a virtual environment in
# .venv made by the `python` on PATH, the CPU build of torch, hrm with its test tools, then
# the suite. .ci/run runs this file in a fresh copy of the checkout;
# tests/scripts/test_readme_commands.py fails when its last line and README's differ.
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
python -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e ".[dev]" \
  && python -m pytest -q
