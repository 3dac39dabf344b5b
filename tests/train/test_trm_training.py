"""TRM trains through the shared loop: its recipe, exact resume, gloo workers, learning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from threads import torch_threads
from train_helpers import (
    StopAt,
    checkpoint_weights,
    start,
    sudoku4_dataset,
    tiny_config,
)

from hrm.model.trm import TRM
from hrm.train.checkpoint import CHECKPOINT_NAME, CheckpointReader
from hrm.train.config import build_config, read_run_config
from hrm.train.data import EvalLoader
from hrm.train.evaluate import evaluate
from hrm.train.loop import train
from hrm.train.recipes import Recipe, recipe_for
from hrm_cli.main import main

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def data() -> Path:
    return sudoku4_dataset(64, 32)


def test_trm_recipes_are_the_authors_commands():
    for arch in ("trm", "trm-mlp"):
        sudoku, maze, arc = (recipe_for(task, arch) for task in ("sudoku", "maze", "arc"))
        assert sudoku == maze
        assert (sudoku.ema, sudoku.epochs, sudoku.eval_interval) == (0.999, 50000, 5000)
        assert (sudoku.lr, sudoku.puzzle_emb_lr, sudoku.weight_decay) == (1e-4, 1e-4, 1.0)
        assert (sudoku.global_batch_size, sudoku.warmup_steps) == (768, 2000)
        assert (arc.ema, arc.epochs, arc.lr, arc.puzzle_emb_lr, arc.weight_decay) == \
            (0.999, 100000, 1e-4, 1e-2, 0.1)
    assert recipe_for("sudoku") == recipe_for("sudoku", "hrm") != Recipe()
    assert recipe_for("sudoku").ema == 0.0


def test_cli_trains_trm_mlp_with_its_recipe_and_refuses_an_h_level(data, tmp_path, capsys,
                                                                  one_thread):
    run = tmp_path / "run"
    code = main(["train", "sudoku", "--data", str(data), "--out", str(run), "--arch",
                 "trm-mlp", "--preset", "tiny", "--steps", "2", "--batch-size", "16",
                 "--eval-interval", "0", "--device", "cpu", "-q"])
    assert code == 0, capsys.readouterr().err
    config, _ = read_run_config(run)
    assert config.architecture["name"] == "trm-mlp"
    assert config.architecture["mixer"] == "mlp"
    assert (config.recipe.ema, config.recipe.epochs) == (0.999, 50000)  # TRM's recipe
    names = set(checkpoint_weights(run))
    assert "model/L_level.layers.1.mlp_t.gate_up_proj.weight" in names
    assert any(name.startswith("ema/") for name in names)

    # A warm start from it trains by TRM's recipe too (the architecture is the model's).
    code = main(["train", "sudoku", "--data", str(data), "--out", str(tmp_path / "warm"),
                 "--init-from", str(run / "model"), "--steps", "1", "--batch-size", "16",
                 "--eval-interval", "0", "--device", "cpu", "-q"])
    assert code == 0, capsys.readouterr().err
    warm, _ = read_run_config(tmp_path / "warm")
    assert (warm.architecture["name"], warm.recipe.ema) == ("trm-mlp", 0.999)
    assert warm.recipe.global_batch_size == 16  # the options still override it

    code = main(["train", "sudoku", "--data", str(data), "--out", str(tmp_path / "bad"),
                 "--arch", "trm", "--h-layers", "2", "--device", "cpu", "-q"])
    assert code == 2
    assert "--h-layers: TRM has one network" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("arch", ["trm", "trm-mlp"])
def test_interrupted_and_resumed_trm_run_is_bit_identical(data, tmp_path, arch, one_thread):
    def config(name):  # exploration on, so the restored RNG matters; EMA as TRM trains
        return tiny_config(data, tmp_path / name, steps=10, eval_interval=2, ema=0.999,
                           architecture={"name": arch, "halt_exploration_prob": 0.5})

    straight = train(config("straight"))
    trainer = start(config("resumed"))
    assert trainer.run(StopAt(trainer, 5)).status == "interrupted"
    again = start(config("resumed"), resume=True)
    assert again.step == 5 and isinstance(again.model, TRM)
    assert (straight.status, again.run().status) == ("finished", "finished")

    a, b = checkpoint_weights(tmp_path / "straight"), checkpoint_weights(tmp_path / "resumed")
    assert sorted(a) == sorted(b) and any(k.startswith("ema/") for k in a)
    assert "rank0/carry/z_H" in a  # y and z travel in the shared carry
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    for name in ("metrics.jsonl", "evals.jsonl"):
        rows = [[{k: v for k, v in json.loads(line).items()
                  if k not in ("samples_per_s", "elapsed_s", "seconds")}
                 for line in (tmp_path / run / name).read_text().splitlines()]
                for run in ("straight", "resumed")]
        assert rows[0] == rows[1]


@pytest.mark.slow
def test_two_gloo_workers_match_one_process(data, tmp_path):
    # The reference: one process, TRM's recipe (EMA 0.999), exploration off (its draws
    # are per rank by design).
    single = tmp_path / "single"
    with torch_threads(1):
        config = tiny_config(data, single, steps=6, batch=16, eval_interval=1,
                             eval_batch_size=10, ema=0.999,
                             architecture={"name": "trm", "halt_exploration_prob": 0.0})
        assert train(config).status == "finished"

    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "hrm_cli", "train", "sudoku", "--data", str(data), "--out",
         str(run), "--nproc", "2", "--arch", "trm", "--preset", "tiny", "--steps", "6",
         "--batch-size", "16", "--lr", "1e-3", "--warmup-steps", "4", "--puzzle-emb-lr",
         "1e-2", "--eval-interval", "1", "--eval-batch-size", "10", "--halt-max-steps", "3",
         "--halt-exploration-prob", "0", "--log-interval", "1", "--checkpoint-interval", "0",
         "--device", "cpu"], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "cpu x 2" in done.stderr and "Traceback" not in done.stderr
    assert CheckpointReader(run / CHECKPOINT_NAME).state["world_size"] == 2

    wa, wb = checkpoint_weights(run), checkpoint_weights(single)
    names = [k for k in wa if k.startswith(("model/", "optim/", "ema/"))]
    assert any(k.startswith("ema/") for k in names) and all(k in wb for k in names)
    for name in names:  # the same global-batch gradient, summed in another order
        torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=1e-6, msg=name)
    evals = [[json.loads(line) for line in (r / "evals.jsonl").read_text().splitlines()]
             for r in (run, single)]
    assert [e["step"] for e in evals[0]] == [e["step"] for e in evals[1]] == [4, 6]
    for ea, eb in zip(*evals, strict=True):
        assert ea["examples"] == eb["examples"] == 32
        assert ea["token_accuracy"] == pytest.approx(eb["token_accuracy"], abs=1e-6)


LEARN_STEPS = 160


@pytest.mark.slow
def test_tiny_trm_learns_4x4_sudoku_far_above_chance(tmp_path, one_thread):
    # 2000 training puzzles with 6 blanks, 8 variants each, 200 held out: guessing solves
    # 4^-6 = 0.02% of them. TRM-MLP at width 64, a larger rate, a short warm-up and an EMA
    # short enough for a 160-step run (~5 epochs).
    data = sudoku4_dataset(train=2000, test=200, aug=8, clues=10)
    recipe = recipe_for("sudoku", "trm-mlp").with_overrides(
        global_batch_size=64, lr=2e-3, warmup_steps=20, weight_decay=0.1, eval_interval=2,
        ema=0.95)
    config = build_config(
        "sudoku", data, tmp_path / "run", preset="tiny", recipe=recipe,
        architecture={"name": "trm-mlp", "hidden_size": 64, "puzzle_emb_ndim": 0,
                      "halt_max_steps": 4},
        steps=LEARN_STEPS, log_interval=50, checkpoint_interval=0, eval_batch_size=200,
        device="cpu", seed=0, quiet=True)

    torch.manual_seed(config.seed)
    untrained = evaluate(TRM(config.model_config), EvalLoader(data, 200))
    assert train(config).status == "finished"
    evals = [json.loads(line) for line in (tmp_path / "run" / "evals.jsonl").read_text()
             .splitlines()]
    print("\nheld-out exact accuracy by step:",
          ", ".join(f"{e['step']}: {e['exact_accuracy']:.1%}" for e in evals))
    assert untrained.exact_accuracy == 0.0
    final = evals[-1]
    assert final["step"] == LEARN_STEPS and final["examples"] == 200
    assert final["exact_accuracy"] >= 0.2  # chance: 0.02%
    assert final["token_accuracy"] > untrained.token_accuracy + 0.2
