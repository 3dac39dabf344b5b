"""Transformer building blocks of HRM, with the original release's initialisation.

Weights are kept in float32 and cast to the activation dtype at each use ("casted"
layers), so one set of weights serves float32 on CPU and bfloat16 on GPU.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# (cos, sin) tables of shape (positions, head_dim), or None without RoPE.
RopeTables = tuple[torch.Tensor, torch.Tensor] | None


_draw_initial_values: ContextVar[bool] = ContextVar("draw_initial_values", default=True)


@contextmanager
def weights_to_be_loaded() -> Iterator[None]:
    """Build modules without drawing their initial values, left as `torch.empty` made them.

    For a model whose every weight a checkpoint is about to overwrite: drawing them costs
    about half of loading a shipped model, and far more with a large puzzle table.
    """
    token = _draw_initial_values.set(False)
    try:
        yield
    finally:
        _draw_initial_values.reset(token)


def trunc_normal_(tensor: torch.Tensor, std: float = 1.0, lower: float = -2.0,
                  upper: float = 2.0) -> torch.Tensor:
    """Fill `tensor` in place from a normal truncated at [lower, upper] standard deviations.

    Unlike `torch.nn.init.trunc_normal_`, the result has standard deviation `std`: the
    scale is corrected for the variance lost by truncation (JAX/Flax's default init, which
    the original follows). Sampled by inverting the CDF, so no rejection loop is needed.
    """
    if not _draw_initial_values.get():
        return tensor
    with torch.no_grad():
        if std == 0:
            return tensor.zero_()
        sqrt2 = math.sqrt(2.0)
        # CDF bounds in erf space: u ~ U(erf(a/√2), erf(b/√2)) then √2·erfinv(u) ~ N(0,1)|[a,b].
        lo, hi = math.erf(lower / sqrt2), math.erf(upper / sqrt2)
        mass = (hi - lo) / 2  # probability of [lower, upper] under N(0, 1)
        pdf_lower = math.exp(-0.5 * lower**2) / math.sqrt(2 * math.pi)
        pdf_upper = math.exp(-0.5 * upper**2) / math.sqrt(2 * math.pi)
        # Variance of the standard normal truncated to [lower, upper].
        variance = (1 + (lower * pdf_lower - upper * pdf_upper) / mass
                    - ((pdf_lower - pdf_upper) / mass) ** 2)
        scale = std / math.sqrt(variance)
        tensor.uniform_(lo, hi).erfinv_().mul_(sqrt2 * scale)
        # erfinv can overshoot by rounding at the interval ends.
        return tensor.clamp_(lower * scale, upper * scale)


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without a learned scale, computed in float32 whatever the input dtype."""
    dtype = x.dtype
    x = x.float()
    return (x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)).to(dtype)


class CastedLinear(nn.Module):
    """Linear layer with truncated LeCun-normal weights (std 1/sqrt(fan_in)), zero bias."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(
            trunc_normal_(torch.empty(out_features, in_features), std=in_features**-0.5)
        )
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, self.weight.to(x.dtype), bias)


class CastedEmbedding(nn.Module):
    """Embedding table with truncated-normal init; lookups come out in `dtype`."""

    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float):
        super().__init__()
        # Attribute name kept from the original so checkpoints map key for key.
        self.embedding_weight = nn.Parameter(
            trunc_normal_(torch.empty(num_embeddings, embedding_dim), std=init_std)
        )

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return F.embedding(ids, self.embedding_weight).to(dtype)


class RotaryEmbedding(nn.Module):
    """Precomputed RoPE tables in the rotate-half layout (theta as in the original)."""

    def __init__(self, head_dim: int, max_positions: int, theta: float):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        angles = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)
        # Rotate-half pairs dimension i with i + head_dim/2, so each frequency appears twice.
        angles = torch.cat((angles, angles), dim=-1)
        # Not persistent: derived from the config, never stored in checkpoints.
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos, self.sin


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rope(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor,
               sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate q and k of shape (batch, seq, heads, head_dim); done in float32 for accuracy."""
    dtype = q.dtype
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)  # broadcast over heads
    q, k = q.float(), k.float()
    q = q * cos + _rotate_half(q) * sin
    k = k * cos + _rotate_half(k) * sin
    return q.to(dtype), k.to(dtype)


class Attention(nn.Module):
    """Bidirectional multi-head self-attention with a fused QKV projection and no biases."""

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv_proj = CastedLinear(hidden_size, 3 * hidden_size, bias=False)
        self.o_proj = CastedLinear(hidden_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor, rope: RopeTables) -> torch.Tensor:
        batch, seq, hidden = x.shape
        # Fused layout along the output features: all query heads, then keys, then values.
        qkv = self.qkv_proj(x).view(batch, seq, 3 * self.num_heads, self.head_dim)
        q, k, v = qkv.split(self.num_heads, dim=2)
        if rope is not None:
            q, k = apply_rope(q, k, *rope)
        # SDPA wants (batch, heads, seq, head_dim). Puzzles are not sequences in time:
        # every position sees every other one (is_causal=False).
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        dtype = q.dtype
        if q.device.type == "cpu" and dtype in (torch.bfloat16, torch.float16):
            # PyTorch's CPU attention kernels are 2-4x slower in half precision than in
            # float32 at these sizes (benchmarks/bench_cpu_training.py); the matmuls
            # around them are what AMX speeds up.
            q, k, v = q.float(), k.float(), v.float()
        out = F.scaled_dot_product_attention(q, k, v, is_causal=False).to(dtype)
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, hidden))


class SwiGLU(nn.Module):
    """Gated MLP: down(silu(gate) * up), with gate and up fused (gate half first)."""

    def __init__(self, hidden_size: int, inner_size: int):
        super().__init__()
        self.gate_up_proj = CastedLinear(hidden_size, 2 * inner_size, bias=False)
        self.down_proj = CastedLinear(inner_size, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    """Post-norm transformer block: x = norm(x + attn(x)); x = norm(x + mlp(x)).

    Post-norm keeps the recurrent state's scale fixed however many times it is updated.
    """

    def __init__(self, hidden_size: int, num_heads: int, mlp_inner_size: int, eps: float):
        super().__init__()
        self.self_attn = Attention(hidden_size, num_heads)
        self.mlp = SwiGLU(hidden_size, mlp_inner_size)
        self.eps = eps

    def forward(self, x: torch.Tensor, rope: RopeTables) -> torch.Tensor:
        x = rms_norm(x + self.self_attn(x, rope), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)


class ReasoningLevel(nn.Module):
    """One recurrent module (H or L): add the injected input to the state, then the blocks.

    Every architecture's levels are one of these; `block_args` (RoPE tables, a grid's mask
    and side) go to each block as they are."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(blocks)

    def forward(self, state: torch.Tensor, injection: torch.Tensor, *block_args: Any,
                **block_kwargs: Any) -> torch.Tensor:
        x = state + injection
        for block in self.layers:
            x = block(x, *block_args, **block_kwargs)
        return x
