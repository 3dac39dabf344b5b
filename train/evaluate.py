"""Evaluation: exact and token accuracy, by segment budget, with adaptive halting, ARC pass@k.

One rollout per batch with `halt="max"` up to the largest budget gives every budget at
once: after segment s the predictions are what a run with budget s would answer. The same
rollout also gives adaptive halting, because a sequence's state does not depend on the
others in its batch: adaptive halting stops a sequence at the first segment where
q_halt > q_continue (or at the budget), so its answer and segment count can be read off
the max-halting records.

- exact accuracy: every labelled token right (the original's `exact_accuracy`); for mazes,
  also any other valid shortest S-G path, because the label is one of possibly several
  shortest paths (random-wall mazes often have ties: about 60% of generated 11x11 mazes);
- token accuracy: the fraction of labelled tokens right, averaged over sequences (the
  original's `accuracy`);
- tasks whose labels are one right answer of several (`Task.several_answers`: mazes)
  count a prediction that differs from the label when the task accepts it;
- tasks that vote over augmented variants (`Task.votes_over_variants`: ARC) pool every
  variant's answer at the full budget and report pass@k under the task's name
  (`hrm.datasets.arc_votes`).

In a multi-process run every rank evaluates its slice of each batch (`EvalLoader`) and
the sums (and the variant votes) are gathered to rank 0, which alone gets the result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrm.datasets.format import DatasetMetadata
from hrm.datasets.tasks import Task, VariantVotes, get_task
from hrm.model import IGNORE_LABEL_ID, ACTModel, load_bundle
from hrm.model.architectures import build_model
from hrm.model.checkpoint import load_state_dict_checked
from hrm.train.checkpoint import CHECKPOINT_NAME, CheckpointReader
from hrm.train.config import RUN_FORMAT, read_run_config
from hrm.train.data import EvalLoader
from hrm.train.distributed import all_reduce_sum, gather_objects, is_distributed
from hrm.train.ema import EMA_PREFIX, WeightAverage
from hrm.train.errors import TrainingError


def segment_budgets(max_segments: int, trained: int | None = None) -> list[int]:
    """Budgets to report: powers of two below `max_segments`, the trained budget, the max."""
    budgets = {b for b in (1, 2, 4, 8, 16, 32, 64, 128) if b < max_segments}
    if trained is not None and trained <= max_segments:
        budgets.add(trained)
    budgets.add(max_segments)
    return sorted(budgets)


@dataclass
class EvalResult:
    """Evaluation of one split; accuracies are fractions in [0, 1]."""

    split: str
    examples: int
    """Examples with at least one labelled token (the denominator of every accuracy)."""
    max_segments: int
    exact_accuracy: float
    """With all `max_segments` segments (the original's evaluation when it equals the
    trained `halt_max_steps`)."""
    token_accuracy: float
    by_segments: dict[int, dict[str, float]]
    """budget -> {exact_accuracy, token_accuracy}."""
    adaptive: dict[str, float]
    """exact_accuracy, token_accuracy, mean_segments with adaptive halting."""
    votes: dict[str, Any] | None = None
    """tasks, test_inputs, pass@1, pass@2, for tasks that vote over variants (ARC); in
    `to_dict` under the task's name."""
    task: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "split": self.split,
            "examples": self.examples,
            "max_segments": self.max_segments,
            "exact_accuracy": self.exact_accuracy,
            "token_accuracy": self.token_accuracy,
            "adaptive": dict(self.adaptive),
            "by_segments": {str(k): dict(v) for k, v in self.by_segments.items()},
        }
        if self.votes is not None:
            data[self.task or "votes"] = dict(self.votes)
        data["seconds"] = round(self.seconds, 3)
        return data


# ----------------------------------------------------------------------------------------
# The evaluation loop
# ----------------------------------------------------------------------------------------


