"""Building blocks and the original's initialisation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from model_helpers import tiny_config

from hrm.model import HRM
from hrm.model.layers import (
    Attention,
    CastedLinear,
    RotaryEmbedding,
    apply_rope,
    rms_norm,
    trunc_normal_,
)

# For a normal truncated at +-2 sigma the corrected scale is std / 0.87962.
TRUNC_SCALE = 1 / math.sqrt(1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(math.sqrt(2)))


@pytest.mark.parametrize("std", [1.0, 0.05])
def test_trunc_normal_has_the_requested_std_and_bounds(std):
    torch.manual_seed(0)
    t = trunc_normal_(torch.empty(400_000), std=std)
    assert t.std().item() == pytest.approx(std, rel=0.01)  # unlike torch.nn.init's version
    assert t.mean().item() == pytest.approx(0, abs=0.01 * std)
    bound = 2 * std * TRUNC_SCALE
    assert t.abs().max().item() <= bound * (1 + 1e-6)
    assert t.abs().max().item() > 0.99 * bound  # the tails do reach the bound
    assert torch.all(trunc_normal_(torch.ones(10), std=0) == 0)


def test_linear_init_is_truncated_lecun_normal_with_zero_bias():
    torch.manual_seed(0)
    layer = CastedLinear(256, 1024, bias=True)
    assert layer.weight.std().item() == pytest.approx(1 / 16, rel=0.02)
    assert layer.weight.abs().max().item() <= 2 / 16 * TRUNC_SCALE * (1 + 1e-6)
    assert torch.all(layer.bias == 0)


def test_model_init_stds_and_q_head():
    torch.manual_seed(0)
    model = HRM(tiny_config(hidden_size=64, num_heads=4, pos_encodings="learned",
                            vocab_size=512))
    hidden = 64
    assert model.embed_tokens.embedding_weight.std().item() == pytest.approx(
        1 / math.sqrt(hidden), rel=0.05)
    assert model.embed_pos.embedding_weight.std().item() == pytest.approx(
        1 / math.sqrt(hidden), rel=0.05)
    qkv = model.L_level.layers[0].self_attn.qkv_proj.weight
    assert qkv.std().item() == pytest.approx(1 / math.sqrt(hidden), rel=0.05)
    down = model.L_level.layers[0].mlp.down_proj.weight  # fan_in = inner size 256
    assert down.std().item() == pytest.approx(1 / 16, rel=0.05)
    # Q head: weight 0 and bias -5, so a fresh model predicts "don't halt" confidently low.
    assert torch.all(model.q_head.weight == 0)
    assert torch.all(model.q_head.bias == -5)
    # Puzzle embeddings start at zero; the initial states are random unit-scale vectors.
    assert torch.all(model.puzzle_emb.weights == 0)
    assert model.H_init.shape == (hidden,) and model.H_init.std().item() > 0.5
    assert not torch.equal(model.H_init, model.L_init)


def test_rms_norm_normalises_in_float32_without_weights():
    x = torch.randn(3, 5, 64) * 7
    y = rms_norm(x, 1e-5)
    assert torch.allclose(y.square().mean(-1), torch.ones(3, 5), atol=1e-4)
    yb = rms_norm(x.bfloat16(), 1e-5)
    assert yb.dtype == torch.bfloat16
    assert torch.allclose(yb.float(), y, atol=2e-2)


def test_rope_is_a_rotation_that_makes_scores_relative():
    rope = RotaryEmbedding(head_dim=8, max_positions=10, theta=10000.0)
    cos, sin = rope()
    assert cos.shape == (10, 8)
    q = torch.randn(1, 10, 2, 8)
    k = torch.randn(1, 10, 2, 8)
    rq, _rk = apply_rope(q, k, cos, sin)
    assert torch.allclose(rq.norm(dim=-1), q.norm(dim=-1), atol=1e-5)  # norm preserved
    assert torch.allclose(rq[:, 0], q[:, 0])  # position 0 is not rotated
    # The same vectors at positions (i, j) and (i + 3, j + 3) give the same score.
    same_q = q[:, :1].expand(1, 10, 2, 8)
    same_k = k[:, :1].expand(1, 10, 2, 8)
    aq, ak = apply_rope(same_q.contiguous(), same_k.contiguous(), cos, sin)
    s1 = (aq[0, 2] * ak[0, 0]).sum(-1)
    s2 = (aq[0, 5] * ak[0, 3]).sum(-1)
    assert torch.allclose(s1, s2, atol=1e-5)
    # Rotate-half layout: dims i and i + 4 rotate together at frequency theta^(-2i/8).
    angle = 1 * 10000.0 ** (-2 * 1 / 8)
    assert cos[1, 1].item() == pytest.approx(math.cos(angle), rel=1e-6)
    assert cos[1, 5].item() == pytest.approx(math.cos(angle), rel=1e-6)


def test_attention_is_bidirectional_and_matches_a_plain_computation():
    torch.manual_seed(0)
    attn = Attention(hidden_size=16, num_heads=2)
    x = torch.randn(2, 5, 16)
    out = attn(x, None)
    # Explicit: fused qkv (q heads, k heads, v heads), softmax(QK^T / sqrt(d)) V, o_proj.
    q, k, v = (x @ attn.qkv_proj.weight.T).view(2, 5, 3, 2, 8).unbind(2)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)
    expected = (weights @ v).transpose(1, 2).reshape(2, 5, 16) @ attn.o_proj.weight.T
    assert torch.allclose(out, expected, atol=1e-5)
    # Changing the last token changes the first token's output: not causal.
    x2 = x.clone()
    x2[:, -1] += 1
    assert not torch.allclose(attn(x2, None)[:, 0], out[:, 0])


def test_half_precision_attention_on_cpu_keeps_its_dtype_and_gradients():
    torch.manual_seed(0)
    attn = Attention(hidden_size=16, num_heads=2)
    x = torch.randn(2, 5, 16)
    reference = attn(x, None)
    half = x.to(torch.bfloat16).requires_grad_()
    out = attn(half, None)  # weights are cast per use, as in the model
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.float(), reference, atol=0.05)
    out.float().sum().backward()
    assert half.grad is not None and half.grad.dtype == torch.bfloat16
    assert attn.qkv_proj.weight.grad is not None


def test_swiglu_gate_half_comes_first():
    torch.manual_seed(0)
    model = HRM(tiny_config())
    mlp = model.L_level.layers[0].mlp
    x = torch.randn(4, 32)
    w = mlp.gate_up_proj.weight
    inner = model.config.mlp_inner_size
    expected = (F.silu(x @ w[:inner].T) * (x @ w[inner:].T)) @ mlp.down_proj.weight.T
    assert torch.allclose(mlp(x), expected, atol=1e-5)
