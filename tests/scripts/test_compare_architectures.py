"""scripts/compare_architectures.py: the parts of its report that need no training."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_architectures.py"
spec = importlib.util.spec_from_file_location("compare_architectures", SCRIPT)
compare = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = compare  # its dataclass looks itself up there
spec.loader.exec_module(compare)


def write_metrics(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_training_curve_averages_the_windows_before_each_quarter(tmp_path):
    model = compare.Spec("hrm", "small")
    # 100 steps logged every 5; exact rises with the step, and windows without a halted
    # sample (None) are left out rather than counted as zero.
    rows = [{"step": s, "exact_accuracy": s / 100} for s in range(5, 101, 5)]
    rows[-1]["exact_accuracy"] = None
    write_metrics(tmp_path / model.folder, rows)
    curve = compare.training_curve(tmp_path, model, 100)
    # the last 5% before each point is one logged window: steps 25, 50, 75, then 100 has
    # no exact, so nothing
    assert curve == [0.25, 0.5, 0.75, None]
    assert compare.training_curve(tmp_path, compare.Spec("trm", "small"), 100) == []


def test_the_table_shows_the_curve_and_every_bucket(tmp_path):
    results = {"pflop": 1.0, "batch": 32, "lr": 7e-4, "lr_min_ratio": 0.1,
               "weight_decay": 0.1, "buckets": {"9x9": {"count": 200}},
               "models": {"hrm:small": {"parameters": 3_410_000, "steps": 6640,
                                        "curve": [0.05, 0.1, None, 0.3],
                                        "eval": {"9x9": {
                                            **{f"exact_{s}": 0.5 for s in compare.SEGMENTS},
                                            "adaptive": 0.25, "adaptive_segments": 3.5,
                                            "attempts": 0.75, "solve_per_s": 12.0}}},
                          "trm:small": {"parameters": 1_710_000}}}
    text = compare.table("maze", results)
    assert "| training exact at 25 / 50 / 75 / 100% of steps | 5% / 10% / - / 30% | - |" in text
    assert "| adaptive (mean segments) | 25.0% (3.5) | - |" in text
    assert "| within 8 attempts | 75.0% | - |" in text
    assert "| **9x9** (200 puzzles) |" in text
