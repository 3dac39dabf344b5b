import csv
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hrm.datasets import maze, sudoku
from hrm.datasets.format import load_split
from hrm_cli.main import cli, main


def run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_generate_sudoku_to_stdout(capsys):
    code, out, _ = run(["datasets", "generate", "sudoku", "-n", "3", "--seed", "2"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 3
    for row in rows:
        [p] = sudoku.parse(row["question"] + "\n")
        assert sudoku.verify(p.grid, sudoku.parse(row["answer"])[0].grid)


def test_generate_maze_file_is_atomic_and_not_overwritten(tmp_path, capsys):
    out = tmp_path / "mazes.csv"
    args = ["datasets", "generate", "maze", "-n", "4", "--size", "9", "--out", str(out), "-q"]
    code, stdout, _ = run(args, capsys)
    assert code == 0 and stdout == ""
    mazes = maze.parse(out.read_text(), str(out))
    assert len(mazes) == 4 and all(m.solution is not None for m in mazes)
    before = out.read_text()
    code, _, err = run([*args, "--seed", "3"], capsys)
    assert code == 2 and "--force" in err and out.read_text() == before
    code, _, _ = run([*args, "--seed", "3", "--force"], capsys)
    assert code == 0 and out.read_text() != before
    assert [p.name for p in tmp_path.iterdir()] == ["mazes.csv"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_generated_and_built_files_get_the_umask_mode(tmp_path, capsys, umask):
    # Written through private temporaries (0600 files, 0700 folders) and renamed: what
    # lands must have the mode any new file gets, or a shared dataset is unreadable.
    previous = os.umask(umask)
    try:
        csv_path, built = tmp_path / "mazes.csv", tmp_path / "built"
        assert run(["datasets", "generate", "maze", "-n", "4", "--size", "5", "--out",
                    str(csv_path), "-q"], capsys)[0] == 0
        assert run(["datasets", "build", str(csv_path), "--test", str(csv_path), "--canvas",
                    "6", "--out", str(built), "-q"], capsys)[0] == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(csv_path.stat().st_mode) == 0o666 & ~umask
    for path in [built, *built.rglob("*")]:
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


@pytest.mark.parametrize(
    "args",
    [
        ["datasets", "generate", "sudoku", "--min-path", "5"],
        ["datasets", "generate", "maze", "--min-rating", "5"],
        ["datasets", "generate", "sudoku", "--size", "5"],
        ["datasets", "generate", "maze", "--size", "65"],
        ["datasets", "generate", "maze", "--size", "5", "--min-path", "50"],
        ["datasets", "generate", "sudoku", "--min-rating", "5", "--max-rating", "2"],
        ["datasets", "generate", "chess"],
    ],
)
def test_generate_usage_errors(args, capsys):
    code, _, err = run(args, capsys)
    assert code == 2 and "Error" in err and "Traceback" not in err


def test_build_from_csv_and_info(tmp_path, capsys, official_datasets):
    csv_dir = official_datasets / "sudoku-csv"
    out = tmp_path / "built"
    code, stdout, _ = run(
        [
            "datasets",
            "build",
            str(csv_dir / "train.csv"),
            "--test",
            str(csv_dir / "test.csv"),
            "--aug",
            "2",
            "--out",
            str(out),
            "-q",
        ],
        capsys,
    )
    assert code == 0 and stdout.strip() == str(out)
    assert load_split(out, "train").all.num_puzzles == 15
    code, stdout, _ = run(["datasets", "info", str(out), "--format", "json"], capsys)
    assert code == 0
    import json

    summary = json.loads(stdout)
    assert summary["splits"]["train"]["puzzles"] == 15
    assert summary["splits"]["test"]["groups"] == 3
    # The table fits an 80-column terminal without cutting a number.
    table = CliRunner().invoke(cli, ["datasets", "info", str(out)], terminal_width=80,
                               env={"COLUMNS": "80"}).output
    assert all(len(line) <= 80 for line in table.splitlines()), table
    assert "…" not in table and "tokens" in table


def test_build_from_a_folder_uses_default_out_name(
    tmp_path, capsys, official_datasets, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = run(
        ["datasets", "build", str(official_datasets / "maze-csv"), "--aug", "7", "-q"], capsys
    )
    assert code == 0 and stdout.strip() == "data/maze-csv-aug7"
    assert load_split(tmp_path / "data" / "maze-csv-aug7", "train").all.num_puzzles == 24


def test_build_arc_folder(tmp_path, capsys, official_datasets):
    out = tmp_path / "arc"
    code, _, _ = run(
        [
            "datasets",
            "build",
            str(official_datasets / "arc-raw"),
            "--aug",
            "2",
            "--out",
            str(out),
            "-q",
        ],
        capsys,
    )
    assert code == 0
    assert load_split(out, "test").metadata.seq_len == 900


def test_bad_csv_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("source,question,answer,rating\nx,S  G,So G,1\nx,S  Q,So Q,1\n")
    code, _, err = run(["datasets", "build", str(bad), "--out", str(tmp_path / "o")], capsys)
    assert code == 1
    assert err.strip() == f"Error: {bad}:3: question has the invalid character 'Q'"


def test_info_on_a_non_dataset_folder(tmp_path, capsys):
    code, _, err = run(["datasets", "info", str(tmp_path)], capsys)
    assert code == 2 and "dataset.json" in err


def test_generate_into_a_closed_pipe_stops_cleanly():
    command = f"{sys.executable} -m hrm_cli datasets generate maze -n 200 --size 8 | head -n 2"
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
    assert done.stdout.count("\n") == 2
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_clirunner_sees_the_same_commands():
    from hrm_cli.main import cli

    result = CliRunner().invoke(cli, ["datasets", "--help"])
    for name in ("list", "fetch", "generate", "build", "info"):
        assert name in result.output


def test_build_a_registry_dataset_fetches_it_first(
    tmp_path, capsys, monkeypatch, official_datasets
):
    from hub_server import FakeHub

    monkeypatch.setenv("HRM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HRM_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with FakeHub() as server:
        monkeypatch.setenv("HRM_HF_ENDPOINT", server.base_url)
        for split in ("train", "test"):
            server.add_file(
                "dataset",
                "sapientinc/maze-30x30-hard-1k",
                f"{split}.csv",
                (official_datasets / "maze-csv" / f"{split}.csv").read_bytes(),
            )
        out = tmp_path / "built"
        code, stdout, _ = run(
            ["datasets", "build", "maze-30x30-hard-1k", "--aug", "7", "--out", str(out), "-q"],
            capsys,
        )
    assert code == 0 and stdout.strip() == str(out)
    assert load_split(out, "train").all.num_puzzles == 24
    assert load_split(out, "test").all.num_puzzles == 2


def test_build_offline_without_a_cached_copy_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HRM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HRM_OFFLINE", "1")
    code, _, err = run(["datasets", "build", "sudoku-extreme", "-q"], capsys)
    assert code == 1 and "HRM_OFFLINE" in err and "Traceback" not in err


def test_build_mazes_on_a_larger_canvas_as_solve_pads_them(tmp_path, capsys):
    from hrm.datasets.tasks import get_task

    mazes_csv = tmp_path / "m9.csv"
    assert run(["datasets", "generate", "maze", "--size", "9", "-n", "6", "--seed", "4",
                "--out", str(mazes_csv), "-q"], capsys)[0] == 0
    out = tmp_path / "built"
    code, _, _ = run(["datasets", "build", str(mazes_csv), "--test", str(mazes_csv),
                      "--canvas", "12", "--out", str(out), "-q"], capsys)
    assert code == 0
    split = load_split(out, "test")
    assert split.metadata.seq_len == 144
    puzzles = maze.parse(mazes_csv.read_text(), str(mazes_csv))
    task = get_task("maze")
    for puzzle, inputs, labels in zip(puzzles, split.all.inputs, split.all.labels, strict=True):
        # the same tokens `hrm solve` feeds a 12x12 model for this 9x9 maze
        assert np.array_equal(inputs, task.encode(puzzle, 144))
        grid = maze.decode(labels)
        assert np.array_equal(grid[:9, :9], puzzle.solution)
        assert (grid[9:] == maze.WALL).all() and (grid[:, 9:] == maze.WALL).all()

    code, _, err = run(["datasets", "build", str(mazes_csv), "--canvas", "8",
                        "--out", str(tmp_path / "small"), "-q"], capsys)
    assert code == 1 and "m9.csv: 9x9 mazes do not fit a 8x8 canvas" in err
    assert not (tmp_path / "small").exists()
    sudoku_csv = Path(__file__).resolve().parents[2] / "examples" / "sudoku.csv"
    code, _, err = run(["datasets", "build", str(sudoku_csv), "--canvas", "12"], capsys)
    assert code == 2 and "--canvas applies to maze builds, not sudoku" in err
