"""Data reaches stdout when stderr is a terminal and stdout a file or a pipe.

rich's Progress, while live, swaps `sys.stdout` for a writer into its own console (stderr
here), so every record written during a progress bar used to land on the screen and the
file stayed empty. These run the real command in a real pseudo-terminal.
"""

from __future__ import annotations

import json

import pytest
from terminal import EXAMPLES, HRM, REPO, hrm_command, run_in_terminal, shell_in_terminal

pytestmark = pytest.mark.slow

SUDOKU = EXAMPLES / "sudoku.txt"
PUZZLES = [line for line in SUDOKU.read_text().splitlines() if line.strip()]


def test_solve_into_a_file_writes_every_answer(tmp_path):
    answers = tmp_path / "answers.txt"
    with open(answers, "wb") as handle:
        outcome = run_in_terminal([*HRM, "solve", "sudoku", str(SUDOKU)], stdout=handle)
    assert outcome.returncode == 0, outcome.screen_text
    lines = answers.read_text().splitlines()
    assert len(lines) == len(PUZZLES)
    assert all(len(line) == 81 and line.isdigit() for line in lines)
    # The bar was drawn (the terminal was a terminal) and no answer went there.
    assert "solving" in outcome.screen_text
    assert lines[0] not in outcome.screen_text


def test_solve_into_a_pipe_counts_one_line_per_puzzle():
    outcome = shell_in_terminal(f"{hrm_command()} solve sudoku {SUDOKU} | wc -l")
    assert outcome.returncode == 0, outcome.screen_text
    assert outcome.stdout.decode().strip() == str(len(PUZZLES))


def test_solve_jsonl_into_a_pipe_keeps_every_record():
    outcome = run_in_terminal([*HRM, "solve", "sudoku", str(SUDOKU), "--format", "jsonl"])
    records = [json.loads(line) for line in outcome.stdout.decode().splitlines()]
    assert [r["status"] for r in records] == ["solved"] * len(PUZZLES)
    assert '"status"' not in outcome.screen_text


def test_generate_to_stdout_under_a_terminal(tmp_path):
    outcome = run_in_terminal([*HRM, "datasets", "generate", "sudoku", "--size", "4",
                               "-n", "5", "--clues", "10", "--seed", "3"])
    assert outcome.returncode == 0, outcome.screen_text
    rows = outcome.stdout.decode().splitlines()
    assert rows[0] == "source,question,answer,rating" and len(rows) == 6


def test_eval_json_under_a_terminal():
    data = REPO / "tests" / "fixtures" / "official-hrm" / "datasets" / "sudoku-built"
    outcome = run_in_terminal([*HRM, "eval", "default:sudoku", "--data", str(data),
                               "--max-segments", "2", "--attempts", "2", "--format", "json",
                               "--device", "cpu"])
    assert outcome.returncode == 0, outcome.screen_text
    report = json.loads(outcome.stdout)
    assert report["examples"] == 3 and "attempts" in report


def test_watch_export_to_stdout_under_a_terminal():
    outcome = run_in_terminal([*HRM, "watch", "sudoku", str(SUDOKU), "--max-segments", "2",
                               "--export", "-"])
    assert outcome.returncode == 0, outcome.screen_text
    document = json.loads(outcome.stdout)
    assert len(document["puzzles"]) == len(PUZZLES)


def _call_text(text: str, start: int) -> str:
    """The source of the call whose opening parenthesis is at or after `start`."""
    depth = 0
    for end in range(text.index("(", start), len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end + 1]
    return text[start:]


def test_every_progress_bar_keeps_stdout_alone():
    """The audit, as a rule: every rich Progress or Live in the tree is told not to redirect
    stdout (rich's default is to capture it while the bar is live)."""
    import re

    offenders = []
    for path in [*REPO.glob("hrm_cli/**/*.py"), *REPO.glob("datasets/*.py"),
                 *REPO.glob("train/*.py"), *REPO.glob("model/*.py")]:
        text = path.read_text()
        for match in re.finditer(r"\b(Progress|Live)\(", text):
            if "redirect_stdout=False" not in _call_text(text, match.start()):
                line = text.count("\n", 0, match.start()) + 1
                offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert not offenders
