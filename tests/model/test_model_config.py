"""HRMConfig: presets, derived sizes, validation and the paper's parameter count."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from hrm.model import HRM, PRESETS, HRMConfig
from hrm.model.config import CONFIGS


def test_paper_preset_has_exactly_the_papers_parameter_count():
    config = HRMConfig.from_preset("paper", vocab_size=11, seq_len=81, num_puzzle_identifiers=1)
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = HRM(config)
    # Excludes the puzzle-embedding table (a buffer, trained by its own sparse optimizer).
    assert model.num_parameters() == 27_275_266
    assert sum(p.numel() for p in model.parameters()) == 27_275_266
    assert config.mlp_inner_size == 1536
    assert model.puzzle_emb is not None
    assert model.puzzle_emb.weights.shape == (1, 512)


def test_paper_preset_matches_the_original_arch_yaml():
    paper = PRESETS["paper"]
    assert paper["hidden_size"] == 512 and paper["num_heads"] == 8
    assert paper["expansion"] == 4 and paper["puzzle_emb_ndim"] == 512
    assert (paper["H_layers"], paper["L_layers"]) == (4, 4)
    assert (paper["H_cycles"], paper["L_cycles"]) == (2, 2)
    assert paper["halt_max_steps"] == 16 and paper["halt_exploration_prob"] == 0.1
    assert paper["pos_encodings"] == "rope"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_a_valid_config(name):
    config = HRMConfig.from_preset(name, vocab_size=12, seq_len=900)
    assert config.puzzle_emb_len == 1
    assert config.total_len == 901


def test_derived_sizes():
    config = HRMConfig(vocab_size=11, seq_len=81, hidden_size=64, num_heads=4,
                       puzzle_emb_ndim=100)
    assert config.head_dim == 16
    assert config.puzzle_emb_len == 2  # ceil(100 / 64)
    assert config.total_len == 83
    assert HRMConfig(vocab_size=11, seq_len=81, puzzle_emb_ndim=0).puzzle_emb_len == 0
    # round(4 * 64 * 2/3) = 171 -> next multiple of 256
    assert config.mlp_inner_size == 256
    assert HRMConfig(vocab_size=11, seq_len=81, hidden_size=1024).mlp_inner_size == 2816


def test_dict_round_trip_and_validation():
    config = HRMConfig.from_preset("small", vocab_size=6, seq_len=900, num_puzzle_identifiers=3)
    assert HRMConfig.from_dict(config.to_dict()) == config
    assert HRMConfig(vocab_size=6, seq_len=9, expansion=4).expansion == 4.0
    with pytest.raises(ValueError, match="unknown config field"):
        HRMConfig.from_dict({**config.to_dict(), "dropout": 0.1})
    with pytest.raises(ValueError, match="missing config field"):
        HRMConfig.from_dict({"vocab_size": 6})
    with pytest.raises(ValueError, match="hidden_size must be an integer"):
        HRMConfig.from_dict({**config.to_dict(), "hidden_size": "256"})
    with pytest.raises(ValueError, match="must be an integer"):
        HRMConfig.from_dict({**config.to_dict(), "H_layers": True})
    # Bundles written before `halting` existed keep the paper's rule.
    older = {k: v for k, v in config.to_dict().items() if k != "halting"}
    assert HRMConfig.from_dict(older).halting == "q-learning"


@pytest.mark.parametrize("bad", [
    dict(hidden_size=30, num_heads=4),
    dict(pos_encodings="alibi"),
    dict(forward_dtype="float64"),
    dict(halt_max_steps=0),
    dict(halt_exploration_prob=1.5),
    dict(halting="q-values"),
    dict(hidden_size=12, num_heads=4),  # odd head_dim with RoPE
])
def test_invalid_configs_are_rejected(bad):
    with pytest.raises(ValueError):
        HRMConfig(vocab_size=11, seq_len=81, **bad)


def test_forward_dtype_auto_is_float32_on_cpu_bfloat16_on_cuda():
    config = HRMConfig(vocab_size=11, seq_len=81)
    assert config.dtype_name("cpu") == "float32"
    assert config.dtype_name("cuda") == "bfloat16"
    fixed = dataclasses.replace(config, forward_dtype="bfloat16")
    assert fixed.dtype_name("cpu") == "bfloat16"
    assert HRM(fixed).forward_dtype == torch.bfloat16


def test_configs_load_without_torch_and_match_the_architecture_table():
    code = ("import sys; import hrm.model.config as c; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(' '.join(c.CONFIGS))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from hrm.model.architectures import ARCHITECTURES

    assert done.stdout.split() == list(ARCHITECTURES)
    assert all(ARCHITECTURES[n].config is CONFIGS[n] for n in CONFIGS)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        HRMConfig.from_preset("huge", vocab_size=11, seq_len=81)
