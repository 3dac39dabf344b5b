"""`hrm train TASK` without --data: the task's standard dataset from the cache, else fetched
from a server on 127.0.0.1 (standing in for Hugging Face and GitHub) and built there; the
ways forward when it cannot be had; --data still wins.

The served files are small stand-ins with the published layout, so a build takes seconds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import select
import subprocess
import sys
import zipfile

import pytest
import torch
from hub_server import FakeHub, Hostile
from ports import unused_port
from train_helpers import sudoku4_dataset

from hrm.datasets import maze, sudoku
from hrm.datasets.format import load_split
from hrm.datasets.maze_generator import MazeSettings
from hrm.datasets.maze_generator import generate as generate_mazes
from hrm.datasets.sudoku_generator import GeneratorSettings
from hrm.datasets.sudoku_generator import generate as generate_sudoku
from hrm.train.recipes import standard_data
from hrm_cli.main import main

TINY = ["--preset", "tiny", "--batch-size", "16", "--halt-max-steps", "2", "--steps", "1",
        "--device", "cpu"]
REPO = "sapientinc/{}"
ARC_ZIPS = {"arc-agi-1": "/fchollet/ARC-AGI/archive/refs/heads/master.zip",
            "concept-arc": "/victorvikram/ConceptARC/archive/refs/heads/main.zip"}

pytestmark = pytest.mark.usefixtures("one_thread")


def csv_bytes(rows: list[tuple[str, str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("source", "question", "answer", "rating"))
    writer.writerows(("test", q, a, 0) for q, a in rows)
    return text.getvalue().encode()


def sudoku_rows(count: int, seed: int) -> list[tuple[str, str]]:
    items = generate_sudoku(count, seed, GeneratorSettings(size=9, clues=40))
    return [(sudoku.format_line(i.puzzle), sudoku.format_line(i.solution)) for i in items]


def maze_rows(count: int, seed: int) -> list[tuple[str, str]]:
    items = generate_mazes(count, seed, MazeSettings(size=6))
    return [(maze.format_line(m.puzzle), maze.format_line(m.solution)) for m in items]


@pytest.fixture
def server(hrm_home, monkeypatch):
    with FakeHub() as srv:
        monkeypatch.setenv("HRM_HF_ENDPOINT", srv.base_url)
        monkeypatch.setenv("HRM_GITHUB_ENDPOINT", srv.base_url)
        yield srv


def serve_sudoku(server: FakeHub) -> None:
    repo = REPO.format("sudoku-extreme")
    server.add_file("dataset", repo, "train.csv", csv_bytes(sudoku_rows(6, 1)))
    server.add_file("dataset", repo, "test.csv", csv_bytes(sudoku_rows(3, 2)))


def serve_mazes(server: FakeHub) -> None:
    repo = REPO.format("maze-30x30-hard-1k")
    server.add_file("dataset", repo, "train.csv", csv_bytes(maze_rows(8, 1)))
    server.add_file("dataset", repo, "test.csv", csv_bytes(maze_rows(4, 2)))


def run(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sudoku_is_fetched_and_built_then_taken_from_the_cache(server, hrm_home, tmp_path,
                                                               capsys, monkeypatch):
    serve_sudoku(server)
    code, stdout, err = run(["train", "sudoku", "--out", tmp_path / "run1", *TINY], capsys)
    assert code == 0, err
    built = hrm_home / "datasets" / "sudoku-extreme" / "built" / "sudoku-extreme-sub1000-aug1000"
    assert standard_data("sudoku").folder() == built
    assert ("hrm train sudoku without --data trains on Sudoku-Extreme with the paper's "
            "subsample") in err
    assert f"fetching sudoku-extreme, then building it into {built}" in err
    assert "built sudoku-extreme-sub1000-aug1000 in " in err
    assert stdout.strip() == str(tmp_path / "run1")
    # All 6 served puzzles (fewer than the subsample of 1,000), each with 1,000 variants.
    train = load_split(built, "train").all
    assert (train.num_groups, train.num_puzzles) == (6, 6 * 1001)
    assert load_split(built, "test").all.num_puzzles == 3
    config = json.loads((tmp_path / "run1" / "config.json").read_text())
    assert config["config"]["data"] == str(built)

    # Offline now: the built copy serves, without a request.
    monkeypatch.setenv("HRM_OFFLINE", "1")
    requests = len(server.requests)
    code, _, err = run(["train", "sudoku", "--out", tmp_path / "run2", *TINY], capsys)
    assert code == 0, err
    assert f"built in the cache: {built}" in err and "fetching" not in err
    assert len(server.requests) == requests


def test_maze_fetched_earlier_is_built_offline(server, hrm_home, tmp_path, capsys, monkeypatch):
    serve_mazes(server)
    assert run(["datasets", "fetch", "maze-30x30-hard-1k", "-q"], capsys)[0] == 0
    monkeypatch.setenv("HRM_OFFLINE", "1")
    code, _, err = run(["train", "maze", "--out", tmp_path / "run", *TINY], capsys)
    assert code == 0, err
    built = hrm_home / "datasets" / "maze-30x30-hard-1k" / "built" / "maze-30x30-hard-1k"
    assert (f"trains on Maze-Hard: 1,000 training and 1,000 test mazes of 30x30, as in the "
            f"paper. It is not built yet: building it into {built}") in err
    assert load_split(built, "train").all.num_puzzles == 8  # no augmentation, as the paper
    assert load_split(built, "test").all.num_puzzles == 4


def zipped(top: str, files: dict[str, object]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(f"{top}/{name}", json.dumps(content))
    return buffer.getvalue()


def test_arc_combines_arc_agi_1_and_concept_arc(server, hrm_home, capsys):
    from hrm.train.standard_data import standard_dataset

    task = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}],
            "test": [{"input": [[3, 4]], "output": [[4, 3]]}]}
    server.add_hostile(ARC_ZIPS["arc-agi-1"], Hostile("bytes", data=zipped("ARC-AGI-master", {
        "data/training/a1.json": task, "data/evaluation/e1.json": task})))
    server.add_hostile(ARC_ZIPS["concept-arc"], Hostile("bytes", data=zipped("ConceptARC-main", {
        "corpus/Copy/c1.json": task, "corpus/Center/c2.json": task})))
    said = []
    folder = standard_dataset("arc", say=said.append, quiet=True)
    assert folder == (hrm_home / "datasets" / "arc-agi-1" / "built" /
                      "arc-agi-1-concept-arc-aug1000")
    assert said[0].endswith(f"fetching arc-agi-1 and concept-arc, then building it into "
                            f"{folder}")
    identifiers = json.loads((folder / "identifiers.json").read_text())
    assert len(identifiers) > 4 * 100  # 4 tasks, each with its augmented variants
    assert load_split(folder, "test").all.num_groups == 1  # the evaluation task


@pytest.mark.parametrize(("task", "fetch", "offline"), [
    ("sudoku", "`hrm datasets fetch sudoku-extreme`",
     "`hrm datasets generate sudoku --count 1000 --out sudoku-train.csv && "),
    ("maze", "`hrm datasets fetch maze-30x30-hard-1k`",
     "`hrm datasets generate maze --count 1000 --min-path 110 --out maze-train.csv && "),
    ("arc", "`hrm datasets fetch arc-agi-1 && hrm datasets fetch concept-arc`",
     "`hrm datasets build FOLDER_OF_TASKS --out data/arc && hrm train arc --data data/arc`"),
])
def test_offline_with_an_empty_cache_names_both_ways_forward(task, fetch, offline, hrm_home,
                                                             tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HRM_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run(["train", task, *TINY], capsys)
    assert code == 1 and stdout == ""
    error = err.splitlines()[-1]
    assert error.startswith(f"Error: hrm train {task} without --data needs ")
    assert "(HRM_OFFLINE forbids downloads)" in error
    them = "them" if task == "arc" else "it"
    assert f"Either unset HRM_OFFLINE and fetch {them} where the network is reachable: " \
           f"{fetch}, then `hrm train {task}` again; or " in error
    assert offline in error
    if task != "arc":
        assert f"hrm datasets build {task}-train.csv --test {task}-test.csv" in error
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


def test_an_unreachable_server_names_both_ways_forward(hrm_home, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HRM_HF_ENDPOINT", f"http://127.0.0.1:{unused_port()}")  # nobody there
    code, _, err = run(["train", "sudoku", "--out", tmp_path / "run", *TINY], capsys)
    assert code == 1
    error = err.splitlines()[-1]
    assert error.startswith("Error: hrm train sudoku without --data needs sudoku-extreme, ")
    assert "could not download" in error and "127.0.0.1" in error
    assert "Either fetch it where the network is reachable: `hrm datasets fetch " \
           "sudoku-extreme`" in error and "hrm datasets generate sudoku" in error
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpus_without_a_gpu_stops_before_any_download(server, hrm_home, capsys):
    serve_mazes(server)
    code, _, err = run(["train", "maze", "--gpus", "4"], capsys)
    assert code == 1
    assert err.startswith("Error: --gpus 4: no CUDA GPU is available on this machine")
    assert err.count("\n") == 1 and "use --nproc 4 --device cpu" in err
    assert server.requests == [] and not (hrm_home / "datasets").exists()


def test_data_overrides_the_standard_dataset(hrm_home, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HRM_OFFLINE", "1")
    data = sudoku4_dataset(32, 8)
    code, _, err = run(["train", "sudoku", "--data", data, "--out", tmp_path / "run", *TINY],
                       capsys)
    assert code == 0, err
    assert "without --data" not in err and not hrm_home.exists()


def test_two_trainings_at_once_fetch_and_build_once(server, hrm_home, tmp_path):
    serve_sudoku(server)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen(
        [sys.executable, "-m", "hrm_cli", "train", "sudoku", "--out", str(tmp_path / f"r{i}"),
         *TINY], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)]
    outputs = [process.communicate(timeout=300) for process in runs]
    assert [process.returncode for process in runs] == [0, 0], outputs
    errs = sorted(err for _, err in outputs)
    assert sum("It is not built yet" in err for err in errs) == 1, errs
    assert sum("built in the cache" in err for err in errs) == 1, errs
    assert len(server.hits("/cdn/")) == 2  # train.csv and test.csv, once each


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pty")
def test_on_a_terminal_the_download_and_the_build_show_progress(server, tmp_path):
    import pty

    serve_sudoku(server)
    master, terminal = pty.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "hrm_cli", "train", "sudoku", "--out", str(tmp_path / "run"),
         *TINY], env=env, stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    screen = b""
    while True:  # drain the terminal, or the child blocks on it; EIO once it is closed
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    assert process.wait(timeout=300) == 0, screen.decode(errors="replace")[-3000:]
    text = screen.decode(errors="replace")
    # The download's bar is huggingface_hub's own (tqdm), which these few-KB files pass too
    # quickly to draw; the fetch is announced, and the build's bar runs to the end.
    assert "fetching sudoku-extreme, then building it" in text
    assert "building" in text and "6/6" in text  # the build's bar, to the last puzzle
    assert "It is not built yet" in text


def test_a_build_under_way_elsewhere_is_waited_for(server, hrm_home, tmp_path):
    from filelock import FileLock

    serve_mazes(server)
    lock = FileLock(str(hrm_home / "datasets" / ".maze-30x30-hard-1k.build.lock"))
    (hrm_home / "datasets").mkdir(parents=True)
    process = None
    try:
        with lock:  # as another process fetching and building would hold it
            process = subprocess.Popen(
                [sys.executable, "-m", "hrm_cli", "train", "maze", "--out",
                 str(tmp_path / "run"), *TINY], env={**os.environ, "OMP_NUM_THREADS": "1"},
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            # Bounded: a process that waits without a word must fail, not hang, the test.
            assert select.select([process.stderr], [], [], 120)[0], "nothing said in 120 s"
            first = process.stderr.readline()
            assert first == ("another hrm process is fetching or building "
                             "maze-30x30-hard-1k; waiting for it\n")
            assert server.requests == []
        stdout, err = process.communicate(timeout=300)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert stdout.strip() == str(tmp_path / "run")
    assert "It is not built yet: fetching maze-30x30-hard-1k" in err
