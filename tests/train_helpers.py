"""Shared helpers for the training tests: small offline datasets and tiny run configs.

A plain module (not conftest.py), like tests/model/model_helpers.py.
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from hrm.datasets import maze, sudoku
from hrm.datasets.builders import build_from_csv
from hrm.datasets.maze_generator import MazeSettings
from hrm.datasets.maze_generator import generate as generate_mazes
from hrm.datasets.sudoku_generator import GeneratorSettings
from hrm.datasets.sudoku_generator import generate as generate_sudoku
from hrm.train.config import TrainConfig, build_config
from hrm.train.distributed import World
from hrm.train.loop import Trainer, prepare_run
from hrm.train.recipes import recipe_for

# Built once per test process and parameter set (generation is the slow part).
_CACHE = Path(tempfile.mkdtemp(prefix="hrm-train-tests-"))
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("source", "question", "answer", "rating"))
        for question, answer in rows:
            writer.writerow(("test", question, answer, 0))


def sudoku4_dataset(train: int = 64, test: int = 32, seed: int = 0, aug: int = 0,
                    clues: int | None = None) -> Path:
    """A built 4x4 Sudoku dataset with `train` and `test` distinct puzzles (minimal ones,
    or with `clues` givens)."""
    key = hashlib.sha1(f"sudoku4-{train}-{test}-{seed}-{aug}-{clues}".encode()).hexdigest()[:12]
    out = _CACHE / f"sudoku4-{key}"
    if (out / "train" / "dataset.json").is_file():
        return out
    seen, rows = set(), []
    for item in generate_sudoku(4 * (train + test), seed, GeneratorSettings(size=4, clues=clues)):
        question = sudoku.format_line(item.puzzle)
        if question not in seen:  # held-out puzzles must not appear in training
            seen.add(question)
            rows.append((question, sudoku.format_line(item.solution)))
        if len(rows) == train + test:
            break
    assert len(rows) == train + test, "not enough distinct 4x4 puzzles"
    return build_rows("sudoku", out, rows[:train], rows[train:], aug, seed)


def maze_dataset(size: int = 5, train: int = 64, test: int = 16, seed: int = 0,
                 canvas: int | None = None) -> Path:
    key = hashlib.sha1(f"maze-{size}-{train}-{test}-{seed}-{canvas}".encode()).hexdigest()[:12]
    out = _CACHE / f"maze-{key}"
    if (out / "train" / "dataset.json").is_file():
        return out
    items = list(generate_mazes(train + test, seed, MazeSettings(size=size)))
    rows = [(maze.format_line(m.puzzle), maze.format_line(m.solution)) for m in items]
    return build_rows("maze", out, rows[:train], rows[train:], 0, seed, canvas=canvas)


def build_rows(task: str, out: Path, train_rows: list[tuple[str, str]],
               test_rows: list[tuple[str, str]], aug: int = 0, seed: int = 0,
               canvas: int | None = None) -> Path:
    """Build (question, answer) rows in the CSV layout into a dataset folder `out`."""
    staging = out.with_name(out.name + ".csv")
    staging.mkdir(parents=True, exist_ok=True)
    _write_csv(staging / "train.csv", train_rows)
    _write_csv(staging / "test.csv", test_rows)
    build_from_csv(task, {"train": staging / "train.csv", "test": staging / "test.csv"}, out,
                   aug=aug, seed=seed, overwrite=True, canvas=canvas)
    return out


def tiny_config(data: Path, out: Path, task: str = "sudoku", *, steps: int = 12,
                batch: int = 16, architecture: dict[str, Any] | None = None,
                **settings: Any) -> TrainConfig:
    """A run of `steps` steps of the tiny preset on the CPU, logging every step."""
    recipe = recipe_for(task).with_overrides(
        global_batch_size=batch, warmup_steps=4, lr=1e-3, puzzle_emb_lr=1e-2,
        eval_interval=settings.pop("eval_interval", 0), ema=settings.pop("ema", None))
    arch = {"halt_max_steps": 3, **(architecture or {})}
    settings = {"steps": steps, "log_interval": 1, "checkpoint_interval": 0, "device": "cpu",
                **settings}
    return build_config(task, data, out, preset="tiny", recipe=recipe, architecture=arch,
                        **settings)


def checkpoint_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "checkpoint.safetensors"))


def solve_jsonl(capsys, task: str, path: Path, *options: str) -> tuple[int, list[dict]]:
    """`hrm solve TASK PATH` on the CPU with the shipped default: its exit code and records."""
    from hrm_cli.main import main

    code = main(["solve", task, str(path), "--format", "jsonl", "-q", "--device", "cpu",
                 *options])
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


class StopAt:
    """Stands in for Ctrl-C: asks the trainer to stop once it has done `step` steps."""

    out_of_time = False

    def __init__(self, trainer: Trainer, step: int):
        self.trainer, self.step = trainer, step

    @property
    def requested(self) -> bool:
        return self.trainer.step >= self.step


def start(config: TrainConfig, resume: bool = False) -> Trainer:
    """A trainer for `config` as `hrm train` prepares one, on the CPU."""
    prepare_run(config, resume, torch.device("cpu"), World())
    return Trainer(config, resume=resume)
