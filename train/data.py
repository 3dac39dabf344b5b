"""Training and evaluation batches over a built dataset (see `hrm.datasets.format`).

Training follows the original release's sampler:

- One epoch visits every group once, in a random order, and draws one puzzle (augmented
  variant) of each group. The drawn puzzle contributes its examples in a random order,
  without replacement; a puzzle that does not fit in what is left of the batch is truncated
  to fill it, and its other examples are skipped. So batches always end on a group boundary.
- `epochs_per_iter` epochs form one pass (the original's "iteration"): batches are packed
  across the epoch boundaries inside a pass, and only the pass's final partial batch is
  dropped. With `epochs_per_iter=1` that is "drop the last batch of every epoch"; ARC runs
  use a large value so that the few batches of an epoch do not each lose a partial batch.
- Every rank draws the same global batch and keeps its contiguous slice of it, so N ranks
  together see exactly what one rank sees with the same global batch size and seed.

Unlike the original, all randomness of epoch `e` comes from one generator seeded with
`(seed, e)` (the original drew the order within a puzzle from numpy's global RNG, which also
differs between ranks). Any epoch can therefore be regenerated on its own, which makes the
sampler state small, `(epoch, position)`, and resuming exact.

Evaluation walks every example of a split in order, in global batches split across ranks;
the last batch is padded (pad token, ignored labels, blank identifier) and carries a mask.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrm.datasets.format import DatasetMetadata, PuzzleSet, load_split
from hrm.model.loss import IGNORE_LABEL_ID

Batch = dict[str, torch.Tensor]
"""`inputs` (batch, seq_len) int32, `labels` (batch, seq_len) int32 with `IGNORE_LABEL_ID`
where the dataset has no label, `puzzle_identifiers` (batch,) int32; evaluation batches add
`mask` (batch,) bool (False on padding rows) and `example_indices` (batch,) int64 (-1 on
padding rows)."""


def steps_per_epoch(metadata: DatasetMetadata, global_batch_size: int) -> float:
    """Optimizer steps per epoch, estimated as the original does for its schedule.

    `total_groups * mean_puzzle_examples / global_batch_size`: exact (up to the dropped
    partial batch) when every puzzle has one example, an over-estimate when multi-example
    puzzles are truncated at batch ends.
    """
    return metadata.total_groups * metadata.mean_puzzle_examples / global_batch_size


def _check_ranks(global_batch_size: int, rank: int, world_size: int) -> int:
    if global_batch_size <= 0:
        raise ValueError(f"global batch size must be positive, not {global_batch_size}")
    if world_size <= 0 or not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in a world of size {world_size}")
    if global_batch_size % world_size:
        raise ValueError(
            f"global batch size {global_batch_size} must be a multiple of the number of "
            f"ranks ({world_size})"
        )
    return global_batch_size // world_size


def _single_set(folder: Path, split: str) -> tuple[DatasetMetadata, PuzzleSet]:
    data = load_split(folder, split, mmap=True)
    if list(data.sets) != ["all"]:
        # Every builder (ours and the original's) writes the one set "all".
        raise ValueError(f"{Path(folder) / split}: expected the single set 'all', "
                         f"found {list(data.sets)}")
    return data.metadata, data.all


def _collate(metadata: DatasetMetadata, inputs: np.ndarray, labels: np.ndarray,
             identifiers: np.ndarray) -> Batch:
    """numpy rows (any integer dtype, possibly memory-mapped) -> int32 tensors."""
    labels = np.array(labels, dtype=np.int32)
    if metadata.ignore_label_id is not None:
        labels[labels == metadata.ignore_label_id] = IGNORE_LABEL_ID
    return {
        "inputs": torch.from_numpy(np.array(inputs, dtype=np.int32)),
        "labels": torch.from_numpy(labels),
        "puzzle_identifiers": torch.from_numpy(np.array(identifiers, dtype=np.int32)),
    }


# ----------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochPlan:
    """Everything epoch `e` will draw, as one stream of examples in visiting order.

    Group `order[k]` contributes puzzle `puzzles[k]`, whose examples (in random order) are
    `examples[starts[k]:starts[k + 1]]`.
    """

    order: np.ndarray  # (groups,) group ids in visiting order
    puzzles: np.ndarray  # (groups,) the puzzle drawn for each visited group
    starts: np.ndarray  # (groups + 1,) offsets of each visited group in `examples`
    examples: np.ndarray  # (sum of drawn puzzle sizes,) example indices
    example_puzzles: np.ndarray  # same shape: the puzzle each example belongs to


class TrainSampler:
    """Global training batches as example indices; rank-independent and resumable.

    The state is `(epoch, position)`: the next group to visit is `plan(epoch).order[position]`.
    A batch always ends at a group boundary, so this is all a resume needs.
    """

    def __init__(self, puzzle_set: PuzzleSet, global_batch_size: int, seed: int = 0,
                 epochs_per_iter: int = 1):
        if global_batch_size <= 0:
            raise ValueError(f"global batch size must be positive, not {global_batch_size}")
        if epochs_per_iter <= 0:
            raise ValueError(f"epochs_per_iter must be positive, not {epochs_per_iter}")
        self.puzzle_indices = np.asarray(puzzle_set.puzzle_indices, dtype=np.int64)
        self.group_indices = np.asarray(puzzle_set.group_indices, dtype=np.int64)
        self.num_groups = puzzle_set.num_groups
        self.global_batch_size = global_batch_size
        self.seed = seed
        self.epochs_per_iter = epochs_per_iter
        self.epoch = 0
        self.position = 0
        self._cached_plan: tuple[int, EpochPlan] | None = None

    def plan(self, epoch: int) -> EpochPlan:
        """The draws of `epoch`, a pure function of `(seed, epoch)` (cached for the last one)."""
        if self._cached_plan is not None and self._cached_plan[0] == epoch:
            return self._cached_plan[1]
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.num_groups)
        puzzles = rng.integers(self.group_indices[order], self.group_indices[order + 1])
        first = self.puzzle_indices[puzzles]
        sizes = self.puzzle_indices[puzzles + 1] - first
        starts = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=starts[1:])

        # Each puzzle's examples in a random order, all puzzles at once: sort the stream
        # by (visit number, random key), then read each example's offset inside its puzzle.
        visit = np.repeat(np.arange(len(sizes)), sizes)
        offsets = np.zeros(int(starts[-1]), dtype=np.int64)
        if len(sizes) and sizes.max() > 1:
            shuffled = np.lexsort((rng.random(len(visit)), visit))
            offsets = shuffled - starts[visit]
        plan = EpochPlan(order, puzzles, starts, first[visit] + offsets, puzzles[visit])
        self._cached_plan = (epoch, plan)
        return plan

    def global_batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(example indices, puzzle indices) of each full global batch to the end of the pass.

        The state advances before each yield, so `state_dict()` taken after receiving a
        batch resumes with the next one. When the pass's final partial batch is dropped,
        the state moves to the start of the next pass.
        """
        pass_end = (self.epoch // self.epochs_per_iter + 1) * self.epochs_per_iter
        size = self.global_batch_size
        while True:
            epoch, position = self.epoch, self.position
            examples, puzzles, filled = [], [], 0
            while filled < size and epoch < pass_end:
                plan = self.plan(epoch)
                begin = plan.starts[position]
                wanted = begin + size - filled
                if plan.starts[-1] < wanted:  # the rest of this epoch fits entirely
                    end, position, epoch = plan.starts[-1], 0, epoch + 1
                else:  # take groups until the batch is full; truncate the last one
                    end = wanted
                    position = int(np.searchsorted(plan.starts, wanted, side="left"))
                    if position == self.num_groups:
                        position, epoch = 0, epoch + 1
                examples.append(plan.examples[begin:end])
                puzzles.append(plan.example_puzzles[begin:end])
                filled += int(end - begin)
            if filled < size:
                self.epoch, self.position = pass_end, 0
                return
            self.epoch, self.position = epoch, position
            yield np.concatenate(examples), np.concatenate(puzzles)

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position,
                "num_groups": self.num_groups}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["num_groups"] != self.num_groups:
            raise ValueError(f"sampler state is for a dataset with {state['num_groups']} "
                             f"groups, this one has {self.num_groups}")
        if not 0 <= state["position"] < max(self.num_groups, 1):
            raise ValueError(f"sampler position {state['position']} is out of range")
        self.seed, self.epoch, self.position = state["seed"], state["epoch"], state["position"]


