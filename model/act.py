"""Adaptive computation time (ACT), written once for every architecture.

An architecture supplies a *segment*: from a recurrent state (z_H, z_L) and a batch of
puzzles, one step of reasoning that returns the new state, the answer logits and the
halting Q logits. `ACTModel` turns segments into training steps (deep supervision: the
state is carried, detached, from one step to the next, and a halted slot starts a new
puzzle) and into inference rollouts (fixed or adaptive numbers of segments).

`hierarchical_recurrence` is HRM's two-timescale loop, shared by the architectures that
keep it and differ only in their blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

if TYPE_CHECKING:
    import numpy as np

HaltMode = Literal["max", "adaptive"]

# Updates of a segment that keep their autograd graph, counted from its end: the paper's
# one-step gradient tracks the final L and H updates; "last-cycle" the last H cycle's L
# updates and its H update (as TRM); "full" every update.
TRACKED_UPDATES: dict[str, Callable[[int, int], int]] = {
    "one-step": lambda h_cycles, l_cycles: 2,
    "last-cycle": lambda h_cycles, l_cycles: l_cycles + 1,
    "full": lambda h_cycles, l_cycles: h_cycles * (l_cycles + 1),
}


@dataclass
class SegmentOutput:
    """Result of one segment on a batch."""

    z_H: torch.Tensor  # (batch, positions, hidden), with the graph of the tracked updates
    z_L: torch.Tensor  # (batch, positions, hidden)
    logits: torch.Tensor  # (batch, seq_len, vocab) in the activation dtype
    q_halt_logits: torch.Tensor  # (batch,) float32
    q_continue_logits: torch.Tensor  # (batch,) float32


@dataclass
class ACTCarry:
    """State carried between training steps (one slot per batch row).

    A slot whose `halted` flag is set starts over at the next step: its z are reset to
    H_init/L_init, its step counter to 0 and its `current_data` to the new batch's row.
    """

    z_H: torch.Tensor  # (batch, positions, hidden), detached
    z_L: torch.Tensor
    steps: torch.Tensor  # (batch,) int32: segments run on the current puzzle
    halted: torch.Tensor  # (batch,) bool
    current_data: dict[str, torch.Tensor]  # the puzzle each slot is working on


@dataclass(frozen=True)
class RolloutStep:
    """One segment of an inference rollout; tensors are indexed by the input batch.

    Sequences that halted earlier keep the values of their last computed segment.
    """

    segment: int  # 0-based index of this segment (segment + 1 segments have run)
    logits: torch.Tensor  # (batch, seq_len, vocab) float32
    q_halt_logits: torch.Tensor  # (batch,) float32
    q_continue_logits: torch.Tensor  # (batch,) float32
    halted: torch.Tensor  # (batch,) bool: finished at or before this segment
    steps: torch.Tensor  # (batch,) int32: segments computed for each sequence so far
    active: torch.Tensor  # (batch,) bool: computed in this segment
    # (batch, seq_len) float32, with `rollout(latent=True)`: how far each position's latent
    # state z_L moved in this segment, as the root mean square over its features.
    latent_change: torch.Tensor | None = None

    @property
    def predictions(self) -> torch.Tensor:
        """(batch, seq_len) argmax tokens."""
        return self.logits.argmax(-1)


def halting_logits(q: torch.Tensor, halting: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(q_halt, q_continue) from the Q head's two float32 logits. With "halt-only",
    continuing is worth a constant 0, so every rule that compares q_halt with q_continue
    (training, rollouts, evaluation, the TUI) halts at q_halt > 0."""
    q_continue = q[:, 1] if halting == "q-learning" else torch.zeros_like(q[:, 1])
    return q[:, 0], q_continue