@torch.inference_mode()
def evaluate(model: ACTModel, loader: EvalLoader, *, max_segments: int | None = None,
             task: str | None = None, identifiers: Sequence[str] | None = None,
             split: str = "test",
             progress: Callable[[int, int], None] | None = None) -> EvalResult | None:
    """Evaluate `model` on every example of `loader`'s split; the result on rank 0 only.

    `max_segments` defaults to what `hrm solve` gives the split's grids: the trained
    `halt_max_steps`, more for a grid model on grids larger than it trained on (its
    `default_segments` for the split's canvas). For a task that votes over
    variants (ARC), pass the dataset's `identifiers` to get pass@k. `progress(done, total)`
    is called per batch.
    Every rank must call this (it ends with collectives).
    """
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    device = model.device
    budget = (model.default_segments(loader.metadata.seq_len) if max_segments is None
              else int(max_segments))
    if budget < 1:
        raise ValueError(f"max_segments must be at least 1, got {budget}")
    # float64 sums: [examples, exact per segment (budget), token per segment (budget),
    #                adaptive exact, adaptive token, adaptive segments]
    sums = torch.zeros(1 + 2 * budget + 3, dtype=torch.float64, device=device)
    spec = get_task(task) if task is not None else None
    votes = (spec.new_votes(identifiers) if spec is not None and spec.votes_over_variants
             and identifiers is not None else None)

    total = len(loader)
    for done, batch in enumerate(loader, start=1):
        inputs = batch["inputs"].to(device)
        labels = batch["labels"].to(device).long()
        labelled = labels != IGNORE_LABEL_ID
        counts = labelled.sum(-1)
        valid = batch["mask"].to(device) & (counts > 0)
        finished = torch.zeros_like(valid)
        sums[0] += valid.sum()
        last = None
        for step in model.rollout(inputs, batch["puzzle_identifiers"].to(device), halt="max",
                                  max_segments=budget):
            predictions = step.predictions
            right = (predictions == labels) & labelled
            token_acc = right.sum(-1) / counts.clamp_min(1)
            exact = valid & (right.sum(-1) == counts)
            if spec is not None and spec.several_answers:
                exact |= _other_answers(spec, inputs, labels, predictions, valid & ~exact)
            token_acc = torch.where(valid, token_acc, 0.0)
            s = step.segment
            sums[1 + s] += exact.sum()
            sums[1 + budget + s] += token_acc.sum()
            stops = ~finished & valid & ((step.q_halt_logits > step.q_continue_logits)
                                         | (s + 1 >= budget))
            sums[-3] += (exact & stops).sum()
            sums[-2] += torch.where(stops, token_acc, 0.0).sum()
            sums[-1] += stops.sum() * (s + 1)
            finished |= stops
            last = step
        if votes is not None and last is not None:
            _add_votes(votes, batch, last)
        if progress is not None:
            progress(done, total)

    all_reduce_sum(sums)
    # Only the pooled answers travel, not the (possibly huge) identifier list.
    gathered = gather_objects(votes.pairs) if votes is not None else None
    if was_training:
        model.train()
    if is_distributed() and torch.distributed.get_rank() != 0:
        return None

    values = sums.cpu().tolist()
    n = max(values[0], 1.0)
    by_segments = {b: {"exact_accuracy": values[b] / n,
                       "token_accuracy": values[budget + b] / n}
                   for b in segment_budgets(budget, model.config.halt_max_steps)}
    scores = None
    if spec is not None and votes is not None and gathered is not None:
        merged = spec.new_votes(identifiers or [])
        for pairs in gathered:
            part = spec.new_votes(identifiers or [])
            part.pairs = pairs
            merged.merge(part)
        scores = merged.scores()
    return EvalResult(
        split=split,
        examples=int(values[0]),
        max_segments=budget,
        exact_accuracy=values[budget] / n,
        token_accuracy=values[2 * budget] / n,
        by_segments=by_segments,
        adaptive={"exact_accuracy": values[-3] / n, "token_accuracy": values[-2] / n,
                  "mean_segments": values[-1] / n},
        votes=scores,
        task=task,
        seconds=time.perf_counter() - started,
    )


