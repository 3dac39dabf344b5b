"""`hrm solve` end to end: CliRunner and real subprocesses with pipes.

The models are tiny random ones made here (they do not solve puzzles), so most tests check
records, messages and exit codes; an oracle model stands in where a right answer must be
reported solved.
"""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hrm.datasets import sudoku
from hrm.datasets.tasks import task_metadata
from hrm.model import HRM, HRMConfig, save_bundle
from hrm_cli.main import cli
from tests.inference.test_solver import Oracle

PUZZLE = "..3.2.6..9..3.5..1..18.64....81.29..7.......8..67.82....26.95..8..2.3..9..5.1.3.."
SOLUTION = "483921657967345821251876493548132976729564138136798245372689514814253769695417382"
MAZE = "#######\n#S    #\n# ### #\n#   #G#\n#######\n"
ARC_TASK = {"train": [{"input": [[1]], "output": [[2]]}],
            "test": [{"input": [[3, 4]], "output": [[4, 3]]}]}
RECORD_KEYS = {"index", "source", "input", "answer", "solved", "status", "segments", "attempts",
               "q_halt", "seconds"}


pytestmark = pytest.mark.usefixtures("hrm_home")


def make_bundle(folder: Path, task: str, vocab: int, seq_len: int) -> Path:
    torch.manual_seed(0)
    model = HRM(HRMConfig.from_preset("tiny", vocab_size=vocab, seq_len=seq_len))
    with torch.no_grad():  # a Q head that halts early for some inputs
        model.q_head.weight.normal_(0, 0.5)
        model.q_head.bias.normal_()
    return save_bundle(model, folder, task=task_metadata(task, seq_len, vocab),
                       provenance={"source": "random weights for tests"})


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "sudoku": make_bundle(root / "sudoku", "sudoku", 11, 81),
        "maze": make_bundle(root / "maze", "maze", 6, 900),
        "arc": make_bundle(root / "arc", "arc", 12, 900),
    }


