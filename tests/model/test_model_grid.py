"""The grid architecture: one set of weights for grids of any size, padding-invariant."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hrm.datasets import maze, maze_kinds
from hrm.model import HRM, load_bundle, save_bundle
from hrm.model.architectures import (
    ARCHITECTURES,
    build_model,
    config_from_dict,
    config_from_preset,
)
from hrm.model.config import GRID_MIXERS
from hrm.model.grid import GridHRM, GridHRMConfig


def grid_model(seed: int = 0, **overrides) -> GridHRM:
    torch.manual_seed(seed)
    config = GridHRMConfig.from_preset("tiny", vocab_size=maze.VOCAB_SIZE, seq_len=64,
                                       **overrides)
    model = GridHRM(config)
    with torch.no_grad():  # a random Q head, so that wrong pooling shows in q
        model.q_head.weight.normal_(0, 0.5)
    return model.eval()


def padded(grid: np.ndarray, side: int) -> torch.Tensor:
    tokens = np.zeros((side, side), dtype=np.int64)
    tokens[: grid.shape[0], : grid.shape[1]] = grid + 1
    return torch.from_numpy(tokens.reshape(1, -1))


def last_step(model: GridHRM, inputs: torch.Tensor, segments: int = 3):
    *_, step = model.rollout(inputs, halt="max", max_segments=segments)
    return step


@pytest.mark.parametrize("mixer", GRID_MIXERS)
def test_padding_does_not_change_the_answer(mixer):
    model = grid_model(mixer=mixer)
    puzzle, _ = maze_kinds.make("walls", 7, 5, seed=0, index=0)
    small, large = last_step(model, padded(puzzle, 7)), last_step(model, padded(puzzle, 13))
    small_logits = small.logits.view(7, 7, -1)[:7, :5]
    large_logits = large.logits.view(13, 13, -1)[:7, :5]
    torch.testing.assert_close(large_logits, small_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(large.q_halt_logits, small.q_halt_logits, atol=1e-5, rtol=1e-5)
    # Outside the maze nothing is computed: those logits are the head's bias-free zero.
    assert torch.all(large.logits.view(13, 13, -1)[7:] == 0)


def test_one_model_runs_any_square_size_and_refuses_others():
    model = grid_model()
    for side in (3, 8, 21):
        inputs = torch.randint(1, maze.VOCAB_SIZE, (2, side * side))
        assert last_step(model, inputs, 1).logits.shape == (2, side * side, maze.VOCAB_SIZE)
    with pytest.raises(ValueError, match="side \\* side"):
        next(model.rollout(torch.ones(1, 10, dtype=torch.long)))


@pytest.mark.parametrize("mixer", GRID_MIXERS)
def test_information_travels_one_cell_per_block(mixer):
    model = grid_model(mixer=mixer)
    cfg = model.config
    reach = cfg.cells_per_segment  # H_cycles * (L_cycles * L_layers + H_layers)
    side = 2 * reach + 3
    base = torch.full((1, side * side), 2, dtype=torch.long)  # all open
    poked = base.clone()
    poked[0, 0] = 1  # a wall in the corner
    a, b = last_step(model, base, 1), last_step(model, poked, 1)
    changed = (a.logits - b.logits).abs().amax(-1).view(side, side) > 0
    rows, cols = np.nonzero(changed.numpy())
    # 3x3 neighbourhoods: the farthest change is `reach` cells away, diagonals included.
    assert np.maximum(rows, cols).max() == reach


def test_architecture_table_builds_and_names_every_model(tmp_path):
    assert {"hrm", "grid-hrm"} <= set(ARCHITECTURES)
    grid = config_from_preset("grid-hrm", "tiny", vocab_size=6, seq_len=49)
    assert isinstance(build_model(grid), GridHRM)
    assert grid.to_dict()["name"] == "grid-hrm"
    assert config_from_dict(grid.to_dict()) == grid
    hrm = config_from_preset("hrm", "tiny", vocab_size=11, seq_len=81)
    unnamed = {k: v for k, v in hrm.to_dict().items() if k != "name"}
    assert isinstance(build_model(config_from_dict(unnamed)), HRM)  # bundles before names
    with pytest.raises(ValueError, match="unknown architecture 'hrm-v9'"):
        config_from_dict({**unnamed, "name": "hrm-v9"})
    with pytest.raises(ValueError, match="unknown config field"):
        config_from_dict({**grid.to_dict(), "num_key_value_heads": 2})


@pytest.mark.parametrize("mixer", GRID_MIXERS)
def test_grid_bundle_round_trip(tmp_path, mixer):
    model = grid_model(seed=3, mixer=mixer)
    folder = save_bundle(model, tmp_path / "grid", task={"name": "maze"})
    assert json.loads((folder / "config.json").read_text())["architecture"]["name"] == "grid-hrm"
    loaded, info = load_bundle(folder)
    assert isinstance(loaded, GridHRM) and info.config == model.config
    inputs = padded(maze_kinds.make("corridors", 9, 9, seed=0, index=1)[0], 9)
    torch.testing.assert_close(last_step(loaded, inputs).logits, last_step(model, inputs).logits,
                               atol=0, rtol=0)


def maze_batch(seed: int, count: int, low: int, high: int, side: int):
    rng = np.random.default_rng(seed)
    inputs = np.zeros((count, side, side), np.int64)
    labels = np.zeros_like(inputs)
    for i in range(count):
        h, w = (int(v) for v in rng.integers(low, high + 1, size=2))
        puzzle, answer = maze_kinds.make(maze_kinds.KINDS[i % 2], h, w, seed, i,
                                         min_path=(h + w) // 2)
        inputs[i, :h, :w], labels[i, :h, :w] = puzzle + 1, answer + 1
    return torch.from_numpy(inputs.reshape(count, -1)), torch.from_numpy(labels.reshape(count, -1))


def path_precision_recall(model: GridHRM, inputs, labels, side: int) -> tuple[float, float]:
    *_, last = model.eval().rollout(inputs, halt="max", max_segments=20)
    marked = last.predictions.view(-1, side, side).numpy() == maze.PATH + 1
    truth = labels.view(-1, side, side).numpy() == maze.PATH + 1
    hits = (marked & truth).sum()
    return hits / max(marked.sum(), 1), hits / truth.sum()


@pytest.mark.slow
def test_trained_on_small_mazes_it_finds_paths_in_larger_ones():
    from hrm.model import act_loss

    torch.manual_seed(0)
    config = GridHRMConfig(vocab_size=maze.VOCAB_SIZE, seq_len=64, hidden_size=32, H_layers=1,
                           L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=6)
    model = GridHRM(config)
    test_inputs, test_labels = maze_batch(99, 50, 11, 11, 11)
    on_path = (test_labels == maze.PATH + 1).sum() / (test_inputs == maze.OPEN + 1).sum()
    before = path_precision_recall(model, test_inputs, test_labels, 11)

    inputs, labels = maze_batch(0, 1000, 5, 7, 8)  # 5x5 to 7x7, padded to 8x8
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    model.train()
    carry, batch = None, 32
    for _ in range(400):
        rows = torch.randint(0, len(inputs), (batch,))
        data = {"inputs": inputs[rows], "labels": labels[rows],
                "puzzle_identifiers": torch.zeros(batch, dtype=torch.long)}
        carry = carry or model.initial_carry(data)
        carry, outputs = model(carry, data)
        target = carry.current_data["labels"].masked_fill(carry.current_data["labels"] == 0, -100)
        loss, _ = act_loss(outputs, target, carry.halted, carry.steps)
        (loss / batch).backward()
        optimizer.step()
        optimizer.zero_grad()

    # Chance: marking random open cells finds path cells at their share of the open cells.
    precision, recall = path_precision_recall(model, test_inputs, test_labels, 11)
    assert precision > 1.25 * float(on_path) and recall > 0.5, (precision, recall, on_path)
    assert not (before[0] > 1.25 * float(on_path) and before[1] > 0.5)  # untrained fails


def test_neighbourhood_attention_matches_the_definition():
    from hrm.model.grid import NeighbourhoodAttention

    torch.manual_seed(0)
    side, hidden, heads = 5, 8, 2
    attention = NeighbourhoodAttention(hidden, heads)
    with torch.no_grad():
        attention.offset_bias.normal_()
    x = torch.randn(2, side * side, hidden)
    mask = torch.ones(2, side, side, 1)
    mask[1, 3:, :] = 0  # the second grid is 3x5, padded to 5x5
    mask[1, :, 4:] = 0
    mask = mask.view(2, side * side, 1)
    got = attention(x, side, mask)

    # Written out cell by cell: softmax over the neighbours inside the grid of
    # q.k / sqrt(d) + the bias of the offset (dy, dx), numbered row by row from (-1, -1).
    q, k, v = attention.qkv(x).chunk(3, dim=-1)
    dim = hidden // heads
    inside = mask.view(2, side, side) > 0
    expected = torch.zeros(2, side * side, hidden)
    for b in range(2):
        for r in range(side):
            for c in range(side):
                cell = r * side + c
                for h in range(heads):
                    part = slice(h * dim, (h + 1) * dim)
                    scores, values = [], []
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            rr, cc = r + dy, c + dx
                            if not (0 <= rr < side and 0 <= cc < side and inside[b, rr, cc]):
                                continue
                            other = rr * side + cc
                            bias = attention.offset_bias[h, (dy + 1) * 3 + dx + 1]
                            scores.append(q[b, cell, part] @ k[b, other, part] / dim**0.5 + bias)
                            values.append(v[b, other, part])
                    if scores:
                        weights = torch.softmax(torch.stack(scores), dim=0)
                        expected[b, cell, part] = weights @ torch.stack(values)
    expected = attention.o_proj(expected)
    inside_cells = mask.view(2, -1) > 0
    torch.testing.assert_close(got[inside_cells], expected[inside_cells], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(got).all()  # padded cells with no neighbour inside stay finite
