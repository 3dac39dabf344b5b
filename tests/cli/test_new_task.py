"""A fourth task is one module and one task-table entry: `flip` (tests/flip_task.py) goes
through generate, build, train, eval and solve, and the TUI draws it, without any change to
the package."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from hrm.datasets.format import load_split
from hrm.datasets.task_table import TASK_NAMES, register_task, unregister_task
from hrm.datasets.tasks import get_task
from hrm_cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--preset", "tiny", "--batch-size", "16", "--lr", "3e-3", "--warmup-steps", "2",
        "--halt-max-steps", "2", "--eval-interval", "0", "--device", "cpu", "-q"]


@pytest.fixture
def flip() -> Iterator[None]:
    register_task("flip", "flip_task:FlipTask")
    yield
    unregister_task("flip")


def run(args: list, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_task_from_one_module_and_one_table_entry(flip, tmp_path, capsys):
    assert "flip" in TASK_NAMES
    # Offline generation and a build from CSV files, detected as flip by their characters.
    for name, seed in (("train", 0), ("test", 1)):
        code, _, err = run(["datasets", "generate", "flip", "--count", "64", "--seed", seed,
                            "--out", tmp_path / f"{name}.csv", "-q"], capsys)
        assert code == 0, err
    data = tmp_path / "data"
    code, out, err = run(["datasets", "build", tmp_path / "train.csv", "--test",
                          tmp_path / "test.csv", "--out", data, "-q"], capsys)
    assert code == 0, err
    assert out.strip() == str(data)
    metadata = load_split(data, "test").metadata
    assert (metadata.vocab_size, metadata.seq_len, metadata.total_groups) == (3, 16, 64)

    # Training: the dataset is checked to be flip's, the bundle says flip.
    run_dir = tmp_path / "run"
    code, _, err = run(["train", "flip", "--data", data, "--out", run_dir, "--steps", "60",
                        *TINY], capsys)
    assert code == 0, err
    bundle = json.loads((run_dir / "model" / "config.json").read_text())
    assert bundle["task"]["name"] == "flip" and bundle["task"]["vocab_size"] == 3

    # Evaluation, and solving the split as `hrm solve` would (the rules check answers).
    code, out, err = run(["eval", run_dir, "--format", "json", "--attempts", "2", "-q"],
                         capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["task"] == "flip" and report["examples"] == 64
    assert report["exact_accuracy"] == 1.0  # flipping bits is learnt in 60 steps
    assert report["attempts"]["solved_within"]["1"] == 1.0

    # Solving from a file, with the run's model.
    puzzles = tmp_path / "puzzles.txt"
    puzzles.write_text("-xx-x--x-xx-x--x\nxxxx----xxxx----\n-x\n")
    code, out, err = run(["solve", "flip", puzzles, "--model", run_dir / "model",
                          "--device", "cpu", "--format", "jsonl"], capsys)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 3, err  # the third line is not a square grid: reported and skipped
    assert "puzzles.txt:3: expected a square grid" in err and "2 of 2 puzzles solved" in err
    solved = [r for r in records if r.get("solved")]
    assert [r["answer"] for r in solved] == ["x--x-xx-x--x-xx-", "----xxxx----xxxx"]

    # A dataset of another task is refused by name.
    code, _, err = run(["train", "sudoku", "--data", data, "--out", tmp_path / "no",
                        *TINY], capsys)
    assert code == 1 and "not a sudoku dataset" in err and "looks like flip data" in err


def test_the_tui_draws_a_task_without_a_board_of_its_own(flip):
    from hrm_cli.tui.board import layouts, legend

    puzzle = next(iter(get_task("flip").read(["-xx-\n"], "x")))
    names = [name for name, _ in layouts(puzzle, None)]
    assert names == ["2 chars/cell", "1 char/cell"]
    lines = dict(layouts(puzzle, None))["1 char/cell"]()
    assert [line.plain for line in lines] == ["01", "10"]
    assert "confidence" in legend(puzzle).plain


def test_unknown_tasks_are_still_refused(capsys):
    code, _, err = run(["solve", "flip", "-"], capsys)
    assert code == 2 and "'flip' is not one of 'sudoku', 'maze', 'arc'" in err
