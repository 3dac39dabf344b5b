"""The table of architectures: every model in the toolkit is built from here.

An architecture is a config dataclass (a `ModelConfig`, whose `name` is recorded in
bundles and run configs) and an `ACTModel` subclass that supplies a segment. Adding one
means its config in `hrm.model.config` (torch-free, listed in its `CONFIGS`, so that
`hrm train --help` shows its defaults without loading torch), a module with its model,
and a row below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hrm.model.act import ACTModel
from hrm.model.config import (
    DEFAULT_ARCHITECTURE,
    GridHRMConfig,
    HRMConfig,
    ModelConfig,
    TRMConfig,
    TRMMLPConfig,
    config_from_dict,
)
from hrm.model.grid import GridHRM
from hrm.model.hrm import HRM
from hrm.model.layers import weights_to_be_loaded
from hrm.model.trm import TRM


@dataclass(frozen=True)
class Architecture:
    name: str
    config: type[ModelConfig]
    model: type[ACTModel]
    summary: str


ARCHITECTURES: dict[str, Architecture] = {a.name: a for a in (
    Architecture("hrm", HRMConfig, HRM,
                 "HRM ACT v1 as released: transformer levels with global attention"),
    Architecture("grid-hrm", GridHRMConfig, GridHRM,
                 "HRM with 3x3 grid mixing: one model for grids of any size"),
    Architecture("trm", TRMConfig, TRM,
                 "TRM: one 2-layer attention network recursing on an answer and a latent"),
    Architecture("trm-mlp", TRMMLPConfig, TRM,
                 "TRM with an MLP across positions instead of attention (small fixed grids)"),
)}


def get_architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; "
                         f"choose from {', '.join(ARCHITECTURES)}") from None


def config_from_preset(architecture: str, preset: str, **fields: Any) -> ModelConfig:
    return get_architecture(architecture).config.from_preset(preset, **fields)


def build_model(config: ModelConfig, *, initialise: bool = True) -> ACTModel:
    """A model for `config`, freshly initialised; with `initialise=False` its weights are
    left undrawn (and the random stream untouched) for a checkpoint to fill."""
    if initialise:
        return get_architecture(config.name).model(config)
    with weights_to_be_loaded():
        return get_architecture(config.name).model(config)


__all__ = ["ARCHITECTURES", "DEFAULT_ARCHITECTURE", "Architecture", "build_model",
           "config_from_dict", "config_from_preset", "get_architecture"]
