"""The training loop: run folder, metrics, checkpoints, exact resume, user errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from train_helpers import (
    StopAt,
    checkpoint_weights,
    maze_dataset,
    start,
    sudoku4_dataset,
    tiny_config,
)

from hrm.datasets.errors import DatasetFormatError
from hrm.model import load_bundle
from hrm.train.checkpoint import CHECKPOINT_NAME, CheckpointReader, save_checkpoint
from hrm.train.config import build_config, read_run_config
from hrm.train.distributed import World
from hrm.train.errors import TrainingError
from hrm.train.loop import Trainer, prepare_run, train
from hrm.train.recipes import recipe_for
from hrm.train.schedule import lr_at

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data() -> Path:
    return sudoku4_dataset(64, 32)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_recipes_are_the_originals():
    sudoku, arc = recipe_for("sudoku"), recipe_for("arc")
    assert recipe_for("maze") == sudoku
    assert (sudoku.global_batch_size, sudoku.lr, sudoku.puzzle_emb_lr) == (768, 1e-4, 1e-4)
    assert (sudoku.weight_decay, sudoku.puzzle_emb_weight_decay) == (1.0, 1.0)
    assert (sudoku.epochs, sudoku.eval_interval, sudoku.warmup_steps) == (20000, 2000, 2000)
    assert (arc.lr, arc.puzzle_emb_lr, arc.weight_decay, arc.puzzle_emb_weight_decay) == \
        (1e-4, 1e-2, 0.1, 0.1)
    assert (arc.epochs, arc.eval_interval, arc.lr_min_ratio) == (100000, 10000, 1.0)
    assert (arc.beta1, arc.beta2, arc.loss_type) == (0.9, 0.95, "stablemax_cross_entropy")


def test_run_folder_holds_config_metrics_evals_checkpoint_and_bundle(data, tmp_path):
    config = tiny_config(data, tmp_path / "run", steps=10, eval_interval=1)
    outcome = train(config)
    run = tmp_path / "run"
    assert outcome.status == "finished" and outcome.step == 10 == outcome.total_steps

    saved, document = read_run_config(run)
    assert saved.to_dict() == config.to_dict()
    assert document["dataset"]["path"] == str(data)
    assert document["dataset"]["train"]["vocab_size"] == 6
    session = document["sessions"][0]
    assert {"torch", "device", "command", "world_size", "hrm_toolkit"} <= set(session)

    # One metrics line per logged step (log_interval 1), in the original's normalisation.
    lines = records(run / "metrics.jsonl")
    assert [r["step"] for r in lines] == list(range(1, 11))
    recipe = config.recipe
    for r in lines:
        assert r["lr"] == pytest.approx(lr_at(r["step"], recipe.lr, recipe.warmup_steps, 10,
                                              recipe.lr_min_ratio))
        assert r["samples_per_s"] > 0 and math.isfinite(r["loss"])
        assert r["epoch"] == pytest.approx(r["step"] / 4)  # 64 puzzles / 16 per batch
        if r["halted"]:
            assert 0 <= r["exact_accuracy"] <= r["accuracy"] <= 1
            assert 1 <= r["mean_segments"] <= 3
        else:  # nothing finished in this step: no accuracy to report
            assert r["exact_accuracy"] is None
    assert sum(r["halted"] for r in lines) > 0

    evals = records(run / "evals.jsonl")  # every epoch (4 steps) and at the end
    assert [e["step"] for e in evals] == [4, 8, 10]
    assert all(e["examples"] == 32 and set(e["by_segments"]) == {"1", "2", "3"} for e in evals)

    reader = CheckpointReader(run / CHECKPOINT_NAME)
    state = reader.state
    assert state["step"] == 10 and state["world_size"] == 1
    assert state["loader"]["epoch"] == 2 and state["loader"]["position"] == 32
    assert set(state["rng"][0]) == {"python", "numpy"}
    keys = reader.keys()
    assert "model/puzzle_emb.weights" in keys and "rank0/rng/torch" in keys
    assert {"rank0/carry/z_H", "rank0/carry/halted", "rank0/carry/data/labels"} <= set(keys)
    assert any(k.startswith("optim/") and k.endswith("/exp_avg_sq") for k in keys)

    model, info = load_bundle(run / "model")
    assert info.task["name"] == "sudoku" and info.task["size"] == 4
    assert info.provenance["steps"] == 10 and info.provenance["data"] == str(data)
    assert info.metrics["exact_accuracy"] == evals[-1]["exact_accuracy"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, reader.tensor(f"model/{name}"))


@pytest.mark.parametrize(("stop_at", "ema"), [(5, None), (8, None), (5, 0.9)],
                         ids=["mid-pass", "end-of-pass", "mid-pass-with-ema"])
def test_interrupted_and_resumed_run_is_bit_identical(data, tmp_path, stop_at, ema):
    # Exploration on, so the restored RNG matters; an evaluation every 2 epochs (8 steps),
    # so step 8 is the last batch of a pass, interrupted before its evaluation.
    def config(name):
        return tiny_config(data, tmp_path / name, steps=14, eval_interval=2, ema=ema,
                           architecture={"halt_exploration_prob": 0.5})

    straight = train(config("straight"))
    trainer = start(config("resumed"))
    assert trainer.run(StopAt(trainer, stop_at)).status == "interrupted"
    assert CheckpointReader(tmp_path / "resumed" / CHECKPOINT_NAME).state["step"] == stop_at

    again = start(config("resumed"), resume=True)
    assert again.step == stop_at and again.carry is not None
    resumed = again.run()
    assert (straight.status, resumed.status) == ("finished", "finished")

    a = checkpoint_weights(tmp_path / "straight")
    b = checkpoint_weights(tmp_path / "resumed")
    assert sorted(a) == sorted(b) and any(k.startswith("ema/") for k in a) == bool(ema)
    assert [k for k in a if not torch.equal(a[k], b[k])] == []

    # The logs read as one run: same steps and values (but timings).
    def strip(rows):
        return [{k: v for k, v in r.items() if k not in ("samples_per_s", "elapsed_s",
                                                          "seconds")} for r in rows]

    for name in ("metrics.jsonl", "evals.jsonl"):
        assert strip(records(tmp_path / "resumed" / name)) == \
            strip(records(tmp_path / "straight" / name))


def test_resume_past_the_end_extends_and_a_finished_run_refuses(data, tmp_path):
    config = tiny_config(data, tmp_path / "run", steps=4)
    train(config)
    with pytest.raises(TrainingError, match="already finished at step 4"):
        start(config, resume=True)
    config.steps = 6
    outcome = train(config, resume=True)
    assert outcome.status == "finished" and outcome.step == 6
    assert [r["step"] for r in records(tmp_path / "run" / "metrics.jsonl")] == list(range(1, 7))


def test_a_run_paused_after_an_earlier_finish_can_still_be_finished(data, tmp_path):
    # Finish at 4, extend to 6 but pause at 5 (--time-limit): model/ still holds step 4's
    # bundle. Resuming with --steps 5 must export step 5's, not call the run finished.
    config = tiny_config(data, tmp_path / "run", steps=4)
    train(config)
    config.steps = 6
    paused = train(config, resume=True, deadline=0.0)
    assert paused.status == "paused" and paused.step == 5
    config.steps = 5
    outcome = train(config, resume=True)
    assert outcome.status == "finished" and outcome.step == 5
    bundle = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert bundle["provenance"]["steps"] == 5
    with pytest.raises(TrainingError, match="already finished at step 5"):
        start(config, resume=True)

def test_resume_needs_a_readable_checkpoint_of_the_same_run(data, tmp_path):
    config = tiny_config(data, tmp_path / "run", steps=4)
    prepare_run(config, False, torch.device("cpu"), World())
    with pytest.raises(TrainingError, match="no checkpoint to resume from"):
        Trainer(config, resume=True)

    path = tmp_path / "run" / CHECKPOINT_NAME
    path.write_bytes(b"not a safetensors file at all")
    with pytest.raises(TrainingError, match="not a readable training checkpoint") as error:
        Trainer(config, resume=True)
    assert "\n" not in str(error.value)

    train(tiny_config(data, tmp_path / "other", steps=2))
    path.write_bytes((tmp_path / "other" / CHECKPOINT_NAME).read_bytes())
    config.recipe = config.recipe.with_overrides(lr=0.5)
    with pytest.raises(TrainingError, match="recipe differs"):
        Trainer(config, resume=True)


def test_checkpoints_are_replaced_atomically(tmp_path):
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, {"a": torch.ones(3)}, {"step": 1})
    with pytest.raises(Exception):  # noqa: B017 - whatever safetensors raises
        # A name safetensors refuses: the write fails after the temporary file exists.
        save_checkpoint(path, {"a": torch.ones(3), 7: torch.ones(1)}, {"step": 2})
    assert CheckpointReader(path).state["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]  # no temporary left


def test_dataset_errors_are_one_line(tmp_path):
    sudoku = sudoku4_dataset(64, 32)
    with pytest.raises(TrainingError, match="not a arc dataset"):
        build_config("arc", sudoku, tmp_path / "a")
    with pytest.raises(TrainingError, match="looks like maze data"):
        build_config("sudoku", maze_dataset(5, 8, 4), tmp_path / "b")
    with pytest.raises(DatasetFormatError, match="no such split folder"):
        build_config("sudoku", tmp_path / "nothing", tmp_path / "c")
    with pytest.raises(TrainingError, match="do not fill one global batch"):
        Trainer(tiny_config(sudoku, tmp_path / "d", batch=512, eval_interval=1))
    with pytest.raises(TrainingError, match="multiple of the number of ranks"):
        Trainer(tiny_config(sudoku, tmp_path / "e", batch=15), world=World(0, 2, 0, 2))


def test_recipe_overrides_ignore_none():
    recipe = recipe_for("sudoku").with_overrides(lr=3e-4, epochs=None)
    assert recipe.lr == 3e-4 and recipe.epochs == 20000
    with pytest.raises(TrainingError, match="unknown task"):
        recipe_for("chess")
