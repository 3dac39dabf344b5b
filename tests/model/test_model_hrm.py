"""The HRM module: embeddings, the one-step gradient, and the ACT training step."""

from __future__ import annotations

import math

import pytest
import torch
from model_helpers import random_batch, tiny_model

from hrm.model import HRM


@pytest.mark.parametrize(("task", "vocab", "seq_len"), [
    ("sudoku", 11, 81), ("maze", 6, 900), ("arc", 12, 900),
])
def test_shapes_for_each_task(task, vocab, seq_len):
    model = tiny_model(vocab_size=vocab, seq_len=seq_len)
    batch = random_batch(model.config, 2)
    step = next(model.rollout(batch["inputs"], batch["puzzle_identifiers"]))
    assert step.logits.shape == (2, seq_len, vocab)
    assert step.logits.dtype == torch.float32
    assert step.q_halt_logits.shape == step.q_continue_logits.shape == (2,)
    assert step.halted.shape == step.steps.shape == (2,)

    model.train()
    carry, outputs = model(model.initial_carry(batch), batch)
    assert carry.z_H.shape == carry.z_L.shape == (2, seq_len + 1, 32)
    assert outputs["logits"].shape == (2, seq_len, vocab)
    assert outputs["target_q_continue"].shape == (2,)


def test_input_embeddings_pad_a_multi_position_puzzle_embedding():
    # 80 values on hidden 32: ceil(80 / 32) = 3 prefix positions, the last half zeros.
    model = tiny_model(puzzle_emb_ndim=80)
    assert model.prefix_len == 3
    batch = random_batch(model.config, 2)
    x = model.input_embeddings(batch["inputs"], batch["puzzle_identifiers"])
    assert x.shape == (2, 84, 32)
    scale = math.sqrt(32)
    rows = model.puzzle_emb.weights[batch["puzzle_identifiers"]]
    padded = torch.cat((rows, torch.zeros(2, 16)), dim=1).view(2, 3, 32)
    assert torch.allclose(x[:, :3], scale * padded)
    tokens = model.embed_tokens.embedding_weight[batch["inputs"]]
    assert torch.allclose(x[:, 3:], scale * tokens)


def test_input_embeddings_with_learned_positions():
    model = tiny_model(pos_encodings="learned")
    assert model.rotary_emb is None and model.embed_pos is not None
    assert model.embed_pos.embedding_weight.shape == (82, 32)
    batch = random_batch(model.config, 2)
    x = model.input_embeddings(batch["inputs"], batch["puzzle_identifiers"])
    prefix = model.puzzle_emb.weights[batch["puzzle_identifiers"]].unsqueeze(1)
    tokens = model.embed_tokens.embedding_weight[batch["inputs"]]
    expected = torch.cat((prefix, tokens), 1) + model.embed_pos.embedding_weight
    assert torch.allclose(x, math.sqrt(32) * math.sqrt(0.5) * expected, atol=1e-6)


# ----------------------------------------------------------------------------------------
# One-step gradient
# ----------------------------------------------------------------------------------------
def _explicit_segment(model: HRM, batch, one_step: bool):
    """The tiny preset's segment (H_cycles = L_cycles = 2) unrolled by hand."""
    L, H = model.L_level, model.H_level
    rope = model.rotary_emb()
    x = model.input_embeddings(batch["inputs"], batch["puzzle_identifiers"])
    z_H, z_L = model.initial_state(x.shape[0])
    with torch.set_grad_enabled(not one_step):
        z_L = L(z_L, z_H + x, rope)  # cycle 1
        z_L = L(z_L, z_H + x, rope)
        z_H = H(z_H, z_L, rope)
        z_L = L(z_L, z_H + x, rope)  # cycle 2, first L update
    z_L = L(z_L, z_H + x, rope)  # the only updates with a graph
    z_H = H(z_H, z_L, rope)
    return model.lm_head(z_H)[:, 1:], model.q_head(z_H[:, 0])


