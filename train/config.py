"""The resolved configuration of a training run, and its `config.json` in the run folder.

`TrainConfig` is everything a worker needs to run (or resume) training: the task and data,
the recipe (optimisation hyperparameters), the model architecture, the schedule of logs,
evaluations and checkpoints, and runtime settings (device, compile, loggers). It is a plain
picklable dataclass so the distributed launcher can hand it to its workers.

Fields in `RESUME_FIELDS` (and `RESUME_RECIPE_FIELDS` of the recipe) may change when a run
is resumed (where the data lives, how long to train, what to log, where to run); all others
define the run and must stay as they were.

Fields with `metadata["help"]` are `hrm train` options (see `hrm_cli.knobs`). This module
imports no torch, so that `hrm train --help` can read them.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hrm.inference.store import RUN_FORMAT
from hrm.model.config import DEFAULT_ARCHITECTURE, ModelConfig, config_class, config_from_dict
from hrm.train.errors import TrainingError
from hrm.train.recipes import Recipe

RUN_FORMAT_VERSION = 1
CONFIG_NAME = "config.json"

# May differ between the original start of a run and a `--resume` (TrainConfig fields,
# then Recipe fields): where the data lives, how long to train, what to log and where to
# run. Everything else defines the run.
RESUME_FIELDS = frozenset({
    "data", "steps", "checkpoint_interval", "log_interval", "eval_batch_size", "device",
    "compile", "wandb", "tensorboard", "quiet",
})
RESUME_RECIPE_FIELDS = frozenset({"epochs", "eval_interval"})


@dataclass
class TrainConfig:
    task: str
    data: str
    """Absolute path of the built dataset folder."""
    out: str
    """The run folder."""
    recipe: Recipe
    architecture: dict[str, Any]
    """The model config's fields (its `name` and task fields included), resolved from the
    preset and overrides."""
    preset: str = "paper"
    steps: int | None = field(default=None, metadata={
        "help": "Total optimizer steps, instead of --epochs.",
        "unset": "from --epochs", "min": 1})
    """Total optimizer steps; None: epochs x steps per epoch, as the original estimates."""
    checkpoint_interval: int = field(default=1000, metadata={
        "help": "Steps between checkpoints, besides those after evaluations, at the end "
                "and on Ctrl-C; 0 = none.", "min": 0})
    """Steps between checkpoints (0: only after evaluations, at the end and on Ctrl-C)."""
    log_interval: int = field(default=10, metadata={
        "help": "Steps per metrics.jsonl line.", "min": 1})
    """Steps per line of metrics.jsonl (metrics are summed over the interval)."""
    eval_batch_size: int | None = field(default=None, metadata={
        "help": "Global evaluation batch.", "unset": "the training batch", "min": 1})
    """Global evaluation batch; None: the training global batch."""
    seed: int = field(default=0, metadata={
        "help": "Random seed: the weights, the data order and ACT exploration."})
    device: str = "auto"
    compile: bool = field(default=False, metadata={
        "help": "torch.compile the segment computation."})
    wandb: bool = field(default=False, metadata={
        "help": "Also log to Weights & Biases (needs wandb)."})
    tensorboard: bool = field(default=False, metadata={
        "help": "Also log to TensorBoard in RUN_DIR/tensorboard (needs tensorboard)."})
    quiet: bool = False
    init_from: dict[str, Any] | None = None
    """The model whose weights the run started from (`hrm.train.warm_start`), or None."""

    # ------------------------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return Path(self.out)

    @property
    def model_config(self) -> ModelConfig:
        return config_from_dict(self.architecture)

    def epochs_per_pass(self) -> int:
        """Epochs per data-loader pass: the evaluation interval, as in the original."""
        interval = self.recipe.eval_interval
        return interval if interval > 0 else max(1, self.recipe.epochs)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["recipe"] = self.recipe.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}")
        values = dict(data)
        values["recipe"] = Recipe(**values["recipe"])
        return cls(**values)


# ----------------------------------------------------------------------------------------
# config.json
# ----------------------------------------------------------------------------------------


def provenance(device: str, world_size: int) -> dict[str, Any]:
    """Where and how a run (or a resumed session) ran: versions, device, command line."""
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import torch

    try:
        hrm_version = version("hrm-toolkit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        hrm_version = "unknown"
    info: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": [_program_name(), *sys.argv[1:]],
        "cwd": os.getcwd(),
        "host": platform.node(),
        "hrm_toolkit": hrm_version,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "device": device,
        "world_size": world_size,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return info


def write_run_config(config: TrainConfig, dataset: dict[str, Any],
                     sessions: list[dict[str, Any]]) -> Path:
    """Write `config.json` (atomically): the run's config, dataset and every session."""
    document = {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "config": config.to_dict(),
        "dataset": dataset,
        "sessions": sessions,
    }
    path = config.run_dir / CONFIG_NAME
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_run_config(run_dir: str | Path) -> tuple[TrainConfig, dict[str, Any]]:
    """(config, the whole document) of a run folder; TrainingError if it is not one."""
    path = Path(run_dir) / CONFIG_NAME
    if not Path(run_dir).is_dir():
        raise TrainingError(f"{run_dir}: no such run folder")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainingError(f"{path}: missing (is {run_dir} a run folder of `hrm train`?)") \
            from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{path}: unreadable ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != RUN_FORMAT:
        raise TrainingError(f"{path}: not the config of an `hrm train` run")
    if document.get("format_version") != RUN_FORMAT_VERSION:
        raise TrainingError(f"{path}: unsupported format_version "
                            f"{document.get('format_version')!r}")
    try:
        config = TrainConfig.from_dict(document["config"])
        config.model_config  # noqa: B018 - validates the architecture
    except (KeyError, TypeError, ValueError) as exc:
        raise TrainingError(f"{path}: invalid run config ({exc})") from None
    config.out = str(Path(run_dir).resolve())
    return config, document