def _other_answers(task: Task, inputs: torch.Tensor, labels: torch.Tensor,
                   predictions: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Which of `rows` predict a right answer other than the label (the task decides)."""
    found = torch.zeros_like(rows)
    candidates = torch.nonzero(rows).flatten()
    if not len(candidates):
        return found
    index = candidates.cpu().numpy()
    accepted = task.accepts_other(inputs[candidates].cpu().numpy(),
                                  labels[candidates].cpu().numpy(),
                                  predictions[candidates].cpu().numpy())
    found[torch.from_numpy(index[accepted]).to(rows.device)] = True
    return found


def _add_votes(votes: VariantVotes, batch: dict[str, torch.Tensor], step: Any) -> None:
    keep = batch["mask"].numpy()
    inputs = batch["inputs"].numpy()
    labels = batch["labels"].numpy()
    ids = batch["puzzle_identifiers"].numpy()
    indices = batch["example_indices"].numpy()
    predictions = step.predictions.cpu().numpy()
    confidence = torch.sigmoid(step.q_halt_logits).cpu().numpy()
    for row in np.flatnonzero(keep):
        votes.add(int(indices[row]), int(ids[row]), inputs[row], labels[row], predictions[row],
                  float(confidence[row]))


# ----------------------------------------------------------------------------------------
# What `hrm eval` evaluates: a run folder or a bundle
# ----------------------------------------------------------------------------------------


@dataclass
class EvalTarget:
    model: ACTModel
    task: str | None
    """The task the model was trained for, when its files say."""
    source: Path
    """The bundle folder or checkpoint file the weights came from."""
    data: str | None = None
    """A run's dataset folder."""


def load_eval_target(target: str | Path, device: torch.device | str = "cpu") -> EvalTarget:
    """The model of a run folder (its final bundle, else its latest checkpoint) or of a
    bundle folder, in eval mode on `device`."""
    path = Path(target)
    if path.is_file() and path.name == "config.json":
        path = path.parent
    if not path.exists():
        return _load_named_model(str(target), device)
    if not path.is_dir():
        raise TrainingError(f"{path}: no such run folder or model bundle")
    try:
        document = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingError(f"{path}: neither a run folder nor a model bundle (no "
                            "config.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{path / 'config.json'}: unreadable ({exc})") from None
    kind = document.get("format") if isinstance(document, dict) else None
    if kind == RUN_FORMAT:
        config, _ = read_run_config(path)
        bundle = path / "model"
        if (bundle / "config.json").is_file():
            model, _ = load_bundle(bundle, device)
            return EvalTarget(model, config.task, bundle, config.data)
        # An unfinished run: its latest checkpoint.
        reader = CheckpointReader(path / CHECKPOINT_NAME)
        model = build_model(config.model_config, initialise=False)
        load_state_dict_checked(model, reader.tensors("model/"), reader.path)
        if config.recipe.ema > 0:  # what the run evaluates and will export
            average = WeightAverage(model, config.recipe.ema)
            try:
                average.load(reader.tensors(EMA_PREFIX), str(reader.path))
            except ValueError as exc:
                raise TrainingError(str(exc)) from None
            average.copy_to(model)
        return EvalTarget(model.to(device).eval(), config.task, reader.path, config.data)
    model, info = load_bundle(path, device)  # CheckpointError for anything else
    task = info.task.get("name")
    return EvalTarget(model, task if isinstance(task, str) else None, path)


def _load_named_model(name: str, device: torch.device | str) -> EvalTarget:
    """A model of the store (`default:sudoku`, a cached name or alias), as `hrm solve` finds it."""
    from hrm.inference import store

    loaded = store.open_model(name, device=device)  # ModelNotFoundError says what exists
    return EvalTarget(loaded.model, loaded.entry.task, loaded.entry.path)


def check_model_fits(model: ACTModel, metadata: DatasetMetadata, folder: Path) -> None:
    """TrainingError unless `model` can read the dataset described by `metadata`."""
    config = model.config
    if config.vocab_size != metadata.vocab_size or not model.takes_seq_len(metadata.seq_len):
        raise TrainingError(f"{folder}: the dataset has vocab {metadata.vocab_size} and "
                            f"{metadata.seq_len} tokens, the model vocab {config.vocab_size} "
                            f"and {config.seq_len}")
    if model.puzzle_emb is not None and \
            metadata.num_puzzle_identifiers > config.num_puzzle_identifiers:
        raise TrainingError(f"{folder}: the dataset has {metadata.num_puzzle_identifiers} "
                            f"puzzle identifiers, the model's table only "
                            f"{config.num_puzzle_identifiers}")
