#!/bin/bash
# The shipped default Sudoku model was trained by this script's first version (commit
# 7184657: `git show 7184657:scripts/train_default_sudoku.sh`); the same steps, with the same
# defaults, now live in train_default.sh for both tasks.
#
#   DATA_DIR=gen OUT=gpu-out bash scripts/train_default_sudoku.sh
exec bash "$(dirname "$0")/train_default.sh" sudoku
