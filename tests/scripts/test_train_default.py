"""scripts/train_default.sh, the script a GPU session runs, end to end on the CPU: data
generated when missing, easy mazes mixed in, one run at a given step rate that overruns its
time limit, and the paused run exported as the bundle the next session starts from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hrm.datasets.format import load_split
from hrm.train.checkpoint import CheckpointReader

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_default.sh"


def test_an_overrunning_maze_session_still_returns_a_bundle(tmp_path):
    # `python3` in the script must be this interpreter (the one with hrm installed).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    work, out = tmp_path / "work", tmp_path / "out"
    env = {
        **os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "DATA_DIR": str(tmp_path / "data"), "OUT": str(out), "WORK": str(work),
        "GEN_TRAIN": "12", "GEN_TEST": "3", "EASY": "5", "HALTING": "halt-only",
        "MODEL": "--preset tiny --gradient full --halt-max-steps 2", "BATCH": "4",
        "DEVICE": "cpu", "COMPILE": "", "WARMUP": "1", "OMP_NUM_THREADS": "1",
        # A step rate far above the CPU's: the planned steps cannot fit the time limit.
        "BUDGET": "45", "RESERVE": "5", "STEPS_PER_S": "100", "STARTUP_S": "5",
    }
    done = subprocess.run(["bash", str(SCRIPT), "maze"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
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
