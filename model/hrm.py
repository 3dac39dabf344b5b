"""HRM ACT v1: the hierarchical recurrent model, its ACT training step and the rollout.

One *segment* runs H_cycles x L_cycles updates of a slow state z_H and a fast state z_L:

    for each of H_cycles:
        repeat L_cycles times:  z_L = L(z_L, z_H + x)     # x: input embeddings
        z_H = H(z_H, z_L)

Only the last L update and the last H update keep their autograd graph (the "one-step
gradient", an approximation of the gradient at the fixed point that needs O(1) memory);
everything before runs without gradient. A training step is one segment; the state is
carried, detached, into the next step (deep supervision), and adaptive computation time
(ACT) decides per sequence when to stop and start a new puzzle in its batch slot.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from hrm.model.config import HRMConfig
from hrm.model.layers import (
    Block,
    CastedEmbedding,
    CastedLinear,
    ReasoningLevel,
    RopeTables,
    RotaryEmbedding,
    trunc_normal_,
)
from hrm.model.sparse_embedding import SparsePuzzleEmbedding


@dataclass
class SegmentOutput:
    """Result of one segment on a batch."""

    z_H: torch.Tensor  # (batch, total_len, hidden), with the graph of the last H update
    z_L: torch.Tensor  # (batch, total_len, hidden)
    logits: torch.Tensor  # (batch, seq_len, vocab) in the activation dtype
    q_halt_logits: torch.Tensor  # (batch,) float32
    q_continue_logits: torch.Tensor  # (batch,) float32


@dataclass
class ACTCarry:
    """State carried between training steps (one slot per batch row).

    A slot whose `halted` flag is set starts over at the next step: its z are reset to
    H_init/L_init, its step counter to 0 and its `current_data` to the new batch's row.
    """

    z_H: torch.Tensor  # (batch, total_len, hidden), detached
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

    @property
    def predictions(self) -> torch.Tensor:
        """(batch, seq_len) argmax tokens."""
        return self.logits.argmax(-1)


HaltMode = Literal["max", "adaptive"]


class HRM(nn.Module):
    """The HRM ACT v1 model.

    Use `rollout` for inference, `forward(carry, batch)` (with `initial_carry`) for
    training and the original's evaluation loop, and `segment` as the raw building block.
    State-dict keys equal the original's after its `_orig_mod.model.inner.` prefix.
    """

    def __init__(self, config: HRMConfig):
        super().__init__()
        self.config = config
        hidden = config.hidden_size

        # Token embeddings are scaled up by sqrt(hidden) at use, so init them at
        # 1/sqrt(hidden): unit-variance inputs, but embedding-sized weight updates.
        self.embed_scale = math.sqrt(hidden)
        embed_std = 1.0 / self.embed_scale
        self.embed_tokens = CastedEmbedding(config.vocab_size, hidden, init_std=embed_std)
        self.lm_head = CastedLinear(hidden, config.vocab_size, bias=False)
        self.q_head = CastedLinear(hidden, 2, bias=True)  # (halt, continue) logits

        self.puzzle_emb: SparsePuzzleEmbedding | None = None
        if config.puzzle_emb_ndim > 0:
            self.puzzle_emb = SparsePuzzleEmbedding(
                config.num_puzzle_identifiers, config.puzzle_emb_ndim, init_std=0.0
            )

        self.rotary_emb: RotaryEmbedding | None = None
        self.embed_pos: CastedEmbedding | None = None
        if config.pos_encodings == "rope":
            self.rotary_emb = RotaryEmbedding(config.head_dim, config.total_len,
                                              config.rope_theta)
        else:
            self.embed_pos = CastedEmbedding(config.total_len, hidden, init_std=embed_std)

        def level(n_layers: int) -> ReasoningLevel:
            return ReasoningLevel([
                Block(hidden, config.num_heads, config.mlp_inner_size, config.rms_norm_eps)
                for _ in range(n_layers)
            ])

        self.H_level = level(config.H_layers)
        self.L_level = level(config.L_layers)

        # Starting states: fixed random vectors (not trained), broadcast to every position.
        self.register_buffer("H_init", trunc_normal_(torch.empty(hidden), std=1.0))
        self.register_buffer("L_init", trunc_normal_(torch.empty(hidden), std=1.0))

        # Q head starts almost constant (zero weights, bias -5: sigmoid ~ 0.007), so early
        # training is not disturbed by a random halting policy.
        with torch.no_grad():
            self.q_head.weight.zero_()
            assert self.q_head.bias is not None
            self.q_head.bias.fill_(-5.0)

        # Set by `compile_model`: a torch.compile'd `_segment_eager`. Eager when None.
        self._compiled_segment: Any = None

    # ------------------------------------------------------------------------------------
    # Basics
    # ------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.H_init.device

    @property
    def forward_dtype(self) -> torch.dtype:
        """Activation dtype: config.forward_dtype resolved for the weights' device."""
        return self.config.resolve_dtype(self.device)

    @property
    def puzzle_emb_len(self) -> int:
        return self.config.puzzle_emb_len

    def num_parameters(self) -> int:
        """Trainable (dense) parameters; the puzzle-embedding table is a buffer, not counted."""
        return sum(p.numel() for p in self.parameters())

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_H, z_L) for fresh sequences: H_init/L_init at every position."""
        shape = (batch_size, self.config.total_len, self.config.hidden_size)
        dtype = self.forward_dtype
        return (self.H_init.to(dtype).expand(shape).clone(),
                self.L_init.to(dtype).expand(shape).clone())

    def input_embeddings(self, inputs: torch.Tensor,
                         puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        """(batch, total_len, hidden): puzzle-embedding prefix + token embeddings, scaled."""
        dtype = self.forward_dtype
        x = self.embed_tokens(inputs.long(), dtype)
        if self.puzzle_emb is not None:
            batch, hidden = inputs.shape[0], self.config.hidden_size
            prefix = self.puzzle_emb(puzzle_identifiers, dtype)
            # Zero-pad to a whole number of positions, then fold into positions.
            pad = self.puzzle_emb_len * hidden - prefix.shape[-1]
            if pad > 0:
                prefix = nn.functional.pad(prefix, (0, pad))
            x = torch.cat((prefix.view(batch, self.puzzle_emb_len, hidden), x), dim=1)
        if self.embed_pos is not None:
            # Sum of two unit-variance terms: scale by 1/sqrt(2) to keep unit variance.
            x = math.sqrt(0.5) * (x + self.embed_pos.embedding_weight.to(dtype))
        return self.embed_scale * x

    # ------------------------------------------------------------------------------------
    # One segment
    # ------------------------------------------------------------------------------------
    def segment(self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor,
                puzzle_identifiers: torch.Tensor) -> SegmentOutput:
        """Run one segment from state (z_H, z_L) on a batch of token sequences."""
        if inputs.shape[-1] != self.config.seq_len:
            raise ValueError(f"inputs have {inputs.shape[-1]} tokens, the model was built for "
                             f"seq_len {self.config.seq_len}")
        impl = self._compiled_segment or self._segment_eager
        return impl(z_H, z_L, inputs, puzzle_identifiers)

    def _segment_eager(self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor,
                       puzzle_identifiers: torch.Tensor) -> SegmentOutput:
        cfg = self.config
        rope: RopeTables = self.rotary_emb() if self.rotary_emb is not None else None
        x = self.input_embeddings(inputs, puzzle_identifiers)

        # Updates before the backpropagated ones build no graph: with the paper's one-step
        # gradient that is all but the final L and H updates.
        tracked_L = {"one-step": 1, "last-cycle": cfg.L_cycles,
                     "full": cfg.H_cycles * cfg.L_cycles}[cfg.gradient]
        first_tracked_L = cfg.H_cycles * cfg.L_cycles - tracked_L
        for h in range(cfg.H_cycles):
            for l_step in range(cfg.L_cycles):
                if h * cfg.L_cycles + l_step >= first_tracked_L:
                    z_L = self.L_level(z_L, z_H + x, rope)
                else:
                    with torch.no_grad():
                        z_L = self.L_level(z_L, z_H + x, rope)
            if h == cfg.H_cycles - 1 or cfg.gradient == "full":
                z_H = self.H_level(z_H, z_L, rope)
            else:
                with torch.no_grad():
                    z_H = self.H_level(z_H, z_L, rope)

        logits = self.lm_head(z_H)[:, self.puzzle_emb_len:]
        # Halting is decided from the first position (the puzzle-embedding slot).
        q = self.q_head(z_H[:, 0]).float()
        # "halt-only": continuing is worth a constant 0, so every rule that compares q_halt
        # with q_continue (training, rollouts, evaluation, the TUI) halts at q_halt > 0.
        q_continue = q[:, 1] if cfg.halting == "q-learning" else torch.zeros_like(q[:, 1])
        return SegmentOutput(z_H, z_L, logits, q[:, 0], q_continue)

    # ------------------------------------------------------------------------------------
    # Training (and the original's evaluation loop): one ACT step per call
    # ------------------------------------------------------------------------------------
    def initial_carry(self, batch: dict[str, torch.Tensor]) -> ACTCarry:
        """A carry whose slots are all halted, so the first step loads the whole batch."""
        size = batch["inputs"].shape[0]
        z_H, z_L = self.initial_state(size)
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
                halt: HaltMode = "max",
                max_segments: int | None = None) -> Iterator[RolloutStep]:
        """Run segments on a batch and yield a `RolloutStep` after each one.

        - halt="max": every sequence runs `max_segments` segments (the original's
          evaluation).
        - halt="adaptive": a sequence stops after the first segment where
          q_halt > q_continue (or at `max_segments`). Stopped sequences are removed from
          the batch, so they cost nothing afterwards; the records keep reporting their
          last values. The rollout ends once every sequence has stopped.

        `max_segments` defaults to the trained `halt_max_steps` and may exceed it
        (inference-time scaling). `puzzle_identifiers` defaults to 0 (the blank
        identifier), what an unseen puzzle gets. Runs under `torch.inference_mode`.
        """
        if halt not in ("max", "adaptive"):
            raise ValueError(f"halt must be 'max' or 'adaptive', got {halt!r}")
        budget = self.config.halt_max_steps if max_segments is None else int(max_segments)
        if budget < 1:
            raise ValueError(f"max_segments must be at least 1, got {budget}")
        inputs = self._check_inputs(inputs)
        size = inputs.shape[0]
        device = self.device
        if puzzle_identifiers is None:
            puzzle_identifiers = torch.zeros(size, dtype=torch.long, device=device)
        puzzle_identifiers = self._check_identifiers(puzzle_identifiers, size)

        # Full-batch records; each segment writes the rows it computed into fresh copies,
        # so records already handed out never change.
        logits = torch.zeros(size, self.config.seq_len, self.config.vocab_size, device=device)
        q_halt = torch.zeros(size, device=device)
        q_continue = torch.zeros(size, device=device)
        steps = torch.zeros(size, dtype=torch.int32, device=device)
        halted = torch.zeros(size, dtype=torch.bool, device=device)

        # The computed batch: only sequences still running, and their state.
        active_idx = torch.arange(size, device=device)
        z_H, z_L = self.initial_state(size)
        act_inputs, act_ids = inputs, puzzle_identifiers

        for segment in range(budget):
            out = self.segment(z_H, z_L, act_inputs, act_ids)
            z_H, z_L = out.z_H, out.z_L

            logits = logits.clone()
            q_halt, q_continue, steps = q_halt.clone(), q_continue.clone(), steps.clone()
            logits[active_idx] = out.logits.float()
            q_halt[active_idx] = out.q_halt_logits
            q_continue[active_idx] = out.q_continue_logits
            steps[active_idx] += 1

            stop = torch.full_like(active_idx, segment + 1 >= budget, dtype=torch.bool)
            if halt == "adaptive":
                stop |= out.q_halt_logits > out.q_continue_logits
            halted = halted.clone()
            halted[active_idx] = stop
            active = torch.zeros(size, dtype=torch.bool, device=device)
            active[active_idx] = True

            yield RolloutStep(segment, logits, q_halt, q_continue, halted, steps, active)

            keep = ~stop
            if not bool(keep.any()):
                return
            if not bool(keep.all()):
                # Shrink the computed batch: halted sequences leave for good.
                active_idx, z_H, z_L = active_idx[keep], z_H[keep], z_L[keep]
                act_inputs, act_ids = act_inputs[keep], act_ids[keep]

    def _check_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.ndim != 2 or inputs.shape[1] != self.config.seq_len:
            raise ValueError(f"inputs must have shape (batch, {self.config.seq_len}) for this "
                             f"model (seq_len {self.config.seq_len}), got {tuple(inputs.shape)}")
        if inputs.dtype.is_floating_point or inputs.dtype == torch.bool:
            raise ValueError(f"inputs must be integer token ids, got {inputs.dtype}")
        inputs = inputs.to(self.device, torch.long)
        if inputs.numel() and (int(inputs.min()) < 0
                               or int(inputs.max()) >= self.config.vocab_size):
            raise ValueError(f"token ids must be in [0, {self.config.vocab_size})")
        return inputs

    def _check_identifiers(self, ids: torch.Tensor, size: int) -> torch.Tensor:
        ids = ids.to(self.device, torch.long).reshape(-1)
        if ids.shape[0] != size:
            raise ValueError(f"got {ids.shape[0]} puzzle identifiers for {size} inputs")
        limit = self.config.num_puzzle_identifiers
        if self.puzzle_emb is None or not ids.numel():
            return ids  # identifiers are unused without a puzzle embedding
        if int(ids.min()) < 0 or int(ids.max()) >= limit:
            raise ValueError(f"puzzle identifiers must be in [0, {limit})")
        return ids


def compile_model(model: HRM, **compile_kwargs: Any) -> HRM:
    """Compile the segment computation with `torch.compile` (optional; in place).

    Only the per-segment math is compiled, so parameter names, checkpoints and the Python
    control flow of `forward`/`rollout` are unchanged. Returns `model` for chaining.
    """
    model._compiled_segment = torch.compile(model._segment_eager, **compile_kwargs)
    return model
