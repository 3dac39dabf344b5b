"""Grid HRM: HRM's recurrence with a local 2D token mixer, for grids of any size.

HRM mixes positions with global attention over a flattened, fixed-size canvas: vertical
neighbours sit `width` positions apart and positions are learned or rotary, so a model
trained on one size runs on that size only. Here each block mixes a cell with its 3x3
neighbourhood instead (a convolution over the 2D grid), with no position encoding at all,
so the same weights run on any grid: information moves one cell per block, and a larger
grid is solved by running more segments.

Everything else is HRM's: two levels H and L with their cycles, the input injected at
every L update, the one-step (or full) gradient, deep supervision and ACT with a Q head,
here over the state averaged across the grid's cells.

Inputs are square grids flattened row by row (`side * side` tokens, any side). Token 0
is padding: a smaller or non-square grid sits in the top-left corner of the square, and
padded cells are held at zero, so padding never changes the answer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hrm.model.act import ACTModel, SegmentOutput, halting_logits, hierarchical_recurrence
from hrm.model.config import GridHRMConfig
from hrm.model.layers import (
    CastedEmbedding,
    CastedLinear,
    ReasoningLevel,
    SwiGLU,
    rms_norm,
    trunc_normal_,
)


class GridMixer(nn.Module):
    """3x3 convolution over the grid, on (batch, cells, channels) states."""

    def __init__(self, hidden_size: int, depthwise: bool):
        super().__init__()
        groups = hidden_size if depthwise else 1
        fan_in = 9 * hidden_size // groups
        self.groups = groups
        self.weight = nn.Parameter(trunc_normal_(
            torch.empty(hidden_size, hidden_size // groups, 3, 3), std=fan_in**-0.5))

    def forward(self, x: torch.Tensor, side: int) -> torch.Tensor:
        batch, cells, hidden = x.shape
        grid = x.view(batch, side, side, hidden).permute(0, 3, 1, 2)
        out = F.conv2d(grid, self.weight.to(x.dtype), padding=1, groups=self.groups)
        return out.permute(0, 2, 3, 1).reshape(batch, cells, hidden)


class NeighbourhoodAttention(nn.Module):
    """Attention of each cell over its 3x3 neighbourhood (itself included), on
    (batch, cells, channels) states. Position enters only as a learned bias per head for
    each of the 9 relative offsets, so the weights fit grids of any size. Neighbours
    outside the grid (padding, or beyond the border) get no weight.

    The 9 neighbour products are element-wise, so `hrm.model.flops` counts only the
    projections: about 5% of the block's multiply-adds go uncounted."""

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv = CastedLinear(hidden_size, 3 * hidden_size, bias=False)
        self.o_proj = CastedLinear(hidden_size, hidden_size, bias=False)
        self.offset_bias = nn.Parameter(torch.zeros(num_heads, 9))

    def forward(self, x: torch.Tensor, side: int, mask: torch.Tensor) -> torch.Tensor:
        batch, cells, hidden = x.shape
        heads, dim = self.num_heads, self.head_dim
        q, k, v = self.qkv(x).view(batch, side, side, 3 * hidden).chunk(3, dim=-1)
        q = q.reshape(batch, side, side, heads, dim) * dim**-0.5
        # Each neighbour is a shifted view of the zero-padded grid: 9 strided views rather
        # than a 9x unfolded copy of k and v (5x faster on a CPU, the same numbers).
        k, v = F.pad(k, (0, 0, 1, 1, 1, 1)), F.pad(v, (0, 0, 1, 1, 1, 1))
        inside = F.pad(mask.view(batch, side, side), (1, 1, 1, 1)) > 0
        offsets = [(dy, dx) for dy in range(3) for dx in range(3)]  # (-1, -1) first
        scores = torch.stack(
            [(q * k[:, dy:dy + side, dx:dx + side].reshape(batch, side, side, heads, dim)
              ).sum(-1) for dy, dx in offsets], dim=-1).float()  # (batch, s, s, heads, 9)
        scores = scores + self.offset_bias.float()
        neighbour_inside = torch.stack([inside[:, dy:dy + side, dx:dx + side]
                                        for dy, dx in offsets], dim=-1)
        # The lowest float rather than -inf: a padded cell with no neighbour inside still
        # gets finite weights (its output is masked to zero anyway).
        scores = scores.masked_fill(~neighbour_inside[:, :, :, None, :],
                                    torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1).to(v.dtype)
        out = sum(weights[..., i, None]
                  * v[:, dy:dy + side, dx:dx + side].reshape(batch, side, side, heads, dim)
                  for i, (dy, dx) in enumerate(offsets))
        return self.o_proj(out.reshape(batch, cells, hidden))


