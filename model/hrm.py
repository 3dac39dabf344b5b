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

import torch

from hrm.model.act import (
    ACTCarry,
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
    ReasoningLevel,
    RopeTables,
)
from hrm.model.sequence import SequenceModel

__all__ = ["HRM", "ACTCarry", "HaltMode", "RolloutStep", "SegmentOutput", "compile_model"]


class HRM(SequenceModel):
    """The HRM ACT v1 model.

    Use `rollout` for inference, `forward(carry, batch)` (with `initial_carry`) for
    training and the original's evaluation loop, and `segment` as the raw building block
    (all from `ACTModel`). State-dict keys equal the original's after its
    `_orig_mod.model.inner.` prefix.
    """

    config: HRMConfig

    def __init__(self, config: HRMConfig):
        super().__init__(config, prefix_len=config.puzzle_emb_len)

    def build_levels(self) -> None:
        cfg = self.config

        def level(n_layers: int) -> ReasoningLevel:
            return ReasoningLevel([
                Block(cfg.hidden_size, cfg.num_heads, cfg.mlp_inner_size, cfg.rms_norm_eps)
                for _ in range(n_layers)
            ])

        self.H_level = level(cfg.H_layers)
        self.L_level = level(cfg.L_layers)

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

        logits = self.lm_head(z_H)[:, self.prefix_len:]
        # Halting is decided from the first position (the puzzle-embedding slot).
        q = self.q_head(z_H[:, 0]).float()
        return SegmentOutput(z_H, z_L, logits, *halting_logits(q, cfg.halting))
