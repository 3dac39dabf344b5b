"""Our checkpoint bundle: a folder with `model.safetensors` and `config.json`.

`config.json`:

    {
      "format": "hrm-bundle",
      "format_version": 1,
      "architecture": {"name": "hrm", ...config fields...},  # no name: HRM
      "task": {...},        # free-form: task name, tokenisation, seq_len, ...
      "provenance": {...},  # free-form: where the weights come from, training run, ...
      "metrics": {...}      # free-form: evaluation results
    }

`model.safetensors` holds the model's state dict under the same names (the original's
names after its `_orig_mod.model.inner.` prefix). No pickle anywhere. Each file is written
to a temporary file in the same folder and renamed into place, so a reader never sees a
half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from hrm.model.act import ACTModel
from hrm.model.architectures import build_model, config_from_dict
from hrm.model.config import ModelConfig
from hrm.model.errors import CheckpointError

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
FORMAT_NAME = "hrm-bundle"
FORMAT_VERSION = 1
_TOP_LEVEL_KEYS = {"format", "format_version", "architecture", "task", "provenance", "metrics"}


@dataclass
class BundleInfo:
    """Everything in `config.json` besides the weights."""

    config: ModelConfig
    task: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None  # the bundle folder it was loaded from


def save_bundle(model: ACTModel, folder: str | Path, *, task: Mapping[str, Any] | None = None,
                provenance: Mapping[str, Any] | None = None,
                metrics: Mapping[str, Any] | None = None) -> Path:
    """Write `model` as a bundle into `folder` (created if needed); returns the folder.

    The free-form dicts must be JSON-serialisable (TypeError otherwise, before any file is
    written).
    """
    folder = Path(folder)
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "architecture": model.config.to_dict(),
        "task": dict(task or {}),
        "provenance": dict(provenance or {}),
        "metrics": dict(metrics or {}),
    }
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    # safetensors wants contiguous CPU tensors that share no storage.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}

    folder.mkdir(parents=True, exist_ok=True)
    # Weights first: a crash in between leaves the old config.json, whose names and shapes
    # are checked against the weights on load, rather than a config with no weights.
    _atomic_write(folder / WEIGHTS_NAME,
                  lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    _atomic_write(folder / CONFIG_NAME, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return folder


def load_bundle(folder: str | Path,
                device: str | torch.device = "cpu") -> tuple[ACTModel, BundleInfo]:
    """Read a bundle folder (or its `config.json`/`model.safetensors`) into an eval-mode model.

    Raises `CheckpointError` naming the file and the problem for anything missing,
    malformed or inconsistent.
    """
    folder = Path(folder)
    if folder.is_file() and folder.name in (WEIGHTS_NAME, CONFIG_NAME):
        folder = folder.parent
    if not folder.is_dir():
        raise CheckpointError(folder, "no such bundle folder")
    info = read_bundle_info(folder)

    weights_path = folder / WEIGHTS_NAME
    if not weights_path.is_file():
        raise CheckpointError(weights_path, "missing")
    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(weights_path, f"not a readable safetensors file ({exc})") from None

    model = build_model(info.config, initialise=False)
    load_state_dict_checked(model, state, weights_path)
    return model.to(device).eval(), info


def read_bundle_info(folder: str | Path) -> BundleInfo:
    """Parse and validate `config.json` only (no weights are read)."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(path, "missing")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(path, f"not valid JSON ({exc})") from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot read ({exc.strerror})") from None
    if not isinstance(document, dict):
        raise CheckpointError(path, "expected a JSON object")
    if document.get("format") != FORMAT_NAME:
        raise CheckpointError(path, f"not an hrm bundle (format is {document.get('format')!r}, "
                              f"expected {FORMAT_NAME!r})")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(path, f"unsupported format_version {version!r} "
                              f"(this version reads {FORMAT_VERSION})")
    unknown = sorted(set(document) - _TOP_LEVEL_KEYS)
    if unknown:
        raise CheckpointError(path, f"unknown field(s): {', '.join(unknown)}")
    architecture = document.get("architecture")
    if not isinstance(architecture, dict):
        raise CheckpointError(path, "`architecture` must be an object")
    try:
        config = config_from_dict(architecture)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path, f"architecture: {exc}") from None
    extras = {}
    for name in ("task", "provenance", "metrics"):
        value = document.get(name, {})
        if not isinstance(value, dict):
            raise CheckpointError(path, f"`{name}` must be an object")
        extras[name] = value
    return BundleInfo(config=config, path=Path(folder), **extras)


def load_state_dict_checked(model: torch.nn.Module, state: dict[str, torch.Tensor],
                            source: Path) -> None:
    """`model.load_state_dict(state)` with one-line CheckpointErrors for every mismatch.

    Floating-point tensors are cast to the model's dtype (the release stores H_init/L_init
    in bfloat16, which float32 holds exactly).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing:
        raise CheckpointError(source, f"missing tensor(s): {_names(missing)}")
    if extra:
        raise CheckpointError(source, f"unexpected tensor(s): {_names(extra)}")
    for key, ref in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(ref.shape):
            raise CheckpointError(source, f"tensor {key} has shape {tuple(got.shape)}, "
                                  f"the config implies {tuple(ref.shape)}")
        if got.dtype.is_floating_point != ref.dtype.is_floating_point:
            raise CheckpointError(source, f"tensor {key} has dtype {got.dtype}, "
                                  f"expected {ref.dtype}")
    # assign=True adopts the loaded tensors instead of copying them: a large puzzle table
    # (ARC: ~10^6 rows) is then held once, not twice.
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, assign=True)


def _names(keys: list[str], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _atomic_write(target: Path, write: Callable[[Path], Any]) -> None:
    """Write via `write(tmp)` to a temporary file next to `target`, then rename over it."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; bundles are meant to be shared
        with open(tmp, "rb+") as handle:  # make the bytes durable before the rename
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
