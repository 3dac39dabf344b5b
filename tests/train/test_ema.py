"""`hrm train --ema`: a moving average of the weights, evaluated and exported."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import checkpoint_weights, sudoku4_dataset, tiny_config

from hrm.model import load_bundle
from hrm.train.checkpoint import CHECKPOINT_NAME, CheckpointReader, save_checkpoint
from hrm.train.data import EvalLoader
from hrm.train.ema import WeightAverage
from hrm.train.evaluate import evaluate, load_eval_target
from hrm.train.loop import train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data() -> Path:
    return sudoku4_dataset(64, 32)


def test_the_average_follows_each_update_and_lends_its_weights_for_a_block():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    start = {k: v.clone() for k, v in model.named_parameters()}
    average = WeightAverage(model, decay=0.75)
    with torch.no_grad():
        model.weight.add_(1.0)
    average.update(model)
    assert torch.allclose(average.average["weight"], start["weight"] + 0.25)
    assert torch.equal(average.average["bias"], start["bias"])
    live = model.weight.detach().clone()
    with pytest.raises(RuntimeError), average.applied(model):
        assert torch.allclose(model.weight, start["weight"] + 0.25)
        raise RuntimeError("the live weights come back even so")
    assert torch.equal(model.weight, live)
    with pytest.raises(ValueError, match="decay must be in"):
        WeightAverage(model, decay=1.0)


def test_evaluations_and_the_bundle_use_the_average(data, tmp_path):
    run = tmp_path / "run"
    outcome = train(tiny_config(data, run, steps=10, eval_interval=1, ema=0.8))
    assert outcome.status == "finished"
    reader = CheckpointReader(run / CHECKPOINT_NAME)
    model, info = load_bundle(run / "model")
    names = [name for name, _ in model.named_parameters()]
    moved = 0
    for name, tensor in model.state_dict().items():
        if name in names:  # dense weights: the average, which lags the live ones
            assert torch.equal(tensor, reader.tensor(f"ema/{name}"))
            moved += not torch.equal(tensor, reader.tensor(f"model/{name}"))
        else:  # the puzzle-embedding table (a buffer) is not averaged
            assert torch.equal(tensor, reader.tensor(f"model/{name}"))
    assert moved == len(names)

    loader = EvalLoader(data, 16)
    averaged = evaluate(model, loader, task="sudoku").to_dict()
    assert info.metrics["by_segments"] == averaged["by_segments"]
    for name, _ in model.named_parameters():
        model.get_parameter(name).data.copy_(reader.tensor(f"model/{name}"))
    live = evaluate(model, loader, task="sudoku").to_dict()
    assert live["by_segments"] != averaged["by_segments"]


def test_eval_of_an_unfinished_run_uses_its_average(data, tmp_path):
    run = tmp_path / "run"
    config = tiny_config(data, run, steps=6, ema=0.8)
    train(config)
    (run / "model" / "config.json").unlink()  # as if stopped before the end
    model = load_eval_target(run).model
    reader = CheckpointReader(run / CHECKPOINT_NAME)
    for name, param in model.named_parameters():
        assert torch.equal(param, reader.tensor(f"ema/{name}"))


def test_runs_from_before_the_average_resume(data, tmp_path):
    run = tmp_path / "run"
    config = tiny_config(data, run, steps=4)
    train(config)
    # A checkpoint written before `ema` joined the recipe has no such field.
    reader = CheckpointReader(run / CHECKPOINT_NAME)
    state = reader.state
    del state["recipe"]["ema"]
    save_checkpoint(run / CHECKPOINT_NAME, reader.tensors(""), state)
    config.steps = 6
    assert train(config, resume=True).status == "finished"
    assert not any(k.startswith("ema/") for k in checkpoint_weights(run))
