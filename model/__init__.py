"""Hierarchical Reasoning Model (HRM ACT v1): modules and checkpoint I/O.

Imports nothing else of the toolkit: only torch, safetensors and the standard library.

    from hrm.model import HRM, HRMConfig, load_bundle

    config = HRMConfig.from_preset("tiny", vocab_size=11, seq_len=81)
    model = HRM(config)
    for step in model.rollout(inputs, puzzle_identifiers, halt="adaptive"):
        print(step.segment, step.halted.sum().item())
"""

from hrm.model.act import ACTCarry, ACTModel, RolloutStep, SegmentOutput, compile_model
from hrm.model.checkpoint import BundleInfo, load_bundle, read_bundle_info, save_bundle
from hrm.model.config import PRESETS, HRMConfig
from hrm.model.errors import CheckpointError
from hrm.model.hrm import HRM
from hrm.model.loss import IGNORE_LABEL_ID, act_loss, stablemax_cross_entropy
from hrm.model.official import import_official, read_official_config
from hrm.model.sparse_embedding import BatchRows, SparsePuzzleEmbedding

# `hrm.model.compile(model)`: the spelling the design notes use for `compile_model`.
compile = compile_model

__all__ = [
    "HRM",
    "IGNORE_LABEL_ID",
    "PRESETS",
    "ACTCarry",
    "ACTModel",
    "BatchRows",
    "BundleInfo",
    "CheckpointError",
    "HRMConfig",
    "RolloutStep",
    "SegmentOutput",
    "SparsePuzzleEmbedding",
    "act_loss",
    "compile",
    "compile_model",
    "import_official",
    "load_bundle",
    "read_bundle_info",
    "read_official_config",
    "save_bundle",
    "stablemax_cross_entropy",
]
