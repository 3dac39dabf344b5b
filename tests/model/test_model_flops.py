"""Training-step FLOPs as torch counts them, against a formula written out here."""

from __future__ import annotations

import dataclasses

import pytest
from model_helpers import tiny_config

from hrm.model.architectures import config_from_preset
from hrm.model.config import HRMConfig
from hrm.model.flops import segment_flops, training_step_flops


def hrm_formula(config: HRMConfig, batch: int) -> int:
    """An HRM training step by hand: every matmul twice per multiply-add; attention's
    backward counted as 2.5x its forward (it recomputes the scores, as FlashAttention)."""
    h, i, v = config.hidden_size, config.mlp_inner_size, config.vocab_size
    n = config.total_len
    tokens = batch * n
    projections = 2 * tokens * (3 * h * h + h * h + 2 * h * i + i * h)
    attention = 2 * 2 * batch * n * n * h
    heads = 2 * tokens * h * v + 2 * batch * h * 2
    updates = config.H_cycles * config.L_cycles * config.L_layers \
        + config.H_cycles * config.H_layers
    tracked = {"one-step": config.L_layers + config.H_layers,
               "full": updates}[config.gradient]
    forward = updates * (projections + attention) + heads
    backward = tracked * (2 * projections + 2.5 * attention) + 2 * heads
    q_target = forward if config.halting == "q-learning" else 0
    return int(forward + backward + q_target)


@pytest.mark.parametrize("gradient", ["one-step", "full"])
@pytest.mark.parametrize("halting", ["q-learning", "halt-only"])
def test_hrm_step_matches_the_formula(gradient: str, halting: str) -> None:
    config = tiny_config(gradient=gradient, halting=halting)
    assert training_step_flops(config, 4) == hrm_formula(config, 4)


def test_an_inference_segment_is_the_training_forward() -> None:
    config = tiny_config(halting="halt-only")
    h, i, v, n = config.hidden_size, config.mlp_inner_size, config.vocab_size, config.total_len
    blocks = config.H_cycles * config.L_cycles * config.L_layers \
        + config.H_cycles * config.H_layers
    block = 2 * n * (4 * h * h + 3 * h * i) + 4 * n * n * h
    assert segment_flops(config, 3) == 3 * (blocks * block + 2 * n * h * v + 2 * h * 2)


def test_flops_grow_with_batch_and_tracked_updates() -> None:
    config = config_from_preset("trm", "tiny", vocab_size=11, seq_len=81,
                                num_puzzle_identifiers=1)
    one = training_step_flops(config, 2)
    assert training_step_flops(config, 4) == 2 * one
    full = training_step_flops(dataclasses.replace(config, gradient="full"), 2)
    assert full > one


def test_grid_model_costs_grow_with_cells_not_their_square() -> None:
    config = config_from_preset("grid-hrm", "tiny", vocab_size=6, seq_len=8 * 8)
    cost = {side: training_step_flops(dataclasses.replace(config, seq_len=side * side), 2)
            for side in (8, 16, 24)}
    # a * cells + b: the per-grid part (the Q head on pooled state) does not grow.
    per_cell = (cost[16] - cost[8]) / (16**2 - 8**2)
    assert (cost[24] - cost[16]) / (24**2 - 16**2) == per_cell
    assert 0 < cost[8] - per_cell * 8**2 < 0.01 * cost[8]
