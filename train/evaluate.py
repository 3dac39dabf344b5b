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
- ARC: every variant's answer at the full budget is mapped back to the original task's
  frame and the answers of a test input are pooled: most votes first, ties by the higher
  mean sigmoid(q_halt), then by first appearance (as the original's `arc_eval.ipynb` and
  `hrm.datasets.arc.vote` rank them). A task counts for pass@k when every one of its test
  inputs has the right answer among its top k; pass@k is the fraction of tasks.

In a multi-process run every rank evaluates its slice of each batch (`EvalLoader`) and
the sums (and the ARC votes) are gathered to rank 0, which alone gets the result.
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

from hrm.datasets import arc, maze
from hrm.datasets.format import DatasetMetadata
from hrm.model import IGNORE_LABEL_ID, ACTModel, load_bundle
from hrm.model.architectures import build_model
from hrm.model.checkpoint import load_state_dict_checked
from hrm.train.checkpoint import CHECKPOINT_NAME, CheckpointReader
from hrm.train.config import RUN_FORMAT, read_run_config
from hrm.train.data import EvalLoader
from hrm.train.distributed import all_reduce_sum, gather_objects, is_distributed
from hrm.train.ema import EMA_PREFIX, WeightAverage
from hrm.train.errors import TrainingError

ARC_PASS_K = (1, 2)


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
    arc: dict[str, Any] | None = None
    """tasks, test_inputs, pass@1, pass@2 (ARC only)."""
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
        if self.arc is not None:
            data["arc"] = dict(self.arc)
        data["seconds"] = round(self.seconds, 3)
        return data


# ----------------------------------------------------------------------------------------
# ARC voting
# ----------------------------------------------------------------------------------------

GridKey = tuple[tuple[int, ...], bytes]


def _grid_key(grid: np.ndarray) -> GridKey:
    return tuple(grid.shape), np.ascontiguousarray(grid, dtype=np.uint8).tobytes()


class ArcVotes:
    """Answers of augmented ARC variants pooled per (task, test input) in the task's frame.

    Mergeable across ranks: each answer keeps its vote count, summed confidence and the
    first example index that gave it, so the ranking does not depend on how examples were
    split between ranks.
    """

    def __init__(self, identifiers: Sequence[str]):
        self.identifiers = identifiers
        # (task, input key) -> {"label": GridKey | None, "identity": bool, "answers": {...}}
        self.pairs: dict[tuple[str, GridKey], dict[str, Any]] = {}

    def add(self, example_index: int, identifier: int, inputs: np.ndarray, labels: np.ndarray,
            prediction: np.ndarray, confidence: float) -> None:
        name = self.identifiers[identifier]
        task, tid, colour_map = arc.parse_augmentation_name(name)
        grid_in = arc.decode_grid(inputs)
        if grid_in is None:
            return  # not an ARC grid: nothing to pool it with
        key = (task, _grid_key(arc.invert(grid_in, tid, colour_map)))
        entry = self.pairs.setdefault(key, {"label": None, "identity": False, "answers": {}})
        identity = name == task
        # The expected answer comes from the un-augmented puzzle, as in the original;
        # inverted variant labels stand in when a dataset has no un-augmented copy.
        if entry["label"] is None or (identity and not entry["identity"]):
            grid_out = arc.decode_grid(np.where(labels < 0, 0, labels))
            if grid_out is not None:
                entry["label"] = _grid_key(arc.invert(grid_out, tid, colour_map))
                entry["identity"] = identity
        answer = arc.decode_grid(prediction)
        if answer is None:
            return
        answer_key = _grid_key(arc.invert(answer, tid, colour_map))
        votes = entry["answers"].setdefault(answer_key, [0, 0.0, example_index])
        votes[0] += 1
        votes[1] += confidence
        votes[2] = min(votes[2], example_index)

    def merge(self, other: ArcVotes) -> None:
        for key, theirs in other.pairs.items():
            mine = self.pairs.setdefault(key, {"label": None, "identity": False, "answers": {}})
            better = mine["label"] is None or (theirs["identity"] and not mine["identity"])
            if better and theirs["label"] is not None:
                mine["label"], mine["identity"] = theirs["label"], theirs["identity"]
            for answer, (count, total, first) in theirs["answers"].items():
                votes = mine["answers"].setdefault(answer, [0, 0.0, first])
                votes[0] += count
                votes[1] += total
                votes[2] = min(votes[2], first)

    def ranked(self, key: tuple[str, GridKey]) -> list[GridKey]:
        answers = self.pairs[key]["answers"]
        # Most votes, then higher mean confidence, then first appearance.
        order = sorted(answers.items(), key=lambda kv: (-kv[1][0], -kv[1][1] / kv[1][0],
                                                        kv[1][2]))
        return [answer for answer, _ in order]

    def scores(self, ks: Sequence[int] = ARC_PASS_K) -> dict[str, Any]:
        tasks: dict[str, list[tuple[str, GridKey]]] = {}
        for key in self.pairs:
            tasks.setdefault(key[0], []).append(key)
        solved = dict.fromkeys(ks, 0)
        for keys in tasks.values():
            rankings = [(self.pairs[k]["label"], self.ranked(k)) for k in keys]
            for k in ks:
                solved[k] += all(label is not None and label in ranking[:k]
                                 for label, ranking in rankings)
        result: dict[str, Any] = {"tasks": len(tasks), "test_inputs": len(self.pairs)}
        for k in ks:
            result[f"pass@{k}"] = solved[k] / len(tasks) if tasks else 0.0
        return result


