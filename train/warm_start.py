"""Starting a run from a trained model's weights (`hrm train --init-from MODEL`).

A warm start copies the weights of a trained model (a shipped default, a cached or imported
model, a bundle, a run folder: its final model or, while it has none, its latest
checkpoint; an original-release checkpoint) into a new run, which trains them with its own
recipe, a fresh optimizer and schedule, on its own data: to continue a model whose run
folder is gone, to fine-tune one on other puzzles, or to give a run that has decayed its
learning rate a new warm-up and schedule (`--resume --steps` keeps the old one's shape and
would jump straight back to a high rate).

The architecture is the source's. Only how it is trained may change: segments, gradient,
activation dtype, halting and its exploration (`TRAINING_CHOICES`). The puzzle-embedding
table is copied when the new dataset has as many puzzle identifiers as the source, and
starts fresh (zeros, as in a new run) otherwise: other puzzles, other rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hrm.datasets.format import DatasetMetadata
from hrm.datasets.tasks import IncompatibleModelError
from hrm.model import ACTModel
from hrm.model.checkpoint import load_state_dict_checked
from hrm.train.errors import TrainingError

# HRMConfig fields a warm-started run may set; every other one is the source's.
TRAINING_CHOICES = frozenset({"halt_max_steps", "halt_exploration_prob", "forward_dtype",
                              "gradient", "halting"})
PUZZLE_TABLE = "puzzle_emb.weights"
# Provenance of the source worth keeping in the new run's config and bundle.
_SOURCE_FIELDS = ("description", "source", "repo", "preset", "steps", "wall_time_s", "device",
                  "world_size", "trained_halt_max_steps", "init_from")


def _load_source(spec: str, task: str) -> tuple[ACTModel, dict[str, Any], Path]:
    """The source model on the CPU, its provenance and where it lives."""
    from hrm.inference import store

    if _is_unfinished_run(Path(spec)):
        return _load_latest_checkpoint(Path(spec), task)
    try:
        loaded = store.open_model(spec, task)
    except IncompatibleModelError as exc:
        raise TrainingError(f"--init-from {spec}: {exc}") from None
    return loaded.model, loaded.info.provenance, Path(loaded.entry.path).resolve()


def _is_unfinished_run(path: Path) -> bool:
    """A run folder of `hrm train` that has a checkpoint but no final model yet."""
    from hrm.train.checkpoint import CHECKPOINT_NAME

    return (path.is_dir() and (path / CHECKPOINT_NAME).is_file()
            and not (path / "model" / "config.json").is_file()
            and (path / "config.json").is_file())


def _load_latest_checkpoint(run: Path, task: str) -> tuple[ACTModel, dict[str, Any], Path]:
    """The model of an unfinished run (its latest checkpoint, the weights `hrm eval` scores)
    and provenance in the shape a finished run's bundle records."""
    from hrm.train.checkpoint import CHECKPOINT_NAME, CheckpointReader
    from hrm.train.config import read_run_config
    from hrm.train.evaluate import load_eval_target

    config, _ = read_run_config(run)
    if config.task != task:
        raise TrainingError(f"--init-from {run}: a {config.task} run, not {task}")
    state = CheckpointReader(run / CHECKPOINT_NAME).state
    model = load_eval_target(run).model
    provenance = {"source": "hrm train (unfinished run: its latest checkpoint)",
                  "preset": config.preset, "steps": int(state["step"]),
                  "wall_time_s": round(float(state.get("elapsed_s", 0.0)), 1),
                  "device": config.device, "world_size": state.get("world_size", 1),
                  "trained_halt_max_steps": config.model_config.halt_max_steps}
    return model, provenance, run.resolve()


def warm_start_architecture(spec: str, task: str, metadata: DatasetMetadata, data: Path,
                            choices: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Model config fields of the new run, the `init_from` record of its config).

    `choices` are the run's own `TRAINING_CHOICES`; anything else in it is an error.
    """
    fixed = sorted(set(choices) - TRAINING_CHOICES)
    if fixed:
        raise TrainingError(f"--init-from {spec}: the architecture is the model's; "
                            f"{', '.join(fixed)} cannot be set")
    model, provenance, path = _load_source(spec, task)
    config = model.config
    if config.vocab_size != metadata.vocab_size or not model.takes_seq_len(metadata.seq_len):
        raise TrainingError(f"{data}: vocab {metadata.vocab_size} and {metadata.seq_len} "
                            f"tokens, but {spec} takes vocab {config.vocab_size} and "
                            f"{config.seq_len} tokens")
    architecture = config.to_dict()
    # A packaged default may solve with more segments than it was trained with; continue
    # training at the trained number unless told otherwise.
    trained_segments = provenance.get("trained_halt_max_steps")
    if isinstance(trained_segments, int) and trained_segments >= 1:
        architecture["halt_max_steps"] = trained_segments
    architecture["forward_dtype"] = "auto"  # this run's device decides, as in a new run
    architecture["num_puzzle_identifiers"] = metadata.num_puzzle_identifiers
    architecture["seq_len"] = metadata.seq_len  # a grid model takes any size
    architecture.update(choices)

    if getattr(config, "puzzle_emb_ndim", 0) == 0:
        table = "none"
    elif config.num_puzzle_identifiers == metadata.num_puzzle_identifiers:
        table = "copied"
    else:
        table = "fresh"
    record = {
        "model": spec,
        "path": str(path),
        "task": task,
        "parameters": sum(p.numel() for p in model.parameters()),
        "puzzle_embeddings": table,
        "source": {key: provenance[key] for key in _SOURCE_FIELDS if key in provenance},
    }
    return architecture, record


def load_warm_start(model: ACTModel, record: dict[str, Any]) -> None:
    """Copy the source's weights (from `record["path"]`) into the new run's `model`."""
    source, _, path = _load_source(record["path"], record["task"])
    state = source.state_dict()
    if record["puzzle_embeddings"] == "fresh":  # keep the new run's own (zero) table
        state[PUZZLE_TABLE] = model.state_dict()[PUZZLE_TABLE]
    load_state_dict_checked(model, state, path)