def build_config(task: str, data: str | Path, out: str | Path, *, preset: str | None = None,
                 recipe: Recipe | None = None, architecture: dict[str, Any] | None = None,
                 init_from: str | None = None, **settings: Any) -> TrainConfig:
    """A fresh run's config: the task's recipe and the preset, sized for `data`.

    `architecture` names the architecture (`name`, default HRM) and overrides fields of
    the preset (default: the architecture's first, "paper" for HRM), e.g. `hidden_size`
    or `halt_max_steps`; the task fields (vocab, sequence length, puzzle identifiers)
    always come from the dataset. With `init_from` (a model name or path) the architecture
    is that model's and `architecture` may only hold training choices (see `hrm.train.warm_start`).
    """
    from hrm.datasets.format import load_split
    from hrm.train.recipes import check_task, recipe_for

    data = Path(data).resolve()
    metadata = load_split(data, "train").metadata
    check_task(task, metadata, data)
    record = None
    try:
        if init_from is not None:
            from hrm.train.warm_start import warm_start_architecture

            fields_, record = warm_start_architecture(init_from, task, metadata, data,
                                                      architecture or {})
            model = config_from_dict(fields_)
            preset = record["source"].get("preset", "custom")
        else:
            overrides = dict(architecture or {})
            arch = config_class(overrides.pop("name", DEFAULT_ARCHITECTURE))
            foreign = sorted(set(overrides) - {f.name for f in fields(arch)})
            if foreign:
                raise ValueError(f"{arch.name} has no setting {', '.join(foreign)}")
            preset = preset or next(iter(arch.presets))
            model = arch.from_preset(preset, **{
                **overrides,
                "vocab_size": metadata.vocab_size,
                "seq_len": metadata.seq_len,
                "num_puzzle_identifiers": metadata.num_puzzle_identifiers,
            })
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"model: {exc}") from None
    return TrainConfig(task=task, data=str(data), out=str(Path(out).resolve()),
                       recipe=recipe or recipe_for(task, model.name),
                       architecture=model.to_dict(),
                       preset=preset, init_from=record, **settings)


def _program_name() -> str:
    name = Path(sys.argv[0]).name
    return "hrm" if name in ("__main__.py", "hrm") else name