def _loss(logits, q):
    return logits.square().mean() + q.sum()


def test_one_step_gradient_matches_an_explicit_computation():
    model = tiny_model().eval()  # eval: no exploration randomness, same gradient path
    batch = random_batch(model.config, 3)
    params = [p for p in model.parameters()]

    carry, outputs = model(model.initial_carry(batch), batch)
    q = torch.stack((outputs["q_halt_logits"], outputs["q_continue_logits"]), -1)
    got = torch.autograd.grad(_loss(outputs["logits"], q), params, allow_unused=True)

    logits, q_ref = _explicit_segment(model, batch, one_step=True)
    assert torch.allclose(outputs["logits"], logits, atol=1e-6)
    want = torch.autograd.grad(_loss(logits, q_ref), params, allow_unused=True)
    for p, g, w in zip(params, got, want, strict=True):
        assert (g is None) == (w is None)
        if g is not None:
            assert torch.allclose(g, w, atol=1e-6, rtol=1e-5), p.shape

    # Sanity: full backpropagation through all cycles gives a different gradient, so the
    # comparison above would catch a gradient leaking through the no-grad cycles.
    logits_bptt, q_bptt = _explicit_segment(model, batch, one_step=False)
    full = torch.autograd.grad(_loss(logits_bptt, q_bptt), params, allow_unused=True)
    assert any(not torch.allclose(g, f) for g, f in zip(got, full, strict=True)
               if g is not None)
    # The carry leaves the step detached (no backpropagation across segments).
    assert not carry.z_H.requires_grad and not carry.z_L.requires_grad


@pytest.mark.parametrize("gradient, tracked_L, tracked_H", [
    ("one-step", [False, False, False, True], [False, True]),
    ("last-cycle", [False, False, True, True], [False, True]),
    ("full", [True] * 4, [True] * 2),
])
def test_only_the_chosen_updates_build_a_graph(gradient, tracked_L, tracked_H):
    model = tiny_model(gradient=gradient).train()
    batch = random_batch(model.config, 2)
    record: dict[str, list[bool]] = {"H": [], "L": []}
    model.H_level.register_forward_hook(lambda m, a, out: record["H"].append(out.requires_grad))
    model.L_level.register_forward_hook(lambda m, a, out: record["L"].append(out.requires_grad))
    model(model.initial_carry(batch), batch)
    # 4 L and 2 H updates per segment; the second segment is the Q-target forward (no grad).
    assert record["L"] == tracked_L + [False] * 4
    assert record["H"] == tracked_H + [False] * 2


def test_full_gradient_matches_backpropagation_through_every_update():
    model = tiny_model(gradient="full").eval()
    batch = random_batch(model.config, 3)
    params = list(model.parameters())
    _, outputs = model(model.initial_carry(batch), batch)
    q = torch.stack((outputs["q_halt_logits"], outputs["q_continue_logits"]), -1)
    got = torch.autograd.grad(_loss(outputs["logits"], q), params, allow_unused=True)
    logits, q_ref = _explicit_segment(model, batch, one_step=False)
    want = torch.autograd.grad(_loss(logits, q_ref), params, allow_unused=True)
    for p, g, w in zip(params, got, want, strict=True):
        assert (g is None) == (w is None)
        if g is not None:
            assert torch.allclose(g, w, atol=1e-6, rtol=1e-5), p.shape


