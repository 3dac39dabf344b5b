"""Learning is real: a small HRM learns 4x4 Sudoku on the CPU within the test's budget.

The data is generated offline: 2000 training puzzles with 10 givens (6 blanks) and 200
held-out ones, none of them in the training set; training puzzles get 8 augmented variants
each (digit relabelling and symmetries). Guessing the 6 blanks uniformly would solve
4^-6 = 0.02% of the held-out puzzles; the untrained model solves none. The model is the
tiny preset widened to 64, with the recipe's optimizers and ACT training loop, at a larger
learning rate and shorter warm-up for a 1200-step run (~1 minute on one core).

Run with `-s` to see the curve (step -> held-out exact accuracy).
"""

from __future__ import annotations

import json

import pytest
import torch
from train_helpers import sudoku4_dataset

from hrm.model import HRM
from hrm.train.config import build_config
from hrm.train.data import EvalLoader
from hrm.train.evaluate import evaluate
from hrm.train.loop import train
from hrm.train.recipes import recipe_for

STEPS = 1200


@pytest.mark.slow
def test_exact_accuracy_on_held_out_puzzles_rises_far_above_chance(tmp_path, one_thread):
    data = sudoku4_dataset(train=2000, test=200, aug=8, clues=10)
    recipe = recipe_for("sudoku").with_overrides(
        global_batch_size=64, lr=2e-3, puzzle_emb_lr=2e-3, warmup_steps=20,
        weight_decay=0.1, eval_interval=5)  # an evaluation every 5 epochs (~156 steps)
    config = build_config(
        "sudoku", data, tmp_path / "run", preset="tiny", recipe=recipe,
        architecture={"hidden_size": 64, "num_heads": 2, "puzzle_emb_ndim": 0,
                      "halt_max_steps": 4},
        steps=STEPS, log_interval=50, checkpoint_interval=0, eval_batch_size=200,
        device="cpu", seed=0)

    torch.manual_seed(config.seed)
    untrained = evaluate(HRM(config.model_config), EvalLoader(data, 200))
    outcome = train(config)

    assert outcome.status == "finished"
    evals = [json.loads(line) for line in (tmp_path / "run" / "evals.jsonl").read_text()
             .splitlines()]
    curve = [(0, untrained.exact_accuracy)] + [(e["step"], e["exact_accuracy"]) for e in evals]
    print("\nheld-out exact accuracy by step:",
          ", ".join(f"{step}: {accuracy:.1%}" for step, accuracy in curve))

    assert untrained.exact_accuracy == 0.0
    final = evals[-1]
    assert final["step"] == STEPS and final["examples"] == 200
    assert final["exact_accuracy"] >= 0.2  # chance: 0.02%
    assert final["token_accuracy"] > untrained.token_accuracy + 0.2
    assert max(acc for _, acc in curve[:3]) < final["exact_accuracy"]  # it rose