def solve(*args: str, input: str | bytes | None = None):
    return CliRunner().invoke(cli, ["solve", *args], input=input)


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """Through `main`, which turns library errors into one-line messages and exit codes."""
    from hrm_cli.main import main

    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def jsonl(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


# --------------------------------------------------------------------------- records


def test_jsonl_records_and_an_error_record(tmp_path, models):
    path = tmp_path / "p.txt"
    path.write_text(f"{PUZZLE}\n123\n{PUZZLE}\n")
    result = solve("sudoku", str(path), "--model", str(models["sudoku"]), "--format", "jsonl")
    assert result.exit_code == 3, result.output  # random weights: nothing is solved
    first, bad, last = jsonl(result.stdout)
    assert set(first) >= RECORD_KEYS
    assert first["index"] == 0 and first["source"] == f"{path}:1" and first["input"] == PUZZLE
    assert len(first["answer"]) == 81 and first["solved"] is False
    assert first["status"] == "unsolved" and 1 <= first["segments"] <= 4
    assert 0 < first["q_halt"] < 1 and first["seconds"] >= 0
    assert bad == {"index": 1, "source": f"{path}:2", "error": bad["error"]}
    assert "81" in bad["error"] and last["index"] == 2
    assert f"Error: {path}:2: " in result.stderr and "Traceback" not in result.stderr
    assert "0 of 2 puzzles solved" in result.stderr


def test_dtype_is_chosen_and_reported(tmp_path, models):
    path = tmp_path / "p.txt"
    path.write_text(f"{PUZZLE}\n")
    args = ("sudoku", str(path), "-m", str(models["sudoku"]), "--device", "cpu",
            "--format", "jsonl")
    for dtype in ("float32", "bfloat16"):
        result = solve(*args, "--dtype", dtype)
        assert f"on cpu ({dtype})" in result.stderr and len(jsonl(result.stdout)) == 1
    assert "on cpu (float32)" in solve(*args).stderr
    bad = solve(*args, "--dtype", "float64")
    assert bad.exit_code == 2 and "float64" in bad.stderr


def test_answer_keeps_the_input_layout(tmp_path, models):
    grid = sudoku.format_grid(np.array([0 if c == "." else int(c) for c in PUZZLE],
                                       dtype=np.uint8).reshape(9, 9))
    path = tmp_path / "grid.txt"
    path.write_text(grid + "\n")
    result = solve("sudoku", str(path), "-m", str(models["sudoku"]), "--format", "jsonl", "-q")
    [record] = jsonl(result.stdout)
    assert record["input"] == grid and len(record["answer"].splitlines()) == 11
    lines = solve("sudoku", str(path), "-m", str(models["sudoku"]), "-q")
    assert len(lines.stdout.splitlines()) == 1 and len(lines.stdout.strip()) == 81


def test_lines_json_csv_and_pretty(tmp_path, models):
    path = tmp_path / "p.txt"
    path.write_text(f"{PUZZLE}\n{PUZZLE}\n")
    model = ["-m", str(models["sudoku"]), "-q"]
    lines = solve("sudoku", str(path), *model)  # piped: one line per puzzle
    assert [len(line) for line in lines.stdout.splitlines()] == [81, 81]
    as_json = json.loads(solve("sudoku", str(path), *model, "--format", "json").stdout)
    assert [r["index"] for r in as_json] == [0, 1]
    rows = list(csv.DictReader(io.StringIO(solve("sudoku", str(path), *model,
                                                 "--format", "csv").stdout)))
    assert rows[1]["source"] == f"{path}:2" and rows[1]["solved"] == "false"
    pretty = solve("sudoku", str(path), *model, "--format", "pretty")
    assert "NOT solved" in pretty.stdout and "segment" in pretty.stdout
    assert "wrong cell" in pretty.stdout  # also readable without colour
    assert pretty.stdout.count("------+-------+------") == 4


def test_stdin_and_halt_max(models):
    result = solve("sudoku", "-", "-m", str(models["sudoku"]), "--halt", "max",
                   "--max-segments", "3", "--format", "jsonl", "-q", input=PUZZLE + "\n")
    [record] = jsonl(result.stdout)
    assert record["source"] == "<stdin>:1" and record["segments"] == 3


def test_maze_and_arc(tmp_path, models):
    maze = tmp_path / "m.txt"
    maze.write_text(MAZE)
    result = solve("maze", str(maze), "-m", str(models["maze"]), "--format", "jsonl", "-q")
    [record] = jsonl(result.stdout)
    assert result.exit_code == 3 and record["input"] == MAZE.rstrip("\n")
    assert [len(row) for row in record["answer"].splitlines()] == [7] * 5

    task = tmp_path / "t.json"
    task.write_text(json.dumps(ARC_TASK))
    result = solve("arc", str(task), "-m", str(models["arc"]), "--format", "jsonl", "-q")
    [record] = jsonl(result.stdout)
    assert record["name"] == "t/test0" and record["input"] == "[[3,4]]"


def test_arc_without_expected_output_is_unverified_not_unsolved(tmp_path, models, monkeypatch):
    task = tmp_path / "t.json"
    task.write_text(json.dumps({"train": ARC_TASK["train"], "test": [{"input": [[3]]}]}))
    result = solve("arc", str(task), "-m", str(models["arc"]), "--format", "jsonl")
    [record] = jsonl(result.stdout)
    assert record["status"] == "unverified" and record["solved"] is False
    assert result.exit_code == 0 and "1 unverified" in result.stderr


# --------------------------------------------------------------------------- solved


def test_a_right_answer_is_solved_and_exits_0(tmp_path, models, monkeypatch):
    from hrm.inference import store

    real_load = store.load
    oracle = Oracle({PUZZLE: SOLUTION}, halt_after=1)  # a right answer must come out solved
    monkeypatch.setattr(store, "load", lambda *a, **k: (oracle, real_load(*a, **k)[1]))
    path = tmp_path / "p.txt"
    path.write_text(f"source,question,answer,rating\nx,{PUZZLE},{SOLUTION},1\n")
    result = solve("sudoku", str(path), "-m", str(models["sudoku"]), "--format", "jsonl")
    [record] = jsonl(result.stdout)
    assert result.exit_code == 0, result.output
    assert record["solved"] is True and record["answer"] == SOLUTION and record["segments"] == 1
    assert "1 of 1 puzzle solved" in result.stderr
    pretty = solve("sudoku", str(path), "-m", str(models["sudoku"]), "--format", "pretty")
    assert "✓ solved" in pretty.stdout


# --------------------------------------------------------------------------- bad input

BAD_INPUTS = [
    ("sudoku", "wrong length", PUZZLE[:-1] + "\n", 1, "found 80 cells"),
    ("sudoku", "bad character", PUZZLE[:-1] + "Q\n", 1, "character 'Q'"),
    ("sudoku", "clashing givens", "33" + PUZZLE[2:] + "\n", 1, "clash"),
    ("sudoku", "empty", "", None, "the input is empty"),
    ("sudoku", "binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1, "binary data"),
    ("maze", "no S", MAZE.replace("S", " "), 1, "exactly one S"),
    ("maze", "no G", MAZE.replace("G", " "), 1, "exactly one G"),
    ("maze", "oversized", "S" + "#" * 64 + "\n" + ("#" * 65 + "\n") * 63 + "#" * 64 + "G\n", 1,
     "larger than 64x64"),
    ("maze", "two S", MAZE.replace("#S", "SS"), 1,
     "exactly one S (start), found 2 (row 2 column 1, row 2 column 2)"),
    ("maze", "ragged", MAZE.replace("#   #G#", "#   #G"), 4, "row 4 has 6 cells"),
    ("maze", "unknown character", MAZE.replace("###", "#x#", 1), 1, "character 'x'"),
    ("maze", "empty", "", None, "the input is empty"),
    ("maze", "binary", b"\xff\xfe\x00\x01garbage\n", 1, "binary data"),
    ("arc", "ragged", '{"train": [{"input": [[1, 2], [3]], "output": [[1]]}],\n'
     ' "test": [{"input": [[1]]}]}', 1, "rectangular"),
    ("arc", "oversized", '{"train": [{"input": [[1]], "output": [[1]]}],\n "test": [{"input": '
     + json.dumps([[0] * 31] * 2) + "}]}", 2, "at most 30x30"),
    ("arc", "empty", "", None, "empty input"),
    ("arc", "not json", "{oops", 1, "invalid JSON"),
    ("arc", "binary", b"\x1f\x8b\x08\x00\xff", 1, "binary data"),
]


@pytest.mark.parametrize(("task", "case", "content", "line", "message"), BAD_INPUTS,
                         ids=[f"{t}-{c}" for t, c, *_ in BAD_INPUTS])
def test_bad_input_alone_is_a_one_line_error(tmp_path, models, task, case, content, line,
                                             message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = solve(task, str(path), "-m", str(models[task]), "-q")
    assert result.exit_code == 1  # nothing in the input was a puzzle
    where = f"{path}:{line}" if line else f"{path}"
    assert result.stderr.startswith(f"Error: {where}: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ("\n" if line else "")  # a line per item, even a failed one


MIXED = {
    "sudoku": f"{PUZZLE}\n12345\n{PUZZLE}\n",
    "maze": f"{MAZE}\n{MAZE.replace('G', ' ')}\n{MAZE}",  # grids separated by empty lines
}


@pytest.mark.parametrize("task", ["sudoku", "maze"])
def test_a_bad_item_among_good_ones_costs_only_itself(tmp_path, models, task):
    path = tmp_path / "mixed.txt"
    path.write_text(MIXED[task])
    result = solve(task, str(path), "-m", str(models[task]), "--format", "jsonl", "-q")
    records = jsonl(result.stdout)
    assert result.exit_code == 3
    assert ["error" in r for r in records] == [False, True, False]
    assert [r["index"] for r in records] == [0, 1, 2]
    assert result.stderr.startswith(f"Error: {records[1]['source']}: ")


def test_arc_bad_task_among_good_ones(tmp_path, models):
    tasks = {"ok": ARC_TASK,
             "bad": {"train": [{"input": [[1, 2], [3]], "output": [[1]]}],
                     "test": [{"input": [[1]]}]}}
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks, indent=1))
    result = solve("arc", str(path), "-m", str(models["arc"]), "--format", "jsonl", "-q")
    ok, bad = jsonl(result.stdout)
    assert result.exit_code == 3 and ok["name"] == "ok/test0" and "rectangular" in bad["error"]


# --------------------------------------------------------------------------- whole errors


def test_missing_file_is_an_error_before_any_solving(tmp_path, models, capsys):
    model = ["-m", str(models["sudoku"])]
    code, _, err = run_main(["solve", "sudoku", str(tmp_path / "nope.txt"), *model], capsys)
    assert code == 1 and err == f"Error: {tmp_path / 'nope.txt'}: No such file or directory\n"
    code, _, err = run_main(["solve", "sudoku", str(tmp_path), *model], capsys)
    assert code == 1 and "Is a directory" in err


def test_no_model_lists_the_ways_to_get_one(tmp_path, capsys, no_shipped_models):
    path = tmp_path / "p.txt"
    path.write_text(PUZZLE + "\n")
    code, _, err = run_main(["solve", "sudoku", str(path)], capsys)
    assert code == 1 and err.count("\n") == 1 and err.startswith("Error: no model for sudoku")
    for hint in ("installed models: none", "hrm models pull hrm-sudoku-extreme",
                 "hrm models import", "hrm train sudoku"):
        assert hint in err
    code, _, err = run_main(["solve", "sudoku", str(path), "--model", "no-such-model"], capsys)
    assert code == 1 and "no model named 'no-such-model'" in err


def test_model_for_another_task(tmp_path, models, capsys):
    path = tmp_path / "m.txt"
    path.write_text(MAZE)
    code, _, err = run_main(["solve", "maze", str(path), "-m", str(models["sudoku"])], capsys)
    assert code == 1 and "a sudoku model, not maze" in err and "Traceback" not in err


def test_maze_bigger_than_a_small_models_canvas_names_the_30x30_model(tmp_path):
    small = make_bundle(tmp_path / "maze10", "maze", 6, 100)  # a 10x10 canvas
    path = tmp_path / "m12.txt"
    path.write_text("S" + " " * 11 + "\n" + (" " * 12 + "\n") * 10 + " " * 11 + "G\n")
    result = solve("maze", str(path), "-m", str(small), "-q")
    assert result.exit_code == 1 and result.stdout == "\n"  # the item's empty line
    assert result.stderr.startswith(f"Error: {path}:1: a 12x12 maze does not fit this "
                                    "model's 10x10 canvas")
    assert "`hrm models pull hrm-maze-30x30-hard`" in result.stderr
    assert result.stderr.count("\n") == 1


def test_unavailable_device(tmp_path, models, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    path = tmp_path / "p.txt"
    path.write_text(PUZZLE + "\n")
    code, _, err = run_main(["solve", "sudoku", str(path), "-m", str(models["sudoku"]),
                             "--device", "cuda"], capsys)
    assert code == 1 and "no CUDA GPU" in err and err.count("\n") == 1


def test_usage_errors(models):
    assert solve("chess", "-").exit_code == 2
    assert solve("sudoku", "-", "-", "-m", str(models["sudoku"])).exit_code == 2
    assert solve("sudoku", "--batch-size", "0").exit_code == 2


# --------------------------------------------------------------------------- subprocesses


def hrm_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "hrm_cli", *args]


def subprocess_env(tmp_path) -> dict[str, str]:
    return {**os.environ, "HRM_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}


def test_pipe_into_head_stops_cleanly(tmp_path, models):
    puzzles = tmp_path / "many.txt"
    puzzles.write_text((PUZZLE + "\n") * 400)
    command = (f"cat {puzzles} | {' '.join(hrm_command('solve', 'sudoku', '-'))} "
               f"-m {models['sudoku']} -b 8 | head -n 1")
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120,
                          env=subprocess_env(tmp_path))
    assert len(done.stdout.splitlines()) == 1 and len(done.stdout.strip()) == 81
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_generate_into_solve_into_head(tmp_path, models):
    generate = " ".join(hrm_command("datasets", "generate", "sudoku", "-n", "6", "-q"))
    solve_cmd = " ".join(hrm_command("solve", "sudoku", "-", "-m", str(models["sudoku"]),
                                     "--format", "jsonl"))
    done = subprocess.run(f"{generate} | {solve_cmd} | head -n 2", shell=True,
                          capture_output=True, text=True, timeout=120,
                          env=subprocess_env(tmp_path))
    records = jsonl(done.stdout)
    assert [r["index"] for r in records] == [0, 1] and records[0]["source"] == "<stdin>:2"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_stdin_streams_an_answer_before_the_input_ends(tmp_path, models):
    process = subprocess.Popen(
        hrm_command("solve", "sudoku", "-", "-m", str(models["sudoku"]), "--format", "jsonl"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=subprocess_env(tmp_path))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout],
                     daemon=True).start()
    try:
        for expected_index in (0, 1):
            process.stdin.write(PUZZLE + "\n")
            process.stdin.flush()
            record = json.loads(lines.get(timeout=60))  # stdin is still open
            assert record["index"] == expected_index and record["source"].startswith("<stdin>")
        process.stdin.close()
        assert process.wait(timeout=60) == 3
        assert "Traceback" not in process.stderr.read()
    finally:
        process.kill()
        process.wait()
