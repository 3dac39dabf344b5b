"""scripts/package_default.py: a trained run becomes a shipped-default bundle that says what
it was trained on and how it scores."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from threads import torch_threads

from hrm.inference.solver import load_solver
from hrm.model import load_bundle
from hrm_cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from train_helpers import sudoku4_dataset

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "package_default.py"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A real tiny run and an `hrm eval --format json` report of it."""
    data = sudoku4_dataset(64, 16)
    run = tmp_path_factory.mktemp("run") / "run"
    with torch_threads(1):
        assert main(["train", "sudoku", "--data", str(data), "--out", str(run), "--steps", "2",
                     "--preset", "tiny", "--batch-size", "16", "--halt-max-steps", "2",
                     "--device", "cpu", "-q"]) == 0
    report = run.parent / "eval.json"
    done = subprocess.run([sys.executable, "-m", "hrm_cli", "eval", str(run), "--format", "json",
                           "-q", "--device", "cpu"], capture_output=True, text=True, check=True)
    report.write_text(done.stdout)
    return run, report


def test_an_attempts_report_keeps_its_attempts_table(trained, tmp_path):
    run, _ = trained
    done = subprocess.run([sys.executable, "-m", "hrm_cli", "eval", str(run), "--attempts", "2",
                           "--format", "json", "-q", "--device", "cpu"],
                          capture_output=True, text=True, check=True)
    report = tmp_path / "attempts.json"
    report.write_text(done.stdout)
    notes = tmp_path / "notes.json"
    notes.write_text("{}")
    assert package(str(run), "sudoku", "--data-notes", str(notes), "--eval",
                   f"retried={report}", "--defaults-dir", str(tmp_path)).returncode == 0
    config = json.loads((tmp_path / "sudoku" / "config.json").read_text())
    kept = config["metrics"]["held_out"]["retried"]["attempts"]
    assert kept == json.loads(done.stdout)["attempts"]
    assert set(kept["solved_within"]) == {"1", "2"}


def package(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_package_records_data_and_held_out_results(trained, tmp_path):
    run, report = trained
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps({"description": "demo 4x4 model",
                                 "train": {"command": "hrm datasets generate ...", "seed": 1}}))
    done = package(str(run), "sudoku", "--data-notes", str(notes), "--eval",
                   f"held-out={report}", "--dtype", "auto", "--max-segments", "5",
                   "--attempts", "3", "--defaults-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "sudoku"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["provenance"]["training_data"]["train"]["seed"] == 1
    assert config["provenance"]["description"] == "demo 4x4 model"
    assert config["provenance"]["steps"] == 2  # the run's own provenance is kept
    held_out = config["metrics"]["held_out"]["held-out"]
    assert held_out["exact_accuracy"] == json.loads(report.read_text())["exact_accuracy"]
    assert config["architecture"]["forward_dtype"] == "auto"
    model, info = load_bundle(folder)
    assert info.task["name"] == "sudoku" and model.config.seq_len == 16
    # The solve budget is raised; the trained one stays on record.
    assert model.config.halt_max_steps == 5
    assert config["provenance"]["trained_halt_max_steps"] == 2
    # `hrm solve` with this model retries failures on 2 symmetric copies unless told.
    solver, _ = load_solver("sudoku", str(folder), "cpu")
    assert info.task["attempts"] == 3 and solver.attempts == 3
    assert load_solver("sudoku", str(folder), "cpu", attempts=1)[0].attempts == 1

    # Packaging again replaces the folder as a whole.
    assert package(str(run / "model"), "sudoku", "--data-notes", str(notes), "--eval",
                   f"again={report}", "--defaults-dir", str(tmp_path)).returncode == 0
    config = json.loads((folder / "config.json").read_text())
    assert list(config["metrics"]["held_out"]) == ["again"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_refuses_without_results_or_for_another_task(trained, tmp_path):
    run, report = trained
    notes = tmp_path / "notes.json"
    notes.write_text("{}")
    done = package(str(run), "sudoku", "--data-notes", str(notes), "--defaults-dir",
                   str(tmp_path))
    assert done.returncode != 0 and "give at least one --eval" in done.stderr
    done = package(str(run), "maze", "--data-notes", str(notes), "--eval", f"x={report}",
                   "--defaults-dir", str(tmp_path))
    assert done.returncode != 0 and "a sudoku model, not maze" in done.stderr
    assert not (tmp_path / "maze").exists()


def test_other_result_tables_are_kept_under_their_names(trained, tmp_path):
    run, report = trained
    notes = tmp_path / "notes.json"
    notes.write_text("{}")
    sizes = tmp_path / "sizes.json"
    sizes.write_text(json.dumps({"rows": [{"size": 30, "one_rollout": 5, "n": 25}]}))
    done = package(str(run), "sudoku", "--data-notes", str(notes), "--eval",
                   f"held-out={report}", "--metrics", f"by_size={sizes}",
                   "--defaults-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "sudoku" / "config.json").read_text())
    assert config["metrics"]["by_size"] == {"rows": [{"size": 30, "one_rollout": 5, "n": 25}]}
    for bad, says in ((f"held_out={sizes}", "that name is taken"),
                      (f"broken={tmp_path / 'missing.json'}", "missing.json")):
        done = package(str(run), "sudoku", "--data-notes", str(notes), "--eval",
                       f"held-out={report}", "--metrics", bad, "--defaults-dir", str(tmp_path))
        assert done.returncode != 0 and says in done.stderr
