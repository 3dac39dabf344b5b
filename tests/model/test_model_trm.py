"""TRM: the paper's equations, the authors' code (fixture), the table, bundles."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hrm.model import act_loss, load_bundle, save_bundle
from hrm.model.architectures import ARCHITECTURES, build_model, config_from_dict
from hrm.model.trm import (
    TRM,
    TRMConfig,
    TRMMLPConfig,
    config_from_official,
    state_dict_from_official,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "official-trm"
MIXERS = {"attention": TRMConfig, "mlp": TRMMLPConfig}


def trm_model(mixer: str = "attention", seed: int = 0, **overrides) -> TRM:
    torch.manual_seed(seed)
    fields = dict(vocab_size=6, seq_len=16, num_puzzle_identifiers=4, L_cycles=3)
    config = MIXERS[mixer].from_preset("tiny", **{**fields, **overrides})
    model = TRM(config)
    with torch.no_grad():  # zero/constant at init: randomise, so wrong wiring shows
        assert model.puzzle_emb is not None
        model.puzzle_emb.weights.normal_()
        model.q_head.weight.normal_(0, 0.5)
        model.q_head.bias.normal_()
    return model


# ----------------------------------------------------------------------------------------
# The paper's equations, written out independently of the model's modules
# ----------------------------------------------------------------------------------------


def _norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def _swiglu(x: torch.Tensor, gate_up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    inner = down.shape[1]
    h = x @ gate_up.T
    gate, up = h[..., :inner], h[..., inner:]
    return (gate * torch.sigmoid(gate) * up) @ down.T


def _rotate(t: torch.Tensor, positions: int, theta: float) -> torch.Tensor:
    """RoPE on (batch, positions, heads, dim): dimension i pairs with i + dim/2."""
    half = t.shape[-1] // 2
    freq = theta ** (-torch.arange(half, dtype=torch.float32) * 2 / t.shape[-1])
    angle = torch.arange(positions, dtype=torch.float32)[:, None] * freq  # (positions, half)
    cos, sin = angle.cos()[:, None, :], angle.sin()[:, None, :]
    a, b = t[..., :half], t[..., half:]
    return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)


def _attention(x: torch.Tensor, w: dict, prefix: str, heads: int, theta: float) -> torch.Tensor:
    batch, positions, hidden = x.shape
    d = hidden // heads
    qkv = (x @ w[prefix + "qkv_proj.weight"].T).view(batch, positions, 3, heads, d)
    q, k, v = (_rotate(qkv[:, :, i], positions, theta) if i < 2 else qkv[:, :, i]
               for i in range(3))
    scores = torch.einsum("bphd,bqhd->bhpq", q, k) / math.sqrt(d)
    out = torch.einsum("bhpq,bqhd->bphd", scores.softmax(-1), v).reshape(batch, positions, -1)
    return out @ w[prefix + "o_proj.weight"].T


def reference_net(h: torch.Tensor, w: dict, cfg: TRMConfig) -> torch.Tensor:
    """net(h): the two post-norm blocks, token mixing then a channel SwiGLU."""
    for layer in range(cfg.L_layers):
        p = f"L_level.layers.{layer}."
        if cfg.mixer == "attention":
            h = _norm(h + _attention(h, w, p + "self_attn.", cfg.num_heads, cfg.rope_theta),
                      cfg.rms_norm_eps)
        else:  # the MLP acts along the positions, and so does the norm after it
            t = h.transpose(1, 2)
            t = _norm(t + _swiglu(t, w[p + "mlp_t.gate_up_proj.weight"],
                                  w[p + "mlp_t.down_proj.weight"]), cfg.rms_norm_eps)
            h = t.transpose(1, 2)
        h = _norm(h + _swiglu(h, w[p + "mlp.gate_up_proj.weight"], w[p + "mlp.down_proj.weight"]),
                  cfg.rms_norm_eps)
    return h


def reference_segment(model: TRM, y: torch.Tensor, z: torch.Tensor, inputs: torch.Tensor,
                      ids: torch.Tensor):
    """The paper's deep recursion: T-1 latent recursions without gradient, then one with.

        latent_recursion: n times z = net(x + y + z); then y = net(y + z)
        outputs: answer head on y (tokens only), halting head on y's first position
    """
    cfg = model.config
    w = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    hidden, prefix = cfg.hidden_size, cfg.prefix_len
    emb = w["embed_tokens.embedding_weight"][inputs]
    puzzle = buffers["puzzle_emb.weights"][ids]
    puzzle = torch.cat((puzzle, puzzle.new_zeros(len(ids), prefix * hidden - puzzle.shape[1])),
                       dim=1)
    x = math.sqrt(hidden) * torch.cat((puzzle.view(-1, prefix, hidden), emb), dim=1)

    def latent_recursion(y, z):
        for _ in range(cfg.L_cycles):
            z = reference_net(x + y + z, w, cfg)
        return reference_net(y + z, w, cfg), z

    with torch.no_grad():
        for _ in range(cfg.H_cycles - 1):
            y, z = latent_recursion(y, z)
    y, z = latent_recursion(y, z)
    logits = (y @ w["lm_head.weight"].T)[:, prefix:]
    q_halt = y[:, 0] @ w["q_head.weight"][0] + w["q_head.bias"][0]
    return y, z, logits, q_halt


@pytest.mark.parametrize("mixer", ["attention", "mlp"])
def test_segment_is_the_papers_deep_recursion_values_and_gradients(mixer):
    model = trm_model(mixer).train()
    gen = torch.Generator().manual_seed(3)
    inputs = torch.randint(1, 6, (3, 16), generator=gen)
    ids = torch.tensor([0, 3, 1])
    y0, z0 = model.initial_state(3)
    y0 = y0 + 0.3 * torch.randn(y0.shape, generator=gen)  # a carried, not a fresh, state
    target = torch.randn(3, 16, 6, generator=gen)

    out = model.segment(y0, z0, inputs, ids)
    y, z, logits, q_halt = reference_segment(model, y0, z0, inputs, ids)
    torch.testing.assert_close(out.z_H, y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.z_L, z, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.logits, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.q_halt_logits, q_halt, atol=1e-5, rtol=1e-5)
    assert torch.all(out.q_continue_logits == 0)  # halt-only: no continue value

    # Backpropagation runs through the last recursion only, as the paper's pseudocode.
    def grads(loss):
        model.zero_grad()
        loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}

    ours = grads((out.logits * target).sum() + out.q_halt_logits.sum())
    theirs = grads((logits * target).sum() + q_halt.sum())
    for name in ours:  # float32 sums in another order: agree to ~1e-6 of the largest
        scale = float(theirs[name].abs().max())
        torch.testing.assert_close(ours[name], theirs[name], atol=1e-5 * scale, rtol=1e-4,
                                   msg=name)
    # ... and not through all T of them: that gradient is a different one.
    full = trm_model(mixer, gradient="full").train()
    full.load_state_dict(model.state_dict())
    out_full = full.segment(y0, z0, inputs, ids)
    full.zero_grad()
    ((out_full.logits * target).sum() + out_full.q_halt_logits.sum()).backward()
    qkv = "L_level.layers.0." + ("self_attn.qkv_proj.weight" if mixer == "attention"
                                 else "mlp_t.gate_up_proj.weight")
    assert not torch.allclose(dict(full.named_parameters())[qkv].grad, ours[qkv])


# ----------------------------------------------------------------------------------------
# The authors' code
# ----------------------------------------------------------------------------------------


def official(variant: str) -> tuple[TRM, dict[str, np.ndarray], dict]:
    record = dict(np.load(FIXTURE / f"trm-{variant}.npz"))
    arch = json.loads(str(record["config"]))
    config = config_from_official(
        {k: v for k, v in arch.items()
         if k not in ("vocab_size", "seq_len", "num_puzzle_identifiers")},
        vocab_size=arch["vocab_size"], seq_len=arch["seq_len"],
        num_puzzle_identifiers=arch["num_puzzle_identifiers"])
    model = TRM(config)
    weights = {k.removeprefix("weights/"): torch.from_numpy(v) for k, v in record.items()
               if k.startswith("weights/")}
    model.load_state_dict(state_dict_from_official(weights), strict=True)
    return model, record, arch


def same(ours: torch.Tensor, theirs: np.ndarray, exact: bool) -> bool:
    """Bit for bit on a CPU of the fixture's capability. Elsewhere float32 kernels round
    differently, and the random weights amplify it about tenfold a segment (AVX2 against
    AVX-512, MLP variant: 1.3e-5 after one segment, 2.6e-4 of 2.5 in z after three), so
    the outputs must agree to 5e-4 of their largest value."""
    expected = torch.from_numpy(theirs)
    if exact:
        return torch.equal(ours, expected)
    scale = max(float(expected.abs().max()), 1.0)
    return torch.allclose(ours, expected, rtol=0, atol=5e-4 * scale)


@pytest.mark.parametrize("variant", ["attention", "mlp"])
def test_matches_the_authors_code_bit_for_bit(variant):
    model, record, arch = official(variant)
    assert model.config.name == ("trm" if variant == "attention" else "trm-mlp")
    inputs = torch.from_numpy(record["inputs"])
    ids = torch.from_numpy(record["puzzle_identifiers"])
    exact = str(record.get("cpu_capability")) == torch.backends.cpu.get_cpu_capability()

    # Their evaluation (every segment, no halting) against our rollout.
    model.eval()
    steps = list(model.rollout(inputs, ids, halt="max"))
    assert len(steps) == arch["halt_max_steps"]
    for step in steps:
        s = step.segment
        assert same(step.logits, record[f"eval/{s}/logits"], exact)
        assert same(step.q_halt_logits, record[f"eval/{s}/q_halt_logits"], exact)
    # The carried state after the last segment: y and z.
    y, z = model.initial_state(len(inputs))
    with torch.no_grad():
        for _ in steps:
            out = model.segment(y, z, inputs, ids)
            y, z = out.z_H, out.z_L
        assert same(y, record["eval/z_H"], exact)
        assert same(z, record["eval/z_L"], exact)
        # Their q_continue is the head's unused second output; ours reports 0 instead.
        raw = model.q_head(y[:, 0])[:, 1]
    assert same(raw, record[f"eval/{len(steps) - 1}/q_continue_logits"], exact)

    # One training step of their loss head: the loss and every gradient.
    model.train()
    batch = {"inputs": inputs, "labels": torch.from_numpy(record["labels"]),
             "puzzle_identifiers": ids}
    carry, outputs = model(model.initial_carry(batch), batch)
    assert "target_q_continue" not in outputs  # halt-only: no extra forward
    loss, metrics = act_loss(outputs, carry.current_data["labels"], carry.halted, carry.steps)
    loss.backward()
    assert loss.item() == pytest.approx(float(record["train/loss"]), rel=1e-6)
    assert metrics["lm_loss"].item() == pytest.approx(float(record["train/lm_loss"]), rel=1e-6)
    for name, param in model.named_parameters():
        expected = float(record[f"train/grad_norm/{name}"])
        norm = param.grad.double().norm().item()
        assert norm == pytest.approx(expected, rel=1e-5, abs=1e-9), name
    assert model.puzzle_emb is not None
    torch.testing.assert_close(model.puzzle_emb.batch_rows().grad,
                               torch.from_numpy(record["train/puzzle_emb_grad"]),
                               atol=1e-6, rtol=1e-5)


# ----------------------------------------------------------------------------------------
# Configs, presets, the table and bundles
# ----------------------------------------------------------------------------------------


def test_paper_presets_have_the_papers_sizes():
    att = build_model(TRMConfig.from_preset("paper", vocab_size=11, seq_len=81))
    mlp = build_model(TRMMLPConfig.from_preset("paper", vocab_size=11, seq_len=81))
    # The paper: TRM-Att 7M, TRM-MLP 5M parameters on Sudoku-Extreme.
    assert 6.5e6 < att.num_parameters() < 7.2e6
    assert 4.8e6 < mlp.num_parameters() < 5.3e6
    cfg = att.config
    assert (cfg.L_layers, cfg.H_cycles, cfg.L_cycles, cfg.halt_max_steps) == (2, 3, 6, 16)
    assert (cfg.hidden_size, cfg.puzzle_emb_len, cfg.total_len) == (512, 16, 97)
    assert (cfg.gradient, cfg.halting) == ("last-cycle", "halt-only")
    assert (mlp.config.mixer, mlp.config.pos_encodings) == ("mlp", "none")


def test_configs_reject_contradictions():
    base = dict(vocab_size=6, seq_len=16)
    with pytest.raises(ValueError, match="trm-mlp mixes positions with an MLP"):
        TRMMLPConfig(**base, mixer="attention")
    with pytest.raises(ValueError, match="no attention to rotate"):
        TRMConfig(**base, mixer="mlp", pos_encodings="rope")
    with pytest.raises(ValueError, match="cannot hold puzzle_emb_ndim"):
        TRMConfig(**base, puzzle_emb_ndim=600, puzzle_emb_len=1)
    with pytest.raises(ValueError, match="architecture 'trm' is not 'trm-mlp'"):
        TRMMLPConfig.from_dict(TRMConfig(**base).to_dict())
    # Without a puzzle embedding there is no prefix, whatever puzzle_emb_len says.
    assert TRMConfig(**base, puzzle_emb_ndim=0).total_len == 16


@pytest.mark.parametrize("mixer", ["attention", "mlp"])
def test_bundle_round_trip_keeps_name_and_outputs(mixer, tmp_path):
    model = trm_model(mixer).eval()
    name = model.config.name
    assert ARCHITECTURES[name].model is TRM
    assert config_from_dict(model.config.to_dict()) == model.config
    save_bundle(model, tmp_path / "b", task={"name": "sudoku"})
    assert json.loads((tmp_path / "b" / "config.json").read_text())["architecture"]["name"] \
        == name
    loaded, _ = load_bundle(tmp_path / "b")
    assert type(loaded) is TRM and loaded.config == model.config
    inputs = torch.randint(1, 6, (2, 16))
    a = list(model.rollout(inputs, halt="adaptive", max_segments=6))
    b = list(loaded.rollout(inputs, halt="adaptive", max_segments=6))
    assert len(a) == len(b)
    assert torch.equal(a[-1].logits, b[-1].logits) and torch.equal(a[-1].steps, b[-1].steps)


def test_the_cli_offers_every_architecture_of_the_table():
    from hrm_cli.train_cmd import train

    arch = next(p for p in train.params if p.name == "arch")
    assert list(arch.type.choices) == list(ARCHITECTURES)
