"""A puzzle without a solution is found by the rules before any model runs: reported at
once as `unsolvable`, counted apart from `unsolved` (it used to cost 8 attempts of 32
segments and read as a model failure)."""

from __future__ import annotations

import json
import subprocess

from terminal import EXAMPLES, HRM, hrm_env

SOLVABLE = (EXAMPLES / "sudoku.txt").read_text().splitlines()[0]
# No given repeats, yet r1c1 can hold nothing: 2-9 are in its row and 1 is in its column.
CONTRADICTION = ".23456789" + "1" + "." * 71
# The same dead end in row 2 (r2c1 needs the 1 that r3c1 holds).
SECOND = "." * 9 + ".23456789" + "1" + "." * 62
# A 3x3 maze whose goal is walled in.
WALLED = "S #" + " ##" + "##G"


def solve(task: str, text: str, *args: str, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "puzzles.txt"
    path.write_text(text)
    return subprocess.run([*HRM, "solve", task, str(path), *args], env=hrm_env(),
                          capture_output=True, text=True, timeout=300)


def test_unsolvable_sudokus_are_reported_without_running_the_model(tmp_path):
    result = solve("sudoku", f"{CONTRADICTION}\n{SECOND}\n", "--format", "jsonl",
                   tmp_path=tmp_path)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in records] == ["unsolvable", "unsolvable"]
    assert [r["segments"] for r in records] == [0, 0]
    assert [r["attempts"] for r in records] == [0, 0]
    assert {r["reason"] for r in records} == {"the givens contradict each other (no solution)"}
    assert not any(r["solved"] for r in records)
    assert result.returncode == 3
    assert "0 of 2 puzzles solved; 2 unsolvable (no solution by the rules)" in result.stderr


def test_unsolvable_is_counted_apart_from_unsolved(tmp_path):
    result = solve("sudoku", f"{SOLVABLE}\n{CONTRADICTION}\n", "--format", "pretty",
                   tmp_path=tmp_path)
    assert "✗ unsolvable: the givens contradict each other" in result.stdout
    assert "✓ solved" in result.stdout
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith("1 of 2 puzzles solved; 1 unsolvable (no solution by the rules)")
    assert "not solved" not in summary
    assert result.returncode == 3


def test_a_maze_without_a_path_is_unsolvable(tmp_path):
    result = solve("maze", WALLED + "\n", "--format", "csv", tmp_path=tmp_path)
    header, row = result.stdout.splitlines()
    record = dict(zip(header.split(","), row.split(","), strict=True))
    assert record["status"] == "unsolvable" and record["segments"] == "0"
    assert record["reason"] == "walls separate S from G (no path)"
    lines = solve("maze", WALLED + "\n", "--format", "lines", tmp_path=tmp_path)
    assert lines.stdout == "\n" and lines.returncode == 3
