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
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from hrm.model.act import SegmentOutput, halting_logits, hierarchical_recurrence
from hrm.model.config import ModelConfig
from hrm.model.layers import (
    Attention,
    ReasoningLevel,
    RopeTables,
    SwiGLU,
    rms_norm,
)
from hrm.model.sequence import SequenceModel

MIXERS = ("attention", "mlp")
POS_ENCODINGS = ("rope", "learned", "none")


def swiglu_inner_size(width: int, expansion: float) -> int:
    """round(expansion * width * 2/3) rounded up to a multiple of 256 (as HRM and TRM)."""
    return -(-round(expansion * width * 2 / 3) // 256) * 256


@dataclass
class TRMConfig(ModelConfig):
    """Everything needed to build a `TRM`; defaults are the paper's (config/arch/trm.yaml
    of the authors' code)."""

    name: ClassVar[str] = "trm"
    _zero_allowed: ClassVar[tuple[str, ...]] = ("puzzle_emb_ndim", "puzzle_emb_len")

    # --- task-dependent ---------------------------------------------------------------
    vocab_size: int
    """Number of token ids (0 = pad). Sudoku 11, maze 6, ARC 12."""
    seq_len: int
    """Tokens per puzzle, excluding the puzzle-embedding prefix."""
    num_puzzle_identifiers: int = 1
    """Rows of the puzzle-embedding table (identifier 0 is the blank identifier)."""

    # --- architecture -------------------------------------------------------------------
    puzzle_emb_ndim: int = 512
    """Width of a puzzle embedding (the paper: hidden_size); 0 disables it."""
    puzzle_emb_len: int = 16
    """Prefix positions the puzzle embedding occupies, zero-padded (the paper: 16); 0 means
    ceil(puzzle_emb_ndim / hidden_size), as HRM. No prefix without a puzzle embedding."""
    hidden_size: int = 512
    """Width of y, z and the network."""
    num_heads: int = 8
    """Attention heads (mixer "attention"); head_dim = hidden_size // num_heads."""
    expansion: float = 4.0
    """SwiGLU expansion, for the channel MLP and the position MLP alike: inner size =
    round(expansion * width * 2/3) rounded up to a multiple of 256."""
    L_layers: int = 2
    """Blocks of the one network (the paper: 2; "less is more")."""
    H_cycles: int = 3
    """T: recursions per segment, each n latent updates and one answer update."""
    L_cycles: int = 6
    """n: latent updates z = net(z + y + x) per recursion (the paper: 6 for Sudoku, 4 for
    mazes and ARC)."""
    mixer: str = "attention"
    """How a block mixes positions: "attention" (self-attention) or "mlp" (a SwiGLU across
    the positions, for small fixed-size grids; the paper's Sudoku model)."""
    pos_encodings: str = "rope"
    """"rope", "learned" (a table of positions) or "none" (what the MLP mixer uses)."""
    rope_theta: float = 10000.0
    """RoPE base frequency."""
    rms_norm_eps: float = 1e-5
    """Epsilon of the weightless RMSNorm after every residual add."""
    gradient: str = "last-cycle"
    """Training only: which updates of a segment are backpropagated. "last-cycle" (the
    paper's): the whole last recursion, its n latent updates and the answer update;
    "one-step": the last latent and answer updates only (HRM's approximation);
    "full": all T recursions."""

    # --- adaptive computation time (ACT) ----------------------------------------------
    halt_max_steps: int = 16
    """N_sup: supervision steps (segments) a puzzle may run in training; the default
    evaluation budget."""
    halt_exploration_prob: float = 0.1
    """Training only: probability that a puzzle must run at least randint[2, max] segments."""
    halting: str = "halt-only"
    """How the Q head learns when to stop (as `HRMConfig.halting`). The paper's
    "halt-only": q_halt learns whether the answer is right and a puzzle halts once
    sigmoid(q_halt) > 0.5; "q-learning" adds HRM's continue target (an extra forward)."""

    # --- numerics -------------------------------------------------------------------------
    forward_dtype: str = "auto"
    """Activation dtype: "auto" = bfloat16 on CUDA, float32 elsewhere."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mixer not in MIXERS:
            raise ValueError(f"mixer must be one of {MIXERS}, got {self.mixer!r}")
        if self.pos_encodings not in POS_ENCODINGS:
            raise ValueError(f"pos_encodings must be one of {POS_ENCODINGS}, "
                             f"got {self.pos_encodings!r}")
        if self.mixer == "attention":
            if self.hidden_size % self.num_heads:
                raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of "
                                 f"num_heads {self.num_heads}")
            if self.pos_encodings == "rope" and self.head_dim % 2:
                raise ValueError(f"RoPE needs an even head_dim, got {self.head_dim}")
        elif self.pos_encodings == "rope":
            raise ValueError('the MLP mixer has no attention to rotate: use pos_encodings '
                             '"none" or "learned"')
        if self.puzzle_emb_len and self.puzzle_emb_len * self.hidden_size < self.puzzle_emb_ndim:
            raise ValueError(f"puzzle_emb_len {self.puzzle_emb_len} x hidden_size "
                             f"{self.hidden_size} cannot hold puzzle_emb_ndim "
                             f"{self.puzzle_emb_ndim}")

    # --- derived sizes ----------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def prefix_len(self) -> int:
        """Positions the puzzle embedding occupies before the tokens."""
        if self.puzzle_emb_ndim == 0:
            return 0
        return self.puzzle_emb_len or -(-self.puzzle_emb_ndim // self.hidden_size)

    @property
    def total_len(self) -> int:
        """Positions the network sees: puzzle-embedding prefix + tokens."""
        return self.seq_len + self.prefix_len


@dataclass
class TRMMLPConfig(TRMConfig):
    """TRM with the MLP mixer: the paper's Sudoku model (TRM-MLP), as its own name."""

    name: ClassVar[str] = "trm-mlp"
    mixer: str = "mlp"
    pos_encodings: str = "none"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mixer != "mlp":
            raise ValueError(f"trm-mlp mixes positions with an MLP; mixer {self.mixer!r} "
                             "is the trm architecture")


_PAPER = dict(hidden_size=512, num_heads=8, expansion=4.0, L_layers=2, H_cycles=3,
              L_cycles=6, puzzle_emb_ndim=512, puzzle_emb_len=16, halt_max_steps=16,
              halt_exploration_prob=0.1)
TRMConfig.presets = {
    # The paper's TRM-Att (config/arch/trm.yaml): ~7M parameters.
    "paper": dict(_PAPER, mixer="attention", pos_encodings="rope"),
    # Half the width: quick single-GPU and CPU experiments, the same recursion.
    "small": dict(_PAPER, hidden_size=256, num_heads=4, puzzle_emb_ndim=256),
    # Tests and smoke runs: every code path, a few thousand FLOPs per token.
    "tiny": dict(hidden_size=32, num_heads=2, expansion=2.0, L_layers=2, H_cycles=2,
                 L_cycles=2, puzzle_emb_ndim=32, puzzle_emb_len=2, halt_max_steps=4,
                 halt_exploration_prob=0.1, mixer="attention", pos_encodings="rope"),
}
TRMMLPConfig.presets = {
    name: dict(fields, mixer="mlp", pos_encodings="none")
    for name, fields in TRMConfig.presets.items()
}


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
