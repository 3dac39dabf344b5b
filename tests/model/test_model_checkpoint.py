"""Our checkpoint bundle: model.safetensors + config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from model_helpers import random_batch, tiny_model
from safetensors.torch import load_file, save_file

from hrm.model import BundleInfo, CheckpointError, load_bundle, save_bundle

TASK = {"name": "sudoku", "vocab": {"pad": 0, "blank": 1}, "seq_len": 81}
PROVENANCE = {"source": "unit test", "step": 12}
METRICS = {"exact_accuracy": 0.5}


@pytest.fixture
def bundle(tmp_path) -> Path:
    return save_bundle(tiny_model(), tmp_path / "bundle", task=TASK, provenance=PROVENANCE,
                       metrics=METRICS)


def test_round_trip_is_bit_exact(tmp_path):
    model = tiny_model(pos_encodings="learned", puzzle_emb_ndim=80)
    folder = save_bundle(model, tmp_path / "b", task=TASK, provenance=PROVENANCE,
                         metrics=METRICS)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded, info = load_bundle(folder)
    assert isinstance(info, BundleInfo)
    assert info.config == model.config
    assert (info.task, info.provenance, info.metrics) == (TASK, PROVENANCE, METRICS)
    assert info.path == folder
    original, restored = model.state_dict(), loaded.state_dict()
    assert list(original) == list(restored)
    for key in original:
        assert original[key].dtype == restored[key].dtype
        assert torch.equal(original[key], restored[key]), key
    batch = random_batch(model.config, 2)
    a = list(model.rollout(batch["inputs"], batch["puzzle_identifiers"]))[-1]
    b = list(loaded.rollout(batch["inputs"], batch["puzzle_identifiers"]))[-1]
    assert torch.equal(a.logits, b.logits)
    assert not loaded.training


def test_files_are_plain_json_and_safetensors(bundle):
    document = json.loads((bundle / "config.json").read_text())
    assert document["format"] == "hrm-bundle" and document["format_version"] == 1
    assert document["architecture"]["hidden_size"] == 32
    tensors = load_file(str(bundle / "model.safetensors"))
    assert "H_level.layers.0.self_attn.qkv_proj.weight" in tensors
    assert "puzzle_emb.weights" in tensors


def test_save_overwrites_atomically_and_leaves_no_temporary_files(bundle):
    model = tiny_model(seed=5)
    save_bundle(model, bundle)
    assert sorted(p.name for p in bundle.iterdir()) == ["config.json", "model.safetensors"]
    loaded, info = load_bundle(bundle / "config.json")  # a file inside the folder works too
    assert torch.equal(loaded.H_init, model.H_init)
    assert info.task == {}


def test_save_rejects_unserialisable_metadata_before_writing(tmp_path):
    with pytest.raises(TypeError):
        save_bundle(tiny_model(), tmp_path / "x", metrics={"bad": object()})
    assert not (tmp_path / "x").exists()


def _rewrite_config(bundle: Path, edit) -> None:
    document = json.loads((bundle / "config.json").read_text())
    edit(document)
    (bundle / "config.json").write_text(json.dumps(document))


def _rewrite_tensors(bundle: Path, edit) -> None:
    tensors = load_file(str(bundle / "model.safetensors"))
    edit(tensors)
    save_file(tensors, str(bundle / "model.safetensors"))


def _expect_error(path: Path, file_name: str, pattern: str) -> None:
    with pytest.raises(CheckpointError, match=pattern) as info:
        load_bundle(path)
    message = str(info.value)
    assert "\n" not in message
    assert file_name in message


def test_missing_files(bundle, tmp_path):
    _expect_error(tmp_path / "nope", "nope", "no such bundle folder")
    (bundle / "model.safetensors").unlink()
    _expect_error(bundle, "model.safetensors", "missing")
    (bundle / "config.json").unlink()
    _expect_error(bundle, "config.json", "missing")


def test_bad_json(bundle):
    (bundle / "config.json").write_text('{"format": "hrm-bundle",\n  oops}')
    _expect_error(bundle, "config.json", "not valid JSON")


@pytest.mark.parametrize(("edit", "pattern"), [
    (lambda d: d["architecture"].update(dropout=0.1), "unknown config field.*dropout"),
    (lambda d: d["architecture"].pop("vocab_size"), "missing config field.*vocab_size"),
    (lambda d: d["architecture"].update(hidden_size="32"), "hidden_size must be an integer"),
    (lambda d: d["architecture"].update(num_heads=3), "not a multiple of num_heads"),
    (lambda d: d.update(extra=1), "unknown field.*extra"),
    (lambda d: d.update(format="other"), "not an hrm bundle"),
    (lambda d: d.update(format_version=99), "unsupported format_version"),
    (lambda d: d.update(task=[1]), "`task` must be an object"),
])
def test_bad_config(bundle, edit, pattern):
    _rewrite_config(bundle, edit)
    _expect_error(bundle, "config.json", pattern)


@pytest.mark.parametrize(("edit", "pattern"), [
    (lambda t: t.pop("lm_head.weight"), "missing tensor.*lm_head.weight"),
    (lambda t: t.update({"extra": torch.zeros(2)}), "unexpected tensor.*extra"),
    (lambda t: t.update({"q_head.bias": torch.zeros(3)}), r"q_head.bias has shape \(3,\)"),
    (lambda t: t.update({"H_init": torch.zeros(32, dtype=torch.int64)}), "H_init has dtype"),
])
def test_mismatched_tensors(bundle, edit, pattern):
    _rewrite_tensors(bundle, edit)
    _expect_error(bundle, "model.safetensors", pattern)


def test_config_that_does_not_fit_the_weights(bundle):
    _rewrite_config(bundle, lambda d: d["architecture"].update(vocab_size=12))
    _expect_error(bundle, "model.safetensors", "embed_tokens.embedding_weight has shape")


def test_corrupt_safetensors(bundle):
    (bundle / "model.safetensors").write_bytes(b"\x00" * 7)
    _expect_error(bundle, "model.safetensors", "not a readable safetensors file")
    data = (bundle / "config.json").read_bytes()
    (bundle / "model.safetensors").write_bytes(b"\xff\x00\x00\x00\x00\x00\x00\x00" + data)
    _expect_error(bundle, "model.safetensors", "not a readable safetensors file")


def test_loading_does_not_touch_the_global_rng(bundle):
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    load_bundle(bundle)
    assert torch.equal(torch.rand(3), expected)
