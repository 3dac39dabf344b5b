"""The inference rollout shared by solve, eval and the TUI."""

from __future__ import annotations

import pytest
import torch
from model_helpers import random_batch, tiny_model

from hrm.model import compile_model


def _batch_sizes(model) -> list[int]:
    """Record the batch size of every L-level call (4 per segment in the tiny preset)."""
    sizes: list[int] = []
    model.L_level.register_forward_hook(lambda m, args, out: sizes.append(out.shape[0]))
    return sizes


def test_max_mode_runs_every_segment_like_the_original_evaluation():
    model = tiny_model()
    batch = random_batch(model.config, 5)
    steps = list(model.rollout(batch["inputs"], batch["puzzle_identifiers"], halt="max"))
    assert [s.segment for s in steps] == [0, 1, 2, 3]  # halt_max_steps of the tiny preset
    for i, s in enumerate(steps):
        assert s.steps.tolist() == [i + 1] * 5
        assert s.active.all()
        assert s.halted.all() == (i == 3) and s.halted.any() == (i == 3)

    # Same numbers as the ACT forward in eval mode (the original's evaluation loop).
    model.eval()
    carry = model.initial_carry(batch)
    with torch.no_grad():
        for s in steps:
            carry, out = model(carry, batch)
            assert torch.allclose(s.logits, out["logits"], atol=1e-6)
            assert torch.allclose(s.q_halt_logits, out["q_halt_logits"], atol=1e-6)
            assert torch.allclose(s.q_continue_logits, out["q_continue_logits"], atol=1e-6)
            assert torch.equal(s.halted, carry.halted)
            assert torch.equal(s.steps, carry.steps)


def test_max_segments_can_exceed_the_trained_budget():
    model = tiny_model()
    batch = random_batch(model.config, 3)
    default = list(model.rollout(batch["inputs"], batch["puzzle_identifiers"]))
    longer = list(model.rollout(batch["inputs"], batch["puzzle_identifiers"], max_segments=7))
    assert len(default) == 4 and len(longer) == 7
    assert longer[-1].steps.tolist() == [7, 7, 7]
    assert not longer[3].halted.any() and longer[6].halted.all()
    for a, b in zip(default, longer, strict=False):
        assert torch.equal(a.logits, b.logits)
    # The state keeps evolving past the trained budget.
    assert not torch.equal(longer[6].logits, longer[3].logits)
    assert len(list(model.rollout(batch["inputs"], max_segments=1))) == 1
    with pytest.raises(ValueError):
        next(model.rollout(batch["inputs"], max_segments=0))


def test_adaptive_halting_shrinks_the_computed_batch():
    model = tiny_model(seed=3)
    batch = random_batch(model.config, 16, seed=3)
    inputs, ids = batch["inputs"], batch["puzzle_identifiers"]
    full = list(model.rollout(inputs, ids, halt="max", max_segments=8))

    sizes = _batch_sizes(model)
    steps = list(model.rollout(inputs, ids, halt="adaptive", max_segments=8))

    # Each segment computed exactly the sequences that were still running ...
    computed = [sizes[4 * i] for i in range(len(steps))]
    assert sizes == [n for n in computed for _ in range(4)]
    assert computed == [int(s.active.sum()) for s in steps]
    assert computed[0] == 16
    assert computed == sorted(computed, reverse=True)
    assert computed[-1] < 16  # the batch really shrank
    assert sum(computed) < 16 * len(steps)

    previous_halted = torch.zeros(16, dtype=torch.bool)
    for s in steps:
        # A sequence halts when q_halt > q_continue, and never un-halts.
        decided = s.q_halt_logits > s.q_continue_logits
        assert torch.equal(s.halted & s.active, (decided | (s.segment == 7)) & s.active)
        assert torch.equal(s.active, ~previous_halted)
        assert torch.all(s.halted >= previous_halted)
        previous_halted = s.halted
    assert steps[-1].halted.all()  # the rollout ends when every sequence has stopped

    last = steps[-1]
    for b in range(16):
        n = int(last.steps[b])
        # The halted values are those of the sequence's last segment; the computation per
        # sequence is the same as in a full-batch rollout.
        assert torch.allclose(last.logits[b], full[n - 1].logits[b], atol=1e-5)
        assert torch.allclose(last.q_halt_logits[b], full[n - 1].q_halt_logits[b], atol=1e-5)
        assert bool(full[n - 1].q_halt_logits[b] > full[n - 1].q_continue_logits[b]) or n == 8


def test_records_are_snapshots():
    model = tiny_model()
    batch = random_batch(model.config, 2)
    rollout = model.rollout(batch["inputs"], batch["puzzle_identifiers"])
    first = next(rollout)
    kept = first.logits.clone(), first.steps.clone()
    list(rollout)
    assert torch.equal(first.logits, kept[0]) and torch.equal(first.steps, kept[1])


