"""Continuous batching: a rollout whose halted rows are replaced at once.

`ACTModel.rollout` runs one batch until its last sequence stops; adaptive halting shrinks
it, but the freed rows stay empty, so a batch waits for its slowest puzzle at a fraction
of its size. `ContinuousRollout` keeps the batch full instead: a caller `add`s sequences
while there is room, and every `step` runs one segment on all of them and hands back the
ones that stopped, whose rows new sequences take at the next step.

A row's result does not depend on who shares its batch as long as the model's segment
computes every row on its own, which HRM's and TRM's do (linear layers and attention over
a row's own positions). So a sequence gets the same answer, segments and halting here as
in a rollout of its own (`tests/inference/test_continuous.py`); only the last bit of a
float32 logit may differ, where the CPU's kernels round differently for another batch
shape.

Grids of any size share one square canvas, the largest side running; it grows when a
larger grid comes in and shrinks when the largest leaves. Padded cells are zero and a
grid model holds them at zero, so the move changes nothing a grid can see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from hrm.model.act import accepted

if TYPE_CHECKING:
    from hrm.model import ACTModel


@dataclass(frozen=True)
class Finished:
    """A sequence that stopped: by halting, or at the end of its budget."""

    tag: Any  # what the caller gave `add`
    predictions: np.ndarray  # its tokens: (seq_len,), or (side * side,) at its own side
    q_halt: float  # probability of halting at its last segment (sigmoid of the Q logit)
    segments: int


class ContinuousRollout:
    """Run sequences through `model` in one batch of at most `capacity` rows.

    halt "max" runs each sequence for its budget; "adaptive" stops it after the first
    segment where q_halt > q_continue (or at its budget). The budget is `max_segments`,
    else the model's `default_budgets` for that sequence alone. With `accept`, adaptive
    halting before the budget also needs `accept(tag, tokens)` to take the sequence's
    predicted tokens (as `Finished.predictions` would hold them); otherwise it runs on.
    """

    def __init__(self, model: ACTModel, *, capacity: int, halt: str = "adaptive",
                 max_segments: int | None = None,
                 accept: Callable[[Any, np.ndarray], bool] | None = None):
        if halt not in ("max", "adaptive"):
            raise ValueError(f"halt must be 'max' or 'adaptive', got {halt!r}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if max_segments is not None and max_segments < 1:
            raise ValueError(f"max_segments must be at least 1, got {max_segments}")
        self.model = model
        self.capacity = capacity
        self.halt = halt
        self.max_segments = max_segments
        self.accept = accept
        device = model.device
        self._device = device
        # The running rows, compact (no holes); `_side` is the canvas side of grid models.
        self._tags: list[Any] = []
        self._sides: list[int] = []  # each row's own side (grid models), else 0
        self._inputs = torch.zeros(0, 0, dtype=torch.long, device=device)
        self._ids = torch.zeros(0, dtype=torch.long, device=device)
        self._budgets = torch.zeros(0, dtype=torch.long, device=device)
        self._steps = torch.zeros(0, dtype=torch.long, device=device)
        self._z: tuple[torch.Tensor, torch.Tensor] | None = None
        self._side = 0
        self._incoming: list[tuple[np.ndarray, int, Any]] = []

    def __len__(self) -> int:
        """Sequences running or waiting for their first segment."""
        return len(self._tags) + len(self._incoming)

    @property
    def free(self) -> int:
        """How many more sequences `add` takes before the next `step`."""
        return self.capacity - len(self)

    def add(self, tokens: np.ndarray, identifier: int = 0, tag: Any = None) -> None:
        """Queue a sequence for the next step: (seq_len,) tokens, or (side, side) for a
        model of any size; `identifier` is its puzzle-embedding row (0: none)."""
        if not self.free:
            raise RuntimeError(f"the batch is full ({self.capacity} rows)")
        if self.model.any_size and (tokens.ndim != 2 or tokens.shape[0] != tokens.shape[1]):
            raise ValueError(f"a model of any size takes square grids, got {tokens.shape}")
        self._incoming.append((tokens, identifier, tag))

    @torch.inference_mode()
    def step(self) -> list[Finished]:
        """Run one segment on every sequence; return those that stopped, in row order."""
        self._admit()
        if not self._tags:
            return []
        assert self._z is not None
        out = self.model.segment(*self._z, self._inputs, self._ids)
        self._steps += 1
        stop = self._steps >= self._budgets
        if self.halt == "adaptive":
            asked = out.q_halt_logits > out.q_continue_logits
            if self.accept is not None:
                accept = self.accept
                asked &= accepted(asked & ~stop, out.logits,
                                  lambda row, tokens: accept(self._tags[row],
                                                             self._own(row, tokens)))
            stop |= asked
        if not bool(stop.any()):
            self._z = (out.z_H, out.z_L)
            return []

        rows = stop.nonzero().flatten().tolist()
        predictions = out.logits[stop].argmax(-1).cpu().numpy()
        q_halt = torch.sigmoid(out.q_halt_logits[stop].float()).cpu().numpy()
        steps = self._steps[stop].cpu().numpy()
        finished = []
        for k, row in enumerate(rows):
            finished.append(Finished(self._tags[row], self._own(row, predictions[k]),
                                     float(q_halt[k]), int(steps[k])))

        keep = ~stop
        gone = set(rows)
        self._tags = [t for i, t in enumerate(self._tags) if i not in gone]
        self._sides = [s for i, s in enumerate(self._sides) if i not in gone]
        self._inputs, self._ids = self._inputs[keep], self._ids[keep]
        self._budgets, self._steps = self._budgets[keep], self._steps[keep]
        self._z = (out.z_H[keep], out.z_L[keep])
        if self.model.any_size and self._sides and max(self._sides) < self._side:
            self._resize(max(self._sides))
        return finished

    def _own(self, row: int, tokens: np.ndarray) -> np.ndarray:
        """A row's tokens as its own: a grid model's grid cut out of the shared canvas."""
        side = self._sides[row]
        if not side:
            return tokens
        return tokens.reshape(self._side, self._side)[:side, :side].reshape(-1)

    # ------------------------------------------------------------------------------------
    def _admit(self) -> None:
        """Give the queued sequences their rows: inputs, budgets and a fresh state."""
        if not self._incoming:
            return
        incoming, self._incoming = self._incoming, []
        model = self.model
        tokens = [t for t, _, _ in incoming]
        if model.any_size:
            sides = [int(t.shape[0]) for t in tokens]
            # An emptied batch keeps its last canvas; the new grids need only their own.
            canvas = max([*sides, self._side if self._tags else 0])
            if canvas != self._side and self._tags:
                self._resize(canvas)
            self._side = canvas
        else:
            sides = [0] * len(incoming)
        inputs = model.check_inputs(torch.from_numpy(stack_tokens(tokens, self._side)))
        ids = model.check_identifiers(
            torch.tensor([i for _, i, _ in incoming], dtype=torch.long), len(incoming))
        if self.max_segments is not None:
            budgets = torch.full((len(incoming),), self.max_segments, dtype=torch.long,
                                 device=self._device)
        else:
            budgets = model.default_budgets(inputs)
        z_H, z_L = model.initial_state(len(incoming), inputs.shape[1])

        if self._z is None or not self._tags:
            self._inputs, self._ids, self._budgets = inputs, ids, budgets.to(self._device)
            self._steps = torch.zeros(len(incoming), dtype=torch.long, device=self._device)
            self._z = (z_H, z_L)
        else:
            self._inputs = torch.cat([self._inputs, inputs])
            self._ids = torch.cat([self._ids, ids])
            self._budgets = torch.cat([self._budgets, budgets.to(self._device)])
            self._steps = torch.cat([self._steps, torch.zeros_like(budgets)])
            self._z = (torch.cat([self._z[0], z_H]), torch.cat([self._z[1], z_L]))
        self._tags += [tag for _, _, tag in incoming]
        self._sides += sides

    def _resize(self, side: int) -> None:
        """Move the running grids onto a canvas of `side` (larger: zero padding; smaller:
        only padding is cut, as no running grid is larger)."""
        old = self._side
        batch = len(self._tags)
        grow = side - old

        def move(x: torch.Tensor) -> torch.Tensor:
            grid = x.reshape(batch, old, old, *x.shape[2:])
            if grow > 0:
                pad = (0, 0) * (x.ndim - 2) + (0, grow, 0, grow)
                grid = F.pad(grid, pad)
            else:
                grid = grid[:, :side, :side]
            return grid.reshape(batch, side * side, *x.shape[2:])

        self._inputs = move(self._inputs)
        assert self._z is not None
        self._z = (move(self._z[0]), move(self._z[1]))
        self._side = side


def stack_tokens(tokens: Sequence[np.ndarray], side: int = 0) -> np.ndarray:
    """One (batch, seq_len) int64 array. Square grids are padded (0) to the largest side,
    or to `side` if that is larger, which a model of any size ignores."""
    if tokens[0].ndim == 1:
        return np.stack(tokens).astype(np.int64)
    side = max(side, *(t.shape[0] for t in tokens))
    out = np.zeros((len(tokens), side, side), dtype=np.int64)
    for row, grid in zip(out, tokens, strict=True):
        row[: grid.shape[0], : grid.shape[1]] = grid
    return out.reshape(len(tokens), side * side)
