"""scripts/maze_grid/size_metrics.py: the bundle's by-size table from eval_sizes.py's JSON."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "maze_grid" / "size_metrics.py"
spec = importlib.util.spec_from_file_location("size_metrics", SCRIPT)
size_metrics = importlib.util.module_from_spec(spec)
spec.loader.exec_module(size_metrics)


def row(kind: str, size: int | str, mazes: list[list]) -> dict:
    return {"kind": kind, "size": size, "n": len(mazes),
            "one_rollout": sum(m[1] for m in mazes), "attempts": sum(m[2] for m in mazes),
            "mean_segments": 2.0, "seconds_per_maze": 0.12345, "mazes": mazes}


# per maze: path cells, solved in one rollout, within the attempts, segments
ANY_LENGTH = [[20, True, True, 1], [21, False, True, 3], [60, False, False, 30],
              [91, True, True, 9], [150, False, True, 30]]


def test_rows_are_ordered_and_30x30_is_split_by_path_length():
    rows = [row("corridors", 9, [[5, True, True, 1]]), row("walls", "30-any", ANY_LENGTH),
            row("walls", 30, [[111, False, True, 30]]), row("walls", 9, [[5, True, True, 1]])]
    doc = size_metrics.document(rows, "checked", "the commands")
    assert [(r["kind"], r["size"]) for r in doc["rows"]] == [
        ("walls", 9), ("walls", 30), ("walls", "30-any"), ("corridors", 9)]
    assert all("mazes" not in r for r in doc["rows"]) and doc["halt"] == "checked"
    paths = doc["by_path_length_30x30"]["walls"]
    # 20 is the top of the first bucket, 21 the bottom of the second; 150 joins 91+
    assert paths["1-20"] == {"n": 1, "one_rollout": 1, "attempts": 1, "mean_segments": 1.0}
    assert paths["21-40"]["n"] == 1 and paths["21-40"]["one_rollout"] == 0
    assert paths["41-60"] == {"n": 1, "one_rollout": 0, "attempts": 0, "mean_segments": 30.0}
    assert paths["61-90"]["n"] == 0
    assert paths["91+"] == {"n": 2, "one_rollout": 1, "attempts": 2, "mean_segments": 19.5}


def test_it_writes_the_table_into_a_bundle_and_keeps_the_rest(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(
        {"task": "maze", "metrics": {"held_out": {"x": 1}, "held_out_sizes": {"old": True}}}))
    results = tmp_path / "sizes.json"
    results.write_text(json.dumps({"step": 7, "rows": [
        row("walls", 30, [[111, False, True, 30], [112, True, True, 12]]),
        row("walls", "30-any", ANY_LENGTH)]}))
    done = subprocess.run([sys.executable, str(SCRIPT), str(results), "--halt", "checked",
                           "--command", "eval_sizes.py ...", "--bundle", str(bundle)],
                          capture_output=True, text=True, check=True)
    assert "| 30 (over 110 cells) | 2 | 50% / 100%, 2.0 seg, 0.123 s | - |" in done.stdout
    assert "| 91 or more | 1 / 2 of 2 |" in done.stdout
    config = json.loads((bundle / "config.json").read_text())
    assert config["task"] == "maze" and config["metrics"]["held_out"] == {"x": 1}
    assert config["metrics"]["held_out_sizes"]["command"] == "eval_sizes.py ..."
    assert [p.name for p in bundle.iterdir()] == ["config.json"]  # no temporary file left
