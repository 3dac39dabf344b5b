"""`hrm eval --attempts`: a built split read back as puzzles and solved as `hrm solve` does."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from train_helpers import maze_dataset

from hrm.datasets import maze
from hrm.datasets.errors import DatasetFormatError
from hrm.datasets.format import CANVAS_FILE
from hrm.inference.attempts import attempt_budgets, evaluate_attempts, split_puzzles
from hrm.inference.errors import InferenceError
from hrm.model import HRM, HRMConfig


def test_split_examples_become_puzzles_with_their_labels():
    data = maze_dataset(size=5, train=8, test=6, seed=3)
    with open(data.with_name(data.name + ".csv") / "test.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    puzzles = split_puzzles("maze", data, "test")
    assert len(puzzles) == len(rows) == 6
    for puzzle, row in zip(puzzles, rows, strict=True):
        # A 5x5 maze built on its own canvas: the grid and answer read back exactly.
        assert maze.format_line(puzzle.grid) == row["question"]
        assert maze.format_line(puzzle.expected) == row["answer"]
        assert maze.verify(puzzle.grid, puzzle.expected)
    assert puzzles[2].location.endswith("test[2]")


def test_mazes_built_on_a_larger_canvas_read_back_as_given(tmp_path):
    # Retries turn the maze itself, as `hrm solve` does with the CSV, not the 7x7 canvas
    # (which would move the maze out of the corner the model was trained on).
    data = maze_dataset(size=5, train=8, test=6, seed=3, canvas=7)
    with open(data.with_name(data.name + ".csv") / "test.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert json.loads((data / "test" / CANVAS_FILE).read_text()) == {
        "canvas": 7, "maze_size": [5, 5]}
    puzzles = split_puzzles("maze", data, "test")
    assert [maze.format_line(p.grid) for p in puzzles] == [r["question"] for r in rows]
    assert [maze.format_line(p.expected) for p in puzzles] == [r["answer"] for r in rows]

    # Without the note (a dataset built before it existed) the canvas is all there is.
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    (copy / "test" / CANVAS_FILE).unlink()
    assert split_puzzles("maze", copy, "test")[0].grid.shape == (7, 7)
    (copy / "test" / CANVAS_FILE).write_text('{"canvas": 7}')
    with pytest.raises(DatasetFormatError, match=r"test/canvas.json: expected"):
        split_puzzles("maze", copy, "test")


def test_arc_cannot_be_retried():
    with pytest.raises(InferenceError, match="arc answers cannot be"):
        split_puzzles("arc", maze_dataset(size=5, train=8, test=6, seed=3))


def test_attempt_budgets():
    assert attempt_budgets(1) == [1]
    assert attempt_budgets(8) == [1, 2, 4, 8]
    assert attempt_budgets(6) == [1, 2, 4, 6]


def test_an_untrained_model_fails_every_attempt_and_runs_them_all():
    data = maze_dataset(size=5, train=8, test=6, seed=3)
    torch.manual_seed(0)
    config = HRMConfig.from_preset("tiny", vocab_size=maze.VOCAB_SIZE, seq_len=25,
                                   num_puzzle_identifiers=1, halt_max_steps=2)
    model = HRM(config).eval()
    result = evaluate_attempts(model, "maze", data, attempts=8, max_segments=2, batch_size=4)
    assert result.examples == 6 and list(result.solved_within) == [1, 2, 4, 8]
    assert all(v == 0.0 for v in result.solved_within.values())
    # Unsolved square mazes go through the identity and all 7 other symmetries, each
    # rollout 1 or 2 segments (adaptive halting, budget 2).
    assert 8 <= result.mean_segments <= 16
    assert np.isfinite(result.seconds)
