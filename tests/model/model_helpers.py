"""Shared helpers for the hrm.model tests: tiny models and random batches.

A plain module (not conftest.py): test folders have no __init__.py, and every folder's
conftest.py is imported under the same name, so `from conftest import ...` is ambiguous.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hrm.model import HRM, HRMConfig

OFFICIAL_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "official-hrm" / "model"


def tiny_config(**overrides) -> HRMConfig:
    fields = dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=5)
    fields.update(overrides)
    return HRMConfig.from_preset("tiny", **fields)


def tiny_model(seed: int = 0, **overrides) -> HRM:
    torch.manual_seed(seed)
    model = HRM(tiny_config(**overrides))
    # Random puzzle embeddings and Q head, so that wrong wiring shows in the outputs
    # (both are zero/constant at init).
    with torch.no_grad():
        if model.puzzle_emb is not None:
            model.puzzle_emb.weights.normal_()
        model.q_head.weight.normal_(0, 0.5)
        model.q_head.bias.normal_()
    return model


def random_batch(config: HRMConfig, size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randint(1, config.vocab_size, (size, config.seq_len), generator=gen)
    labels = torch.randint(1, config.vocab_size, (size, config.seq_len), generator=gen)
    labels[:, :3] = -100  # some unlabelled positions
    ids = torch.randint(0, config.num_puzzle_identifiers, (size,), generator=gen)
    return {"inputs": inputs, "labels": labels, "puzzle_identifiers": ids}
