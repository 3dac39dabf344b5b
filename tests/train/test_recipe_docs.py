"""docs/training.md's recipe table shows the recipes `hrm train` uses, number for number."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hrm.train.recipes import recipe_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "training.md"
NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e-?\d+)?")
# Row label (its start) -> the Recipe fields its numbers show, in order.
ROWS = {
    "global batch": ["global_batch_size"],
    "AdamATan2 lr": ["lr", "beta1", "beta2", "weight_decay"],
    "warm-up": ["warmup_steps", "lr_min_ratio"],
    "puzzle embeddings": ["puzzle_emb_lr", "puzzle_emb_weight_decay"],
    "length": ["epochs"],
    "evaluation": ["eval_interval"],
}


def table_rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for label in ROWS:
            if line.startswith("|") and cells[0].startswith(label):
                rows[label] = cells
    return rows


@pytest.mark.parametrize(("column", "tasks"), [(1, ("sudoku", "maze")), (2, ("arc",))])
def test_recipe_table_matches_the_recipes(column, tasks):
    rows = table_rows()
    assert set(rows) == set(ROWS), "a row of the recipe table is missing"
    for task in tasks:
        recipe = recipe_for(task)
        for label, fields in ROWS.items():
            shown = [float(n) for n in NUMBER.findall(rows[label][column])]
            assert shown == [float(getattr(recipe, f)) for f in fields], (task, label)
