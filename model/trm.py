"""TRM, the Tiny Recursive Model (Jolicoeur-Martineau 2025, "Less is More: Recursive
Reasoning with Tiny Networks").

One small network `net` (2 blocks) keeps two states: the answer y and a latent z. A
segment runs T recursions (`H_cycles`) of

    repeat n times (L_cycles):  z = net(z + y + x)      # x: the embedded puzzle
    y = net(y + z)

and reads the answer and the halting logit off y. The first T-1 recursions run without
gradient; the last one is backpropagated whole (`gradient="last-cycle"`). Between
segments the state is carried detached (deep supervision), and the Q head learns only
whether the current answer is right (`halting="halt-only"`, no continue target).

This is HRM's recurrence with both levels being the same network, so the shared code
runs it: y travels as the carry's z_H and z as its z_L, and the ACT training step,
rollouts, checkpoints, resume, warm starts and distributed training are `ACTModel`'s.

Two token mixers, as in the paper: self-attention (`mixer="attention"`, "TRM-Att") and,
for a small fixed grid such as Sudoku, an MLP across positions (`mixer="mlp"`,
"TRM-MLP"), which needs no position encoding. The `trm-mlp` architecture is the latter
with the paper's Sudoku settings as defaults.

Weights, names and numerics follow the authors' code, so that a model built there with
the same weights gives the same outputs here (tests/fixtures/official-trm).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hrm.model.act import SegmentOutput, halting_logits, hierarchical_recurrence
from hrm.model.config import TRM_POS_ENCODINGS as POS_ENCODINGS
from hrm.model.config import TRMConfig, TRMMLPConfig
from hrm.model.layers import (
    Attention,
    ReasoningLevel,
    RopeTables,
    SwiGLU,
    rms_norm,
)
from hrm.model.sequence import SequenceModel


def swiglu_inner_size(width: int, expansion: float) -> int:
    """round(expansion * width * 2/3) rounded up to a multiple of 256 (as HRM and TRM)."""
    return -(-round(expansion * width * 2 / 3) // 256) * 256

class PositionMLP(SwiGLU):
    """The MLP mixer: a SwiGLU across positions, applied to each channel.

    Post-norm as the attention block, and over the same axis the SwiGLU mixed: the
    positions (as the authors' code does)."""

    def __init__(self, positions: int, expansion: float, eps: float):
        super().__init__(positions, swiglu_inner_size(positions, expansion))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)  # (batch, hidden, positions)
        return rms_norm(x + super().forward(x), self.eps).transpose(1, 2)


class TRMBlock(nn.Module):
    """Post-norm block: mix positions (attention or MLP), then x = norm(x + mlp(x))."""

    def __init__(self, config: TRMConfig):
        super().__init__()
        if config.mixer == "attention":
            self.self_attn: Attention | None = Attention(config.hidden_size, config.num_heads)
            self.mlp_t: PositionMLP | None = None
        else:
            self.self_attn = None
            self.mlp_t = PositionMLP(config.total_len, config.expansion, config.rms_norm_eps)
        self.mlp = SwiGLU(config.hidden_size,
                          swiglu_inner_size(config.hidden_size, config.expansion))
        self.eps = config.rms_norm_eps

    def forward(self, x: torch.Tensor, rope: RopeTables) -> torch.Tensor:
        if self.self_attn is not None:
            x = rms_norm(x + self.self_attn(x, rope), self.eps)
        else:
            assert self.mlp_t is not None
            x = self.mlp_t(x)
        return rms_norm(x + self.mlp(x), self.eps)


class TRM(SequenceModel):
    """The Tiny Recursive Model. `H_init`/`L_init` are the initial answer y and latent z."""

    config: TRMConfig

    def __init__(self, config: TRMConfig):
        super().__init__(config, prefix_len=config.prefix_len)

    def build_levels(self) -> None:
        # The one network: net(state, injection) = blocks(state + injection), under the
        # authors' name (their H level does not exist).
        self.L_level = ReasoningLevel([TRMBlock(self.config)
                                       for _ in range(self.config.L_layers)])

    def _segment_eager(self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor,
                       puzzle_identifiers: torch.Tensor) -> SegmentOutput:
        cfg = self.config
        rope: RopeTables = self.rotary_emb() if self.rotary_emb is not None else None
        x = self.input_embeddings(inputs, puzzle_identifiers)
        # HRM's schedule with one network for both levels: z_L = net(z_L, z_H + x) n times,
        # then z_H = net(z_H, z_L); that is z = net(z + y + x), y = net(y + z).
        y, z = hierarchical_recurrence(z_H, z_L, x, self.L_level, self.L_level,
                                       H_cycles=cfg.H_cycles, L_cycles=cfg.L_cycles,
                                       gradient=cfg.gradient, rope=rope)
        logits = self.lm_head(y)[:, self.prefix_len:]
        q = self.q_head(y[:, 0]).float()
        return SegmentOutput(y, z, logits, *halting_logits(q, cfg.halting))


# ----------------------------------------------------------------------------------------
# Weights and configs of the authors' code
# ----------------------------------------------------------------------------------------

# The authors' training script saves the state dict of the torch.compile'd loss head:
# `_orig_mod.` (compile), `model.` (loss head), `inner.` (ACT wrapper), then the names
# above, which are theirs.
OFFICIAL_KEY_PREFIXES = ("_orig_mod.", "model.", "inner.")


def config_from_official(arch: Mapping[str, Any], *, vocab_size: int, seq_len: int,
                         num_puzzle_identifiers: int) -> TRMConfig:
    """Our config for the authors' `arch` settings (their config/arch/trm.yaml fields)."""
    known = {"name", "loss", "batch_size", "causal", "H_layers", "mlp_t", "no_ACT_continue",
             "forward_dtype"}
    fields_ = {k: v for k, v in arch.items() if k not in known}
    fields_["halting"] = "halt-only" if arch.get("no_ACT_continue", True) else "q-learning"
    cls = TRMMLPConfig if arch.get("mlp_t", False) else TRMConfig
    if fields_.get("pos_encodings") not in POS_ENCODINGS:
        fields_["pos_encodings"] = "none"  # their code treats any other value as none
    return cls(vocab_size=vocab_size, seq_len=seq_len,
               num_puzzle_identifiers=num_puzzle_identifiers, **fields_)


def state_dict_from_official(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The authors' saved weights under our names (their prefixes dropped; the rest is
    name for name), as float32."""
    converted = {}
    for key, tensor in state.items():
        for prefix in OFFICIAL_KEY_PREFIXES:
            key = key.removeprefix(prefix)
        converted[key] = tensor.float()
    return converted