# ----------------------------------------------------------------------------------------
# The ACT step
# ----------------------------------------------------------------------------------------
def test_halted_slots_are_reset_and_reloaded():
    model = tiny_model().eval()
    first, second = random_batch(model.config, 4, seed=1), random_batch(model.config, 4, seed=2)
    carry, _ = model(model.initial_carry(first), first)
    assert carry.steps.tolist() == [1, 1, 1, 1]
    assert torch.equal(carry.current_data["inputs"], first["inputs"])

    carry.halted = torch.tensor([True, False, True, False])
    old_z_H, old_z_L = carry.z_H.clone(), carry.z_L.clone()
    new, outputs = model(carry, second)

    reset = carry.halted
    assert new.steps.tolist() == [1, 2, 1, 2]
    for key in ("inputs", "labels", "puzzle_identifiers"):
        assert torch.equal(new.current_data[key][reset], second[key][reset])
        assert torch.equal(new.current_data[key][~reset], first[key][~reset])
    # Reset slots start again from H_init/L_init on the new puzzle ...
    z_H, z_L = model.initial_state(2)
    fresh = model.segment(z_H, z_L, second["inputs"][reset],
                          second["puzzle_identifiers"][reset])
    assert torch.allclose(outputs["logits"][reset], fresh.logits, atol=1e-5)
    assert torch.allclose(new.z_H[reset], fresh.z_H, atol=1e-5)
    # ... the others continue from their carried state on the old puzzle.
    cont = model.segment(old_z_H[~reset], old_z_L[~reset], first["inputs"][~reset],
                         first["puzzle_identifiers"][~reset])
    assert torch.allclose(outputs["logits"][~reset], cont.logits, atol=1e-5)
    assert torch.allclose(new.z_L[~reset], cont.z_L, atol=1e-5)


def _halting_steps(model: HRM, batch, calls: int) -> list[int]:
    """Run `calls` ACT steps and return the step count of every slot when it halted."""
    carry = model.initial_carry(batch)
    halted_at: list[int] = []
    with torch.no_grad():
        for _ in range(calls):
            carry, _ = model(carry, batch)
            halted_at += carry.steps[carry.halted].tolist()
    return halted_at


def _set_q(model: HRM, halt: float, cont: float) -> None:
    with torch.no_grad():
        model.q_head.weight.zero_()
        model.q_head.bias.copy_(torch.tensor([halt, cont]))


def test_exploration_forces_between_2_and_max_segments():
    model = tiny_model(seq_len=9, halt_max_steps=5, halt_exploration_prob=1.0).train()
    _set_q(model, halt=5.0, cont=-5.0)  # the Q head always wants to halt
    batch = random_batch(model.config, 64)
    counts = _halting_steps(model, batch, calls=12)
    assert min(counts) >= 2 and max(counts) <= 5
    assert set(counts) == {2, 3, 4, 5}  # randint[2, max], every value reachable

    model.config.halt_exploration_prob = 0.0
    assert set(_halting_steps(model, batch, calls=3)) == {1}  # greedy: halt at once

    _set_q(model, halt=-5.0, cont=5.0)  # never wants to halt: stopped by halt_max_steps
    assert set(_halting_steps(model, batch, calls=10)) == {5}


def test_exploration_probability_is_respected():
    model = tiny_model(seq_len=9, halt_max_steps=4, halt_exploration_prob=0.25).train()
    _set_q(model, halt=5.0, cont=-5.0)
    batch = random_batch(model.config, 512)
    carry, _ = model(model.initial_carry(batch), batch)
    # Only exploring sequences (prob 0.25) survive the first step.
    assert (~carry.halted).float().mean().item() == pytest.approx(0.25, abs=0.06)


def test_evaluation_mode_always_runs_halt_max_steps():
    model = tiny_model(halt_max_steps=3).eval()
    _set_q(model, halt=5.0, cont=-5.0)
    batch = random_batch(model.config, 4)
    carry = model.initial_carry(batch)
    for expected in (1, 2, 3):
        carry, outputs = model(carry, batch)
        assert carry.steps.tolist() == [expected] * 4
        assert "target_q_continue" not in outputs
    assert carry.halted.all()


