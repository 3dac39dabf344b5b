"""Warm starts (`hrm train --init-from`): which weights are copied into the new model."""

from pathlib import Path

import pytest
import torch

from hrm.datasets.format import DatasetMetadata
from hrm.model import HRM, HRMConfig, save_bundle
from hrm.train.errors import TrainingError
from hrm.train.recipes import task_info
from hrm.train.warm_start import PUZZLE_TABLE, load_warm_start, warm_start_architecture


def metadata(identifiers: int) -> DatasetMetadata:
    return DatasetMetadata(pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=6,
                           seq_len=25, num_puzzle_identifiers=identifiers, total_groups=4,
                           mean_puzzle_examples=1.0)


@pytest.fixture
def source(tmp_path) -> tuple[Path, HRM]:
    """A tiny maze bundle with 3 puzzle-embedding rows, all weights non-zero."""
    config = HRMConfig.from_preset("tiny", vocab_size=6, seq_len=25, num_puzzle_identifiers=3,
                                   puzzle_emb_ndim=32, halt_max_steps=5)
    model = HRM(config)
    with torch.no_grad():
        model.puzzle_emb.weights.normal_()
    folder = save_bundle(model, tmp_path / "source", task=task_info("maze", metadata(3)),
                         provenance={"source": "hrm train", "steps": 40, "preset": "tiny"})
    return folder, model


@pytest.mark.parametrize(("identifiers", "table"), [(3, "copied"), (5, "fresh")])
def test_weights_are_copied_and_the_puzzle_table_when_it_fits(source, identifiers, table):
    folder, original = source
    architecture, record = warm_start_architecture(str(folder), "maze", metadata(identifiers),
                                                   Path("data"), {"gradient": "full"})
    assert record["puzzle_embeddings"] == table and record["source"]["steps"] == 40
    assert architecture["num_puzzle_identifiers"] == identifiers
    assert architecture["gradient"] == "full" and architecture["halt_max_steps"] == 5

    model = HRM(HRMConfig.from_dict(architecture))
    load_warm_start(model, record)
    copied, trained = model.state_dict(), original.state_dict()
    for name, tensor in trained.items():
        if name != PUZZLE_TABLE:
            assert torch.equal(copied[name], tensor), name
    if table == "copied":
        assert torch.equal(copied[PUZZLE_TABLE], trained[PUZZLE_TABLE])
    else:  # new puzzles, new rows: zeros, as a new run starts them
        assert copied[PUZZLE_TABLE].shape == (5, 32) and not copied[PUZZLE_TABLE].any()


def test_the_architecture_cannot_be_changed(source):
    folder, _ = source
    with pytest.raises(TrainingError, match="hidden_size cannot be set"):
        warm_start_architecture(str(folder), "maze", metadata(3), Path("data"),
                                {"hidden_size": 64})
    with pytest.raises(TrainingError, match="a maze model, not sudoku"):
        warm_start_architecture(str(folder), "sudoku", metadata(3), Path("data"), {})