class TrainLoader:
    """This rank's training batches: `for batch in loader` runs to the end of the pass.

    Each `iter()` continues where the previous one stopped (mid-pass after a resume), so the
    usual loop is `while training: for batch in loader: ...`. Do not interleave two live
    iterators. Inputs and labels stay memory-mapped; only batch rows are read.
    """

    def __init__(self, folder: Path | str, global_batch_size: int, *, seed: int = 0,
                 rank: int = 0, world_size: int = 1, epochs_per_iter: int = 1,
                 split: str = "train"):
        self.local_batch_size = _check_ranks(global_batch_size, rank, world_size)
        self.metadata, self.data = _single_set(Path(folder), split)
        self.global_batch_size = global_batch_size
        self.rank = rank
        self.world_size = world_size
        self.sampler = TrainSampler(self.data, global_batch_size, seed, epochs_per_iter)

    @property
    def epoch(self) -> float:
        """Epochs completed so far, fractional within an epoch (for logs and schedules)."""
        return self.sampler.epoch + self.sampler.position / max(self.sampler.num_groups, 1)

    @property
    def steps_per_epoch(self) -> float:
        return steps_per_epoch(self.metadata, self.global_batch_size)

    def __iter__(self) -> Iterator[Batch]:
        lo = self.rank * self.local_batch_size
        hi = lo + self.local_batch_size
        for examples, puzzles in self.sampler.global_batches():
            examples, puzzles = examples[lo:hi], puzzles[lo:hi]
            yield _collate(self.metadata, self.data.inputs[examples],
                           self.data.labels[examples], self.data.puzzle_identifiers[puzzles])

    def state_dict(self) -> dict[str, Any]:
        """The data order position (rank-independent: resuming on more ranks is fine)."""
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state)


