"""Training checkpoints: one safetensors file per run folder, replaced atomically.

`RUN_DIR/checkpoint.safetensors` holds every tensor a resumed run needs, under prefixes:

- `model/<name>`: the model's state dict (the puzzle-embedding table included);
- `optim/<index>/<key>`: AdamATan2's per-parameter state (step, exp_avg, exp_avg_sq), by
  the parameter's position in `model.parameters()`;
- `rank<r>/rng/torch`, `rank<r>/rng/cuda`: each rank's torch generator states;
- `rank<r>/carry/...`: each rank's ACT carry (the in-flight sequences' z_H, z_L, step
  counts, halted flags and data), so a resumed run continues them instead of restarting.

Everything else is JSON in the file's metadata (`hrm-state`): format and version, step,
total steps, elapsed time, the data loader position, the optimizers' hyperparameters
(the sparse sign-SGD keeps no other state), each rank's Python and NumPy RNG states, and
the world size. No pickle anywhere. The file is written next to its final name and renamed
over it, so a crash leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from hrm.train.errors import TrainingError

CHECKPOINT_NAME = "checkpoint.safetensors"
FORMAT = "hrm-train-checkpoint"
FORMAT_VERSION = 1
_STATE_KEY = "hrm-state"


def save_checkpoint(path: Path, tensors: Mapping[str, torch.Tensor],
                    state: Mapping[str, Any]) -> Path:
    """Write tensors + JSON state to `path` atomically (temporary file, fsync, rename)."""
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    metadata = {_STATE_KEY: json.dumps(document, allow_nan=False), "format": "pt"}
    # safetensors wants contiguous CPU tensors that share no storage.
    cpu = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(cpu, tmp_name, metadata=metadata)
        os.chmod(tmp_name, 0o644)  # mkstemp makes 0600 files
        with open(tmp_name, "rb+") as handle:  # durable before it replaces the old one
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


class CheckpointReader:
    """Lazy reader: the JSON state at once, tensors only when asked (ranks read their own)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise TrainingError(f"{self.path}: missing; there is no checkpoint to resume from")
        try:
            self._file = safe_open(str(self.path), framework="pt", device="cpu")
            metadata = self._file.metadata() or {}
            self.state: dict[str, Any] = json.loads(metadata[_STATE_KEY])
        except (SafetensorError, OSError, KeyError, ValueError) as exc:
            raise TrainingError(f"{self.path}: not a readable training checkpoint "
                                f"({type(exc).__name__}: {exc})") from None
        if self.state.get("format") != FORMAT:
            raise TrainingError(f"{self.path}: not a training checkpoint of hrm")
        if self.state.get("format_version") != FORMAT_VERSION:
            raise TrainingError(f"{self.path}: unsupported checkpoint format_version "
                                f"{self.state.get('format_version')!r}")
        self._keys = set(self._file.keys())

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self._keys if k.startswith(prefix))

    def tensor(self, key: str) -> torch.Tensor:
        if key not in self._keys:
            raise TrainingError(f"{self.path}: tensor {key} is missing")
        try:
            return self._file.get_tensor(key)
        except (SafetensorError, OSError) as exc:
            raise TrainingError(f"{self.path}: cannot read tensor {key} ({exc})") from None

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors under `prefix`, with the prefix removed from their names."""
        return {k[len(prefix):]: self.tensor(k) for k in self.keys(prefix)}


# ----------------------------------------------------------------------------------------
# Optimizer state <-> flat tensors
# ----------------------------------------------------------------------------------------


def optimizer_tensors(optimizer: torch.optim.Optimizer, prefix: str) -> dict[str, torch.Tensor]:
    """Per-parameter state tensors of `optimizer` as `<prefix><index>/<key>`."""
    out = {}
    for index, entry in optimizer.state_dict()["state"].items():
        for key, value in entry.items():
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(value)
            out[f"{prefix}{index}/{key}"] = value
    return out


def optimizer_hyperparameters(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """The param groups (hyperparameters and parameter indices) as JSON-able dicts."""
    groups = optimizer.state_dict()["param_groups"]
    return [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in groups]


def load_optimizer(optimizer: torch.optim.Optimizer, groups: list[dict[str, Any]],
                   tensors: Mapping[str, torch.Tensor], source: Path) -> None:
    """Restore `optimizer` from `optimizer_hyperparameters` + `optimizer_tensors` output."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        index, _, key = name.partition("/")
        state.setdefault(int(index), {})[key] = value
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in groups]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise TrainingError(f"{source}: optimizer state does not fit this model ({exc})") \
            from None


# ----------------------------------------------------------------------------------------
# RNG states
# ----------------------------------------------------------------------------------------


def rng_state(device: torch.device) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(JSON part, tensor part) of this process's Python, NumPy and torch RNG states."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    json_part = {"python": [version, list(internal), gauss],
                 "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
    tensors = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        tensors["cuda"] = torch.cuda.get_rng_state(device)
    return json_part, tensors


def set_rng_state(json_part: Mapping[str, Any], tensors: Mapping[str, torch.Tensor],
                  device: torch.device) -> None:
    version, internal, gauss = json_part["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = json_part["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["torch"])
    if device.type == "cuda" and "cuda" in tensors:
        torch.cuda.set_rng_state(tensors["cuda"], device)
