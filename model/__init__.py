"""Hierarchical Reasoning Model (HRM ACT v1): modules and checkpoint I/O.

Imports nothing else of the toolkit: only torch, safetensors and the standard library.
The package imports its modules on first use: `hrm.model.config` needs no torch.

    from hrm.model import HRM, HRMConfig, load_bundle

    config = HRMConfig.from_preset("tiny", vocab_size=11, seq_len=81)
    model = HRM(config)
    for step in model.rollout(inputs, puzzle_identifiers, halt="adaptive"):
        print(step.segment, step.halted.sum().item())
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Exported name -> its module. Imported on first use, so that `hrm.model.config` (the
# torch-free configs the CLI reads for `hrm train --help`) loads without torch.
_EXPORTS = {
    "ACTCarry": "act", "ACTModel": "act", "RolloutStep": "act", "SegmentOutput": "act",
    "compile_model": "act", "compile": "act",
    "BundleInfo": "checkpoint", "load_bundle": "checkpoint", "read_bundle_info": "checkpoint",
    "save_bundle": "checkpoint",
    "PRESETS": "config", "HRMConfig": "config",
    "CheckpointError": "errors",
    "HRM": "hrm",
    "IGNORE_LABEL_ID": "loss", "act_loss": "loss", "stablemax_cross_entropy": "loss",
    "import_official": "official", "read_official_config": "official",
    "BatchRows": "sparse_embedding", "SparsePuzzleEmbedding": "sparse_embedding",
}

if TYPE_CHECKING:
    from hrm.model.act import ACTCarry, ACTModel, RolloutStep, SegmentOutput, compile_model
    from hrm.model.checkpoint import BundleInfo, load_bundle, read_bundle_info, save_bundle
    from hrm.model.config import PRESETS, HRMConfig
    from hrm.model.errors import CheckpointError
    from hrm.model.hrm import HRM
    from hrm.model.loss import IGNORE_LABEL_ID, act_loss, stablemax_cross_entropy
    from hrm.model.official import import_official, read_official_config
    from hrm.model.sparse_embedding import BatchRows, SparsePuzzleEmbedding


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hrm.model' has no attribute {name!r}")
    # `hrm.model.compile(model)`: the spelling the design notes use for `compile_model`.
    value = getattr(import_module(f"hrm.model.{module}"),
                    "compile_model" if name == "compile" else name)
    globals()[name] = value
    return value


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