# ----------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------


class EvalLoader:
    """Every example of a split once, in order, in global batches split across ranks.

    Rank r takes rows `[r * local, (r + 1) * local)` of each global batch, padded to
    `local` rows (so all ranks run the same number of equal-shaped batches, as collective
    ops need). The last, partial batch shrinks to the fewest rows that split evenly across
    the ranks, so a small split does not run a whole batch of padding. Padding rows have the
    pad token, ignored labels (no loss, not counted by the ACT metrics), the blank
    identifier, `mask` False and `example_indices` -1.
    """

    def __init__(self, folder: Path | str, global_batch_size: int, *, rank: int = 0,
                 world_size: int = 1, split: str = "test"):
        self.local_batch_size = _check_ranks(global_batch_size, rank, world_size)
        self.metadata, self.data = _single_set(Path(folder), split)
        self.global_batch_size = global_batch_size
        self.rank = rank
        self.world_size = world_size

    @property
    def num_examples(self) -> int:
        return self.data.num_examples

    def __len__(self) -> int:
        return -(-self.num_examples // self.global_batch_size)

    @cached_property
    def _example_puzzles(self) -> np.ndarray:
        """The puzzle each example belongs to."""
        sizes = np.diff(np.asarray(self.data.puzzle_indices, dtype=np.int64))
        return np.repeat(np.arange(len(sizes)), sizes)

    def __iter__(self) -> Iterator[Batch]:
        meta, data = self.metadata, self.data
        for start in range(0, self.num_examples, self.global_batch_size):
            end = min(start + self.global_batch_size, self.num_examples)
            local = min(self.local_batch_size, -(-(end - start) // self.world_size))
            lo = min(start + self.rank * local, end)
            hi = min(lo + local, end)
            identifiers = data.puzzle_identifiers[self._example_puzzles[lo:hi]]
            batch = _collate(meta, data.inputs[lo:hi], data.labels[lo:hi], identifiers)
            batch["example_indices"] = torch.arange(lo, hi, dtype=torch.int64)
            yield self._pad(batch, local - (hi - lo))

    def _pad(self, batch: Batch, missing: int) -> Batch:
        fill = {"inputs": self.metadata.pad_id, "labels": IGNORE_LABEL_ID,
                "puzzle_identifiers": self.metadata.blank_identifier_id, "example_indices": -1}
        real = len(batch["inputs"])
        if missing:
            for key, value in fill.items():
                tensor = batch[key]
                pad = torch.full((missing, *tensor.shape[1:]), value, dtype=tensor.dtype)
                batch[key] = torch.cat([tensor, pad])
        batch["mask"] = torch.arange(real + missing) < real
        return batch
