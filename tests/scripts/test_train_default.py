"""scripts/train_default.sh, the script a GPU session runs, end to end on the CPU: data
generated when missing, easy mazes mixed in, one run at a given step rate that overruns its
time limit, and the paused run exported as the bundle the next session starts from.

The interpreter is passed as the scripts take it, in PYTHON or as the `hrm` on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from hrm.datasets.format import load_split
from hrm.train.checkpoint import CheckpointReader

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_default.sh"
# A PATH with the shell tools the scripts use but no `hrm` and no Python of ours.
BARE_PATH = os.pathsep.join(["/usr/bin", "/bin"])


def run_script(tmp_path: Path, task: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "VIRTUAL_ENV")}
    return subprocess.run(["bash", str(SCRIPT), task], cwd=tmp_path, env={**base, **env},
                          capture_output=True, text=True, timeout=300)


def test_an_overrunning_maze_session_still_returns_a_bundle(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    done = run_script(
        tmp_path, "maze", PYTHON=sys.executable, PATH=BARE_PATH,
        DATA_DIR=str(tmp_path / "data"), OUT=str(out), WORK=str(work),
        GEN_TRAIN="12", GEN_TEST="3", EASY="5", HALTING="halt-only",
        MODEL="--preset tiny --gradient full --halt-max-steps 2", BATCH="4",
        DEVICE="cpu", COMPILE="", WARMUP="1", OMP_NUM_THREADS="1",
        # A step rate far above the CPU's: the planned steps cannot fit the time limit.
        BUDGET="45", RESERVE="5", STEPS_PER_S="100", STARTUP_S="5",
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert f"python: {sys.executable}" in log
    assert "generating 12 hard mazes (seed 201)" in log
    assert "adding 5 mazes of any path length (seed 204)" in log
    assert load_split(work / "data", "train").all.num_examples == 12 + 5
    assert load_split(work / "data", "test").all.num_examples == 3

    assert "the run exited 3" in log  # paused at its time limit ...
    step = CheckpointReader(work / "run" / "checkpoint.safetensors").state["step"]
    assert f"finishing at step {step}" in log  # ... and exported where it stopped
    bundle = json.loads((out / "model" / "config.json").read_text())
    assert bundle["provenance"]["steps"] == step
    assert bundle["architecture"]["halting"] == "halt-only"
    assert (out / "model" / "model.safetensors").stat().st_size > 0
    assert (out / "run" / "metrics.jsonl").is_file() and (out / "log.txt").is_file()


def stops_at_missing_data(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """A sudoku session without its CSVs: it stops right after checking the interpreter."""
    (tmp_path / "data").mkdir()
    return run_script(tmp_path, "sudoku", DATA_DIR=str(tmp_path / "data"),
                      OUT=str(tmp_path / "out"), WORK=str(tmp_path / "work"), DEVICE="cpu", **env)


def test_without_python_or_hrm_on_path_it_says_what_to_set(tmp_path):
    done = stops_at_missing_data(tmp_path, PATH=BARE_PATH)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.strip().splitlines() == [
        "train_default.sh: set PYTHON to the Python that has hrm installed (PYTHON=python3 "
        "where torch is installed and a .whl folder brings hrm), or put hrm on PATH"]


def test_without_python_it_takes_the_interpreter_of_the_hrm_on_path(tmp_path):
    scripts = Path(sysconfig.get_path("scripts"))
    if not (scripts / "hrm").is_file():
        pytest.skip(f"no hrm console script in {scripts}")
    done = stops_at_missing_data(tmp_path, PATH=f"{scripts}{os.pathsep}{BARE_PATH}")
    log = done.stdout + done.stderr
    assert done.returncode == 1, log  # the missing CSVs, found by that interpreter's hrm
    reported = log.split("python: ", 1)[1].split("\n", 1)[0]
    assert Path(reported).samefile(sys.executable), log
    assert "torch 2." in log and "missing" in log and "sudoku-train.csv" in log