class GridBlock(nn.Module):
    """Post-norm block: x = norm(x + mix(x)); x = norm(x + mlp(x)); cells outside stay 0."""

    def __init__(self, config: GridHRMConfig):
        super().__init__()
        self.attention = config.mixer == "natt3"
        self.mixer = (NeighbourhoodAttention(config.hidden_size, config.num_heads)
                      if self.attention else
                      GridMixer(config.hidden_size, depthwise=config.mixer == "dwconv3"))
        self.mlp = SwiGLU(config.hidden_size, config.mlp_inner_size)
        self.eps = config.rms_norm_eps

    def forward(self, x: torch.Tensor, mask: torch.Tensor, side: int) -> torch.Tensor:
        mixed = self.mixer(x, side, mask) if self.attention else self.mixer(x, side)
        x = rms_norm(x + mixed, self.eps) * mask
        return rms_norm(x + self.mlp(x), self.eps) * mask


class GridHRM(ACTModel):
    """HRM with 3x3 grid mixing: one set of weights for grids of any size."""

    any_size = True

    def __init__(self, config: GridHRMConfig):
        super().__init__()
        self.config = config
        hidden = config.hidden_size
        self.embed_scale = math.sqrt(hidden)
        self.embed_tokens = CastedEmbedding(config.vocab_size, hidden,
                                            init_std=1 / math.sqrt(hidden))
        self.lm_head = CastedLinear(hidden, config.vocab_size, bias=False)
        self.q_head = CastedLinear(hidden, 2, bias=True)
        self.puzzle_emb = None  # the training loop's sparse optimizer looks for one
        self.H_level = ReasoningLevel([GridBlock(config) for _ in range(config.H_layers)])
        self.L_level = ReasoningLevel([GridBlock(config) for _ in range(config.L_layers)])
        self.register_buffer("H_init", trunc_normal_(torch.empty(hidden), std=1.0))
        self.register_buffer("L_init", trunc_normal_(torch.empty(hidden), std=1.0))
        with torch.no_grad():  # as HRM: an almost constant halting policy at first
            self.q_head.weight.zero_()
            assert self.q_head.bias is not None
            self.q_head.bias.fill_(-5.0)

    def initial_state(self, batch_size: int,
                      seq_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (batch_size, seq_len or self.config.seq_len, self.config.hidden_size)
        dtype = self.forward_dtype
        return (self.H_init.to(dtype).expand(shape).clone(),
                self.L_init.to(dtype).expand(shape).clone())

    def takes_seq_len(self, seq_len: int) -> bool:
        return seq_len > 0 and math.isqrt(seq_len) ** 2 == seq_len

    def default_segments(self, seq_len: int) -> int:
        """The trained budget, scaled up with the grid's side beyond the training canvas's:
        information crosses a grid in a number of segments that grows with its side."""
        side, trained = math.isqrt(seq_len), math.isqrt(self.config.seq_len)
        return math.ceil(self.config.halt_max_steps * max(1.0, side / trained))

    def default_budgets(self, inputs: torch.Tensor) -> torch.Tensor:
        """Per grid, from its own extent in the batch's square (padding excluded)."""
        side = math.isqrt(inputs.shape[1])
        inside = (inputs != 0).view(-1, side, side)
        rows = inside.any(2).sum(1)
        cols = inside.any(1).sum(1)
        extent = torch.maximum(rows, cols).clamp(min=1)
        trained = math.isqrt(self.config.seq_len)
        scale = torch.clamp(extent.double() / trained, min=1.0)
        return torch.ceil(self.config.halt_max_steps * scale).long()

    def _segment_eager(self, z_H: torch.Tensor, z_L: torch.Tensor, inputs: torch.Tensor,
                       puzzle_identifiers: torch.Tensor) -> SegmentOutput:
        cfg = self.config
        side = math.isqrt(inputs.shape[-1])
        dtype = self.forward_dtype
        mask = (inputs != 0).unsqueeze(-1).to(dtype)
        x = self.embed_scale * self.embed_tokens(inputs.long(), dtype) * mask
        # Reset or carried states hold H_init/L_init on padded cells too: zero them, so
        # what lies outside the grid never reaches it.
        z_H, z_L = z_H * mask, z_L * mask
        z_H, z_L = hierarchical_recurrence(z_H, z_L, x, self.H_level, self.L_level,
                                           H_cycles=cfg.H_cycles, L_cycles=cfg.L_cycles,
                                           gradient=cfg.gradient, mask=mask, side=side)
        logits = self.lm_head(z_H)
        pooled = z_H.sum(1) / mask.sum(1).clamp(min=1)
        q = self.q_head(pooled).float()
        return SegmentOutput(z_H, z_L, logits, *halting_logits(q, cfg.halting))

    def expected_shape(self) -> str:
        return "(batch, side * side) for a grid model"