# ----------------------------------------------------------------------------------------
# The evaluation loop
# ----------------------------------------------------------------------------------------


@torch.inference_mode()
def evaluate(model: ACTModel, loader: EvalLoader, *, max_segments: int | None = None,
             task: str | None = None, identifiers: Sequence[str] | None = None,
             split: str = "test",
             progress: Callable[[int, int], None] | None = None) -> EvalResult | None:
    """Evaluate `model` on every example of `loader`'s split; the result on rank 0 only.

    `max_segments` defaults to the trained `halt_max_steps`. For `task == "arc"`, pass the
    dataset's `identifiers` to get pass@k. `progress(done, total)` is called per batch.
    Every rank must call this (it ends with collectives).
    """
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    device = model.device
    budget = model.config.halt_max_steps if max_segments is None else int(max_segments)
    if budget < 1:
        raise ValueError(f"max_segments must be at least 1, got {budget}")
    # float64 sums: [examples, exact per segment (budget), token per segment (budget),
    #                adaptive exact, adaptive token, adaptive segments]
    sums = torch.zeros(1 + 2 * budget + 3, dtype=torch.float64, device=device)
    votes = ArcVotes(identifiers) if task == "arc" and identifiers is not None else None

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
            if task == "maze":
                exact |= _other_shortest_paths(inputs, labels, predictions, valid & ~exact)
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
    arc_scores = None
    if votes is not None and gathered is not None:
        merged = ArcVotes(votes.identifiers)
        for pairs in gathered:
            part = ArcVotes(votes.identifiers)
            part.pairs = pairs
            merged.merge(part)
        arc_scores = merged.scores()
    return EvalResult(
        split=split,
        examples=int(values[0]),
        max_segments=budget,
        exact_accuracy=values[budget] / n,
        token_accuracy=values[2 * budget] / n,
        by_segments=by_segments,
        adaptive={"exact_accuracy": values[-3] / n, "token_accuracy": values[-2] / n,
                  "mean_segments": values[-1] / n},
        arc=arc_scores,
        seconds=time.perf_counter() - started,
    )


def _other_shortest_paths(inputs: torch.Tensor, labels: torch.Tensor,
                          predictions: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Which of `rows` predict a shortest path other than the label's (checked by BFS)."""
    path = maze.PATH + 1  # token ids are cell codes + 1
    # Cheap necessary conditions first: as many path cells as the label, every other
    # cell copied from the maze. Only the survivors pay for a BFS.
    same_length = (predictions == path).sum(-1) == (labels == path).sum(-1)
    copied = ((predictions == inputs) | (predictions == path)).all(-1)
    candidates = torch.nonzero(rows & same_length & copied).flatten().tolist()
    found = torch.zeros_like(rows)
    if not candidates:
        return found
    puzzles, answers = inputs.cpu().numpy(), predictions.cpu().numpy()
    for row in candidates:
        found[row] = maze.verify(maze.decode(puzzles[row]), maze.decode(answers[row]))
    return found


def _add_votes(votes: ArcVotes, batch: dict[str, torch.Tensor], step: Any) -> None:
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
        with torch.random.fork_rng(devices=[]):
            model = build_model(config.model_config)
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