def hierarchical_recurrence(z_H: torch.Tensor, z_L: torch.Tensor, x: torch.Tensor,
                            H_level: nn.Module, L_level: nn.Module, *, H_cycles: int,
                            L_cycles: int, gradient: str,
                            **level_args: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """One segment of HRM's recurrence; returns the new (z_H, z_L).

        for each of H_cycles:
            repeat L_cycles times:  z_L = L(z_L, z_H + x)     # x: input, injected each time
            z_H = H(z_H, z_L)

    Only the last `TRACKED_UPDATES[gradient]` updates build an autograd graph; the ones
    before run without gradient (the one-step gradient needs O(1) memory in the depth).
    """
    def update(level: str, z_H: torch.Tensor,
               z_L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if level == "L":
            return z_H, L_level(z_L, z_H + x, **level_args)
        return H_level(z_H, z_L, **level_args), z_L

    schedule = (["L"] * L_cycles + ["H"]) * H_cycles
    untracked = len(schedule) - TRACKED_UPDATES[gradient](H_cycles, L_cycles)
    with torch.no_grad():
        for level in schedule[:untracked]:
            z_H, z_L = update(level, z_H, z_L)
    for level in schedule[untracked:]:
        z_H, z_L = update(level, z_H, z_L)
    return z_H, z_L


class ACTModel(nn.Module):
    """The ACT machinery around an architecture's segment.

    A subclass defines `config` (with `halt_max_steps`, `halt_exploration_prob`, `halting`
    and `vocab_size`), the buffers `H_init` and `L_init` (the starting state of every
    position), `puzzle_emb` (None without one), `initial_state` and `_segment_eager`;
    `takes_seq_len` and `expected_shape` when it takes other lengths than its config's.
    """

    config: Any
    H_init: torch.Tensor
    L_init: torch.Tensor
    puzzle_emb: nn.Module | None  # its rows are the puzzle identifiers; None: unused
    any_size: bool = False
    """True when one model takes grids of every size (`takes_seq_len` of any square)."""

    def __init__(self) -> None:
        super().__init__()
        # Set by `compile_model`: a torch.compile'd `_segment_eager`. Eager when None.
        self._compiled_segment: Any = None

    # --- what an architecture supplies ----------------------------------------------------
    def initial_state(self, batch_size: int,
                      seq_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_H, z_L) for fresh sequences of `seq_len` tokens (default: the config's)."""
        raise NotImplementedError

    def _segment_eager(self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor,
                       puzzle_identifiers: torch.Tensor) -> SegmentOutput:
        raise NotImplementedError

    def expected_shape(self) -> str:
        """The input shape the model takes, as error messages name it."""
        return f"(batch, {self.config.seq_len}) for this model (seq_len {self.config.seq_len})"

    def check_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Validate a (batch, seq_len) batch of token ids; return it as long on the device."""
        if inputs.ndim != 2 or not self.takes_seq_len(inputs.shape[1]):
            raise ValueError(f"inputs must have shape {self.expected_shape()}, "
                             f"got {tuple(inputs.shape)}")
        if inputs.dtype.is_floating_point or inputs.dtype == torch.bool:
            raise ValueError(f"inputs must be integer token ids, got {inputs.dtype}")
        inputs = inputs.to(self.device, torch.long)
        if inputs.numel() and (int(inputs.min()) < 0
                               or int(inputs.max()) >= self.config.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.config.vocab_size})")
        return inputs

    def check_identifiers(self, ids: torch.Tensor, size: int) -> torch.Tensor:
        """Validate puzzle identifiers (one per input); unused without a puzzle embedding."""
        ids = ids.to(self.device, torch.long).reshape(-1)
        if ids.shape[0] != size:
            raise ValueError(f"got {ids.shape[0]} puzzle identifiers for {size} inputs")
        limit = self.config.num_puzzle_identifiers
        if self.puzzle_emb is None or not ids.numel():
            return ids
        if int(ids.min()) < 0 or int(ids.max()) >= limit:
            raise ValueError(f"puzzle identifiers must be in [0, {limit})")
        return ids

    def takes_seq_len(self, seq_len: int) -> bool:
        """Whether a batch of `seq_len` tokens fits the model (the trained length here)."""
        return seq_len == self.config.seq_len

    def default_segments(self, seq_len: int) -> int:
        """The rollout budget when none is given: the trained `halt_max_steps`."""
        return self.config.halt_max_steps

    def default_budgets(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch,) rollout budgets when none is given: `default_segments` for each row."""
        budget = self.default_segments(inputs.shape[1])
        return torch.full((inputs.shape[0],), budget, dtype=torch.long, device=inputs.device)

    # --- shared -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.H_init.device

    @property
    def forward_dtype(self) -> torch.dtype:
        """Activation dtype: config.forward_dtype resolved for the weights' device."""
        return getattr(torch, self.config.dtype_name(self.device.type))

    def num_parameters(self) -> int:
        """Trainable (dense) parameters; a puzzle-embedding table is a buffer, not counted."""
        return sum(p.numel() for p in self.parameters())

    def segment(self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor,
                puzzle_identifiers: torch.Tensor) -> SegmentOutput:
        """Run one segment from state (z_H, z_L) on a batch of token sequences."""
        if not self.takes_seq_len(inputs.shape[-1]):
            raise ValueError(f"inputs have {inputs.shape[-1]} tokens, the model was built for "
                             f"seq_len {self.config.seq_len}")
        impl = self._compiled_segment or self._segment_eager
        return impl(z_H, z_L, inputs, puzzle_identifiers)

    # ------------------------------------------------------------------------------------
    # Training (and the original's evaluation loop): one ACT step per call
    # ------------------------------------------------------------------------------------
    def initial_carry(self, batch: dict[str, torch.Tensor]) -> ACTCarry:
        """A carry whose slots are all halted, so the first step loads the whole batch."""
        size, seq_len = batch["inputs"].shape
        z_H, z_L = self.initial_state(size, seq_len)
        device = batch["inputs"].device
        return ACTCarry(
            z_H=z_H, z_L=z_L,
            steps=torch.zeros(size, dtype=torch.int32, device=device),
            halted=torch.ones(size, dtype=torch.bool, device=device),
            current_data={k: torch.zeros_like(v) for k, v in batch.items()},
        )

    def forward(self, carry: ACTCarry,
                batch: dict[str, torch.Tensor]) -> tuple[ACTCarry, dict[str, torch.Tensor]]:
        """One ACT step: refill halted slots from `batch`, run one segment, decide halting.

        `batch` holds `inputs` (batch, seq_len), `puzzle_identifiers` (batch,) and anything
        else (e.g. `labels`) that should travel with each slot in `carry.current_data`.
        Returns the new carry and outputs: `logits`, `q_halt_logits`, `q_continue_logits`
        and, in training mode, `target_q_continue` for the Q-learning loss.

        In eval mode every sequence runs exactly `halt_max_steps` segments (the original's
        evaluation, which keeps a batch in lock-step). In training mode a sequence halts
        when q_halt > q_continue, after `halt_max_steps` at the latest; with probability
        `halt_exploration_prob` it must first run randint[2, halt_max_steps] segments.
        """
        cfg = self.config
        reset = carry.halted
        z_H = torch.where(reset.view(-1, 1, 1), self.H_init.to(carry.z_H.dtype), carry.z_H)
        z_L = torch.where(reset.view(-1, 1, 1), self.L_init.to(carry.z_L.dtype), carry.z_L)
        steps = torch.where(reset, 0, carry.steps)
        data = {
            k: torch.where(reset.view((-1,) + (1,) * (batch[k].ndim - 1)), batch[k], v)
            for k, v in carry.current_data.items()
        }

        out = self.segment(z_H, z_L, data["inputs"], data["puzzle_identifiers"])
        outputs = {
            "logits": out.logits,
            "q_halt_logits": out.q_halt_logits,
            "q_continue_logits": out.q_continue_logits,
        }
        z_H, z_L = out.z_H.detach(), out.z_L.detach()  # deep supervision: no BPTT

        with torch.no_grad():
            steps = steps + 1
            is_last_step = steps >= cfg.halt_max_steps
            halted = is_last_step
            if self.training and cfg.halt_max_steps > 1:
                halted = halted | (out.q_halt_logits > out.q_continue_logits)
                # Exploration: some sequences must run a random minimum number of segments,
                # so the Q head also sees the value of continuing.
                explore = torch.rand_like(out.q_halt_logits) < cfg.halt_exploration_prob
                min_steps = explore * torch.randint_like(steps, 2, cfg.halt_max_steps + 1)
                halted = halted & (steps >= min_steps)

            if self.training and cfg.halt_max_steps > 1 and cfg.halting == "q-learning":
                # Q-learning target for "continue": the value of the next segment, i.e. its
                # best Q (or q_halt when no segment may follow), from an extra forward.
                # No replay buffer or target network: the large batch gives enough
                # parallel environments (as in PQN).
                nxt = self.segment(z_H, z_L, data["inputs"], data["puzzle_identifiers"])
                value = torch.where(is_last_step, nxt.q_halt_logits,
                                    torch.maximum(nxt.q_halt_logits, nxt.q_continue_logits))
                outputs["target_q_continue"] = torch.sigmoid(value)

        return ACTCarry(z_H, z_L, steps, halted, data), outputs

    # ------------------------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------------------------
    @torch.inference_mode()
    def rollout(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor | None = None,
                halt: HaltMode = "max", max_segments: int | None = None,
                latent: bool = False,
                accept: Callable[[int, np.ndarray], bool] | None = None
                ) -> Iterator[RolloutStep]:
        """Run segments on a batch and yield a `RolloutStep` after each one.

        - halt="max": every sequence runs `max_segments` segments (the original's
          evaluation).
        - halt="adaptive": a sequence stops after the first segment where
          q_halt > q_continue (or at `max_segments`). Stopped sequences are removed from
          the batch, so they cost nothing afterwards; the records keep reporting their
          last values. The rollout ends once every sequence has stopped. With `accept`,
          a sequence the Q head would stop early stops only if `accept(row, tokens)` takes
          its predicted tokens (its batch row, the argmax per position); otherwise it runs
          on, at most to its budget.

        `max_segments` defaults to `default_budgets`, per sequence (the trained
        `halt_max_steps`; more for a grid model's larger grids), and may exceed it
        (inference-time scaling). `puzzle_identifiers` defaults to 0 (the blank
        identifier), what an unseen puzzle gets. Runs under `torch.inference_mode`.
        """
        if halt not in ("max", "adaptive"):
            raise ValueError(f"halt must be 'max' or 'adaptive', got {halt!r}")
        if max_segments is not None and max_segments < 1:
            raise ValueError(f"max_segments must be at least 1, got {max_segments}")
        inputs = self.check_inputs(inputs)
        size, seq_len = inputs.shape
        device = self.device
        if max_segments is None:
            budgets = self.default_budgets(inputs)
        else:
            budgets = torch.full((size,), int(max_segments), dtype=torch.long, device=device)
        budget = int(budgets.max()) if size else 1
        if puzzle_identifiers is None:
            puzzle_identifiers = torch.zeros(size, dtype=torch.long, device=device)
        puzzle_identifiers = self.check_identifiers(puzzle_identifiers, size)

        # Full-batch records; each segment writes the rows it computed into fresh copies,
        # so records already handed out never change.
        logits = torch.zeros(size, seq_len, self.config.vocab_size, device=device)
        q_halt = torch.zeros(size, device=device)
        q_continue = torch.zeros(size, device=device)
        steps = torch.zeros(size, dtype=torch.int32, device=device)
        halted = torch.zeros(size, dtype=torch.bool, device=device)

        # The computed batch: only sequences still running, and their state.
        active_idx = torch.arange(size, device=device)
        z_H, z_L = self.initial_state(size, seq_len)
        act_inputs, act_ids = inputs, puzzle_identifiers

        change = torch.zeros(size, seq_len, device=device) if latent else None

        for segment in range(budget):
            out = self.segment(z_H, z_L, act_inputs, act_ids)
            if change is not None:
                change = change.clone()
                moved = (out.z_L.float() - z_L.float()).square().mean(-1).sqrt()
                change[active_idx] = moved[:, -seq_len:]  # a puzzle-embedding prefix first
            z_H, z_L = out.z_H, out.z_L

            logits = logits.clone()
            q_halt, q_continue, steps = q_halt.clone(), q_continue.clone(), steps.clone()
            logits[active_idx] = out.logits.float()
            q_halt[active_idx] = out.q_halt_logits
            q_continue[active_idx] = out.q_continue_logits
            steps[active_idx] += 1

            stop = segment + 1 >= budgets[active_idx]
            if halt == "adaptive":
                asked = out.q_halt_logits > out.q_continue_logits
                if accept is not None:
                    rows = active_idx.tolist()
                    asked &= accepted(asked & ~stop, out.logits,
                                      lambda k, tokens, rows=rows: accept(rows[k], tokens))
                stop |= asked
            halted = halted.clone()
            halted[active_idx] = stop
            active = torch.zeros(size, dtype=torch.bool, device=device)
            active[active_idx] = True

            yield RolloutStep(segment, logits, q_halt, q_continue, halted, steps, active,
                              change)

            keep = ~stop
            if not bool(keep.any()):
                return
            if not bool(keep.all()):
                # Shrink the computed batch: halted sequences leave for good.
                active_idx, z_H, z_L = active_idx[keep], z_H[keep], z_L[keep]
                act_inputs, act_ids = act_inputs[keep], act_ids[keep]


def accepted(asked: torch.Tensor, logits: torch.Tensor,
             accept: Callable[[int, np.ndarray], bool]) -> torch.Tensor:
    """(batch,) False where a row asks to halt (`asked`) and `accept(row, tokens)` turns
    its predicted tokens down; True elsewhere. Only the asking rows leave the device."""
    ok = torch.ones_like(asked)
    rows = asked.nonzero().flatten()
    if len(rows):
        tokens = logits[rows].argmax(-1).cpu().numpy()
        for k, row in enumerate(rows.tolist()):
            ok[row] = bool(accept(row, tokens[k]))
    return ok


def compile_model(model: ACTModel, **compile_kwargs: Any) -> ACTModel:
    """Compile the segment computation with `torch.compile` (optional; in place).

    Only the per-segment math is compiled, so parameter names, checkpoints and the Python
    control flow of `forward`/`rollout` are unchanged. Returns `model` for chaining.
    """
    model._compiled_segment = torch.compile(model._segment_eager, **compile_kwargs)
    return model