def test_q_continue_target_comes_from_the_next_segment():
    model = tiny_model(halt_max_steps=2, halt_exploration_prob=0.0).train()
    _set_q(model, halt=-5.0, cont=5.0)  # continue: the second call is every slot's last step
    batch = random_batch(model.config, 3)
    carry = model.initial_carry(batch)
    for is_last in (False, True):
        carry, outputs = model(carry, batch)
        with torch.no_grad():
            nxt = model.segment(carry.z_H, carry.z_L, batch["inputs"],
                                batch["puzzle_identifiers"])
        value = (nxt.q_halt_logits if is_last
                 else torch.maximum(nxt.q_halt_logits, nxt.q_continue_logits))
        assert torch.allclose(outputs["target_q_continue"], torch.sigmoid(value))
        assert not outputs["target_q_continue"].requires_grad
        assert carry.halted.all() == is_last


def test_sparse_puzzle_embedding_exposes_batch_rows_and_gradients():
    model = tiny_model().train()
    emb = model.puzzle_emb
    assert all(p is not emb.weights for p in model.parameters())
    assert "puzzle_emb.weights" in model.state_dict()
    batch = random_batch(model.config, 6)
    batch["puzzle_identifiers"] = torch.tensor([1, 3, 1, 0, 4, 2])

    _carry, outputs = model(model.initial_carry(batch), batch)  # includes the no-grad target
    rows = emb.batch_rows()
    assert rows.grad is None
    assert torch.equal(rows.ids, batch["puzzle_identifiers"])
    assert torch.equal(rows.weights, emb.weights[rows.ids])
    (outputs["logits"].square().mean() + outputs["q_halt_logits"].sum()).backward()
    rows = emb.batch_rows()
    assert rows.grad is not None and rows.grad.shape == (6, 32)
    assert torch.all(rows.grad.abs().sum(-1) > 0)  # one gradient row per sequence
    assert emb.weights.grad is None  # the table itself is outside autograd

    # Without grad (evaluation, inference) the table is read directly.
    emb.clear_batch_rows()
    model.eval()
    model(model.initial_carry(batch), batch)
    with pytest.raises(RuntimeError):
        emb.batch_rows()


def test_rollout_and_forward_refuse_a_wrong_sequence_length():
    model = tiny_model()
    with pytest.raises(ValueError, match="seq_len 81"):
        next(model.rollout(torch.ones(2, 80, dtype=torch.long)))
    with pytest.raises(ValueError, match="token ids"):
        next(model.rollout(torch.full((2, 81), 11)))
    with pytest.raises(ValueError, match="puzzle identifiers"):
        next(model.rollout(torch.ones(2, 81, dtype=torch.long), torch.tensor([0, 9])))


def test_halt_only_needs_no_extra_forward_and_halts_on_q_halt_alone():
    # The same weights under both rules: q_continue (logit 5) outvotes q_halt (logit 2) for
    # the paper's Q-learning, and is ignored (fixed at 0) under halt-only.
    calls = {}
    outcomes = {}
    for halting in ("q-learning", "halt-only"):
        model = tiny_model(halt_max_steps=4, halt_exploration_prob=0.0, halting=halting)
        _set_q(model, halt=2.0, cont=5.0)
        segment = model.segment
        calls[halting] = 0

        def counted(*args, segment=segment, halting=halting):
            calls[halting] += 1
            return segment(*args)

        model.segment = counted
        batch = random_batch(model.config, 3)
        carry, outputs = model.train()(model.initial_carry(batch), batch)
        outcomes[halting] = (carry.halted.tolist(), outputs)
        rollout = list(model.eval().rollout(batch["inputs"], batch["puzzle_identifiers"],
                                            halt="adaptive"))
        outcomes[halting] += (len(rollout),)

    assert calls == {"q-learning": 2 + 4, "halt-only": 1 + 1}  # training step + rollout
    halted, outputs, segments = outcomes["q-learning"]
    assert halted == [False] * 3 and "target_q_continue" in outputs and segments == 4
    halted, outputs, segments = outcomes["halt-only"]
    assert halted == [True] * 3 and segments == 1
    assert "target_q_continue" not in outputs
    assert torch.equal(outputs["q_continue_logits"], torch.zeros(3))