def test_rollout_runs_without_autograd_in_any_mode():
    model = tiny_model().train()
    batch = random_batch(model.config, 2)
    steps = list(model.rollout(batch["inputs"], batch["puzzle_identifiers"]))
    assert not steps[0].logits.requires_grad
    assert steps[0].logits.is_inference()
    assert model.puzzle_emb.local_weights is None  # no training rows were taken
    eval_steps = list(model.eval().rollout(batch["inputs"], batch["puzzle_identifiers"]))
    assert torch.equal(steps[-1].logits, eval_steps[-1].logits)


def test_missing_puzzle_identifiers_default_to_the_blank_identifier():
    model = tiny_model()
    batch = random_batch(model.config, 2)
    a = list(model.rollout(batch["inputs"]))[-1]
    b = list(model.rollout(batch["inputs"], torch.zeros(2, dtype=torch.long)))[-1]
    assert torch.equal(a.logits, b.logits)
    assert torch.equal(a.predictions, a.logits.argmax(-1))


def test_compile_helper_keeps_outputs_and_parameter_names():
    model = tiny_model()
    batch = random_batch(model.config, 2)
    expected = list(model.rollout(batch["inputs"], batch["puzzle_identifiers"]))[-1]
    names = list(model.state_dict())
    compile_model(model, backend="eager")  # wiring only: inductor is too slow for a unit test
    got = list(model.rollout(batch["inputs"], batch["puzzle_identifiers"]))[-1]
    assert torch.allclose(got.logits, expected.logits, atol=1e-6)
    assert list(model.state_dict()) == names


def _staggered_model(arch: str, inputs: torch.Tensor, ids: torch.Tensor):
    """A tiny `arch` model whose random halting head stops the rows at different segments
    (the first of a few seeds that does)."""
    from hrm.model.architectures import build_model, config_from_preset

    for seed in range(10):
        torch.manual_seed(seed)
        config = config_from_preset(arch, "tiny", vocab_size=11, seq_len=81,
                                    num_puzzle_identifiers=5)
        model = build_model(config).eval()
        with torch.no_grad():
            model.q_head.weight.normal_(0, 0.5 if arch != "grid-hrm" else 20.0)
            model.q_head.bias.normal_()
        last = list(model.rollout(inputs, ids, halt="adaptive", max_segments=6))[-1]
        if len(set(last.steps.tolist())) > 1:
            return model
    raise AssertionError(f"no seed staggers {arch}'s halting")


@pytest.mark.parametrize("arch", ["hrm", "trm", "grid-hrm"])
def test_latent_change_is_how_far_each_positions_z_L_moved(arch):
    batch = random_batch(tiny_model().config, 6, seed=1)
    inputs, ids = batch["inputs"], batch["puzzle_identifiers"]
    model = _staggered_model(arch, inputs, ids)
    steps = list(model.rollout(inputs, ids, halt="adaptive", max_segments=6, latent=True))

    with torch.inference_mode():
        z_H, z_L = model.initial_state(6, 81)
        expected = []
        for _ in steps:
            out = model.segment(z_H, z_L, inputs, ids)
            moved = (out.z_L - z_L).square().mean(-1).sqrt()
            expected.append(moved[:, moved.shape[1] - 81:])  # past any puzzle-embedding prefix
            z_H, z_L = out.z_H, out.z_L
    for step in steps:
        assert step.latent_change is not None and step.latent_change.shape == (6, 81)
        for row in range(6):
            # A row reports its own segment while it runs, its last one after it stops.
            last = min(step.segment, int(step.steps[row]) - 1)
            torch.testing.assert_close(step.latent_change[row], expected[last][row],
                                       atol=1e-5, rtol=1e-4)
    assert float(steps[0].latent_change.min()) > 0
    assert all(s.latent_change is None for s in model.rollout(inputs, ids, max_segments=2))


def test_accept_lets_a_row_halt_only_on_tokens_it_takes():
    model = tiny_model(seed=3)
    batch = random_batch(model.config, 16, seed=3)
    inputs, ids = batch["inputs"], batch["puzzle_identifiers"]
    adaptive = list(model.rollout(inputs, ids, halt="adaptive", max_segments=8))[-1].steps
    assert len(set(adaptive.tolist())) > 1 and int(adaptive.min()) < 8

    asked: list[tuple[int, int]] = []
    refused = set(range(0, 16, 2))  # even rows never get their answer taken

    def accept(row, tokens):
        assert tokens.shape == (model.config.seq_len,)
        asked.append((row, len(asked)))
        return row not in refused

    steps = list(model.rollout(inputs, ids, halt="adaptive", max_segments=8, accept=accept))
    last = steps[-1].steps
    for row in range(16):
        # a refused row runs to its budget; a taken one stops where the Q head said
        assert int(last[row]) == (8 if row in refused else int(adaptive[row]))
    # asked only when the Q head wanted to stop before the budget
    assert {row for row, _ in asked} == {r for r in range(16) if int(adaptive[r]) < 8}
    every = list(model.rollout(inputs, ids, halt="adaptive", max_segments=8,
                               accept=lambda row, tokens: True))[-1].steps
    assert torch.equal(every, adaptive)
