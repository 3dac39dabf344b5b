"""HRM ACT v1: the hierarchical recurrent transformer of the original release.

One *segment* runs H_cycles x L_cycles updates of a slow state z_H and a fast state z_L
(`hierarchical_recurrence` in `hrm.model.act`):

    for each of H_cycles:
        repeat L_cycles times:  z_L = L(z_L, z_H + x)     # x: input embeddings
        z_H = H(z_H, z_L)

Each level is a stack of post-norm transformer blocks with global attention over the
flattened puzzle. Only the last L update and the last H update keep their autograd graph
(the "one-step gradient"). Training steps, deep supervision, ACT halting and rollouts are
the shared machinery of `hrm.model.act.ACTModel`.
"""

from __future__ import annotations

import math

import torch

from hrm.model.act import (
    ACTCarry,
    ACTModel,
    HaltMode,
    RolloutStep,
    SegmentOutput,
    compile_model,
    halting_logits,
    hierarchical_recurrence,
)
from hrm.model.config import HRMConfig
from hrm.model.layers import (
    Block,
    CastedEmbedding,
    CastedLinear,
    ReasoningLevel,
    RopeTables,
    RotaryEmbedding,
    sequence_input,
    trunc_normal_,
)
from hrm.model.sparse_embedding import SparsePuzzleEmbedding

__all__ = ["HRM", "ACTCarry", "HaltMode", "RolloutStep", "SegmentOutput", "compile_model"]


class HRM(ACTModel):
    """The HRM ACT v1 model.

    Use `rollout` for inference, `forward(carry, batch)` (with `initial_carry`) for
    training and the original's evaluation loop, and `segment` as the raw building block
    (all from `ACTModel`). State-dict keys equal the original's after its
    `_orig_mod.model.inner.` prefix.
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

    # ------------------------------------------------------------------------------------
    # Basics
    # ------------------------------------------------------------------------------------
    @property
    def puzzle_emb_len(self) -> int:
        return self.config.puzzle_emb_len

    def initial_state(self, batch_size: int,
                      seq_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_H, z_L) for fresh sequences: H_init/L_init at every position."""
        shape = (batch_size, self.config.total_len, self.config.hidden_size)
        dtype = self.forward_dtype
        return (self.H_init.to(dtype).expand(shape).clone(),
                self.L_init.to(dtype).expand(shape).clone())

    def input_embeddings(self, inputs: torch.Tensor,
                         puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        """(batch, total_len, hidden): puzzle-embedding prefix + token embeddings, scaled."""
        dtype = self.forward_dtype
        prefix = None if self.puzzle_emb is None else self.puzzle_emb(puzzle_identifiers, dtype)
        positions = None if self.embed_pos is None else self.embed_pos.embedding_weight.to(dtype)
        return sequence_input(self.embed_tokens(inputs.long(), dtype), prefix,
                              self.puzzle_emb_len, positions, self.embed_scale)

    # ------------------------------------------------------------------------------------
    # One segment
    # ------------------------------------------------------------------------------------
    def _segment_eager(self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor,
                       puzzle_identifiers: torch.Tensor) -> SegmentOutput:
        cfg = self.config
        rope: RopeTables = self.rotary_emb() if self.rotary_emb is not None else None
        x = self.input_embeddings(inputs, puzzle_identifiers)

        z_H, z_L = hierarchical_recurrence(z_H, z_L, x, self.H_level, self.L_level,
                                           H_cycles=cfg.H_cycles, L_cycles=cfg.L_cycles,
                                           gradient=cfg.gradient, rope=rope)

        logits = self.lm_head(z_H)[:, self.puzzle_emb_len:]
        # Halting is decided from the first position (the puzzle-embedding slot).
        q = self.q_head(z_H[:, 0]).float()
        return SegmentOutput(z_H, z_L, logits, *halting_logits(q, cfg.halting))
