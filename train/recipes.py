"""Training recipes of the original release, per task, each task's standard dataset, and
the dataset-task check. The per-task values live on the tasks (`hrm.datasets.tasks.Task`):
`recipe`, `architecture_recipes`, `standard_data`, `fits_dataset`, `bundle_tokens`.

Values are read from the original's `config/cfg_pretrain.yaml` (ARC, its defaults) and the
per-task commands of its README (Sudoku-Extreme-1k and Maze-30x30-Hard-1k on 8 GPUs):

| | ARC | Sudoku | Maze |
|---|---|---|---|
| global batch | 768 | 768 | 768 |
| lr, warm-up, min ratio | 1e-4, 2000, 1.0 | 1e-4, 2000, 1.0 | 1e-4, 2000, 1.0 |
| AdamATan2 betas, weight decay | 0.9/0.95, 0.1 | 0.9/0.95, 1.0 | 0.9/0.95, 1.0 |
| puzzle embedding lr, decay | 1e-2, 0.1 | 1e-4, 1.0 | 1e-4, 1.0 |
| epochs, eval interval | 100000, 10000 | 20000, 2000 | 20000, 2000 |

`lr_min_ratio` 1.0 means a constant rate after the warm-up (the original never overrides it
for these tasks). Its single-GPU Sudoku command uses a global batch of 384 with lr and
puzzle-embedding lr 7e-5: `--batch-size 384 --lr 7e-5 --puzzle-emb-lr 7e-5`.

TRM's recipes (`trm`, `trm-mlp`) are the commands of the TRM authors' README on top of the
same `config/cfg_pretrain.yaml` defaults: everything as above, plus an EMA of the weights
(decay 0.999) for every task, and 50000 epochs with an evaluation every 5000 for Sudoku
and mazes (ARC keeps 100000 and 10000).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hrm.datasets.format import DatasetMetadata
from hrm.datasets.tasks import TASK_NAMES, StandardData, Task, get_task
from hrm.train.errors import TrainingError

LOSS_TYPES = ("stablemax_cross_entropy", "softmax_cross_entropy")


@dataclass(frozen=True)
class Recipe:
    """The optimisation hyperparameters of a run (the model's come from a preset).


    The defaults are the original's `config/cfg_pretrain.yaml` (its ARC recipe); a task
    changes some of them (`Task.recipe`, `Task.architecture_recipes`). Every field is an
    `hrm train` option (`metadata`: its help, see `hrm_cli.knobs`), whose shown default
    is the task's recipe."""

    global_batch_size: int = field(default=768, metadata={
        "flag": "--batch-size", "help": "Global batch, split across processes.", "min": 1})
    lr: float = field(default=1e-4, metadata={"help": "Peak learning rate.", "min": 0})
    lr_min_ratio: float = field(default=1.0, metadata={
        "help": "Final rate / peak of the cosine decay; 1 = constant.", "min": 0, "max": 1})
    warmup_steps: int = field(default=2000, metadata={
        "help": "Linear warm-up steps.", "min": 0})
    weight_decay: float = field(default=0.1, metadata={
        "help": "AdamATan2 weight decay.", "min": 0})
    beta1: float = field(default=0.9, metadata={
        "help": "AdamATan2 first-moment decay.", "min": 0, "max": 1, "max_open": True})
    beta2: float = field(default=0.95, metadata={
        "help": "AdamATan2 second-moment decay.", "min": 0, "max": 1, "max_open": True})
    puzzle_emb_lr: float = field(default=1e-2, metadata={
        "help": "Sign-SGD rate of the puzzle embeddings.", "min": 0})
    puzzle_emb_weight_decay: float = field(default=0.1, metadata={
        "help": "Their weight decay.", "min": 0})
    epochs: int = field(default=100000, metadata={"help": "Epochs to train.", "min": 1})
    eval_interval: int = field(default=10000, metadata={
        "help": "Epochs between evaluations of the test split; 0 = only at the end.",
        "min": 0})
    """Epochs between evaluations (0: only at the end); also the data loader's pass length."""
    loss_type: str = field(default="stablemax_cross_entropy", metadata={
        "help": "Token loss.", "choices": LOSS_TYPES})
    ema: float = field(default=0.0, metadata={
        "help": "Evaluate and export a moving average of the weights with this decay; "
                "0 = none.", "metavar": "DECAY", "min": 0, "max": 1, "max_open": True})
    """Decay of the weight average that evaluations and the bundle use; 0: none (as HRM)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, **overrides: Any) -> Recipe:
        """A copy with the given fields replaced; None values are ignored."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _task(name: str) -> Task:
    try:
        return get_task(name)
    except ValueError:
        raise TrainingError(f"unknown task {name!r}; choose from {', '.join(TASK_NAMES)}"
                            ) from None


def recipe_for(task: str, architecture: str | None = None) -> Recipe:
    """The default recipe of `task` for `architecture` (None: HRM's)."""
    spec = _task(task)
    return replace(Recipe(**spec.recipe),
                   **spec.architecture_recipes.get(architecture or "", {}))


def standard_data(task: str) -> StandardData:
    """The dataset `hrm train TASK` trains on without --data."""
    spec = _task(task).standard_data
    if spec is None:
        raise TrainingError(f"{task} has no standard dataset: give --data DIR (a folder "
                            "`hrm datasets build` wrote)")
    return spec


# ----------------------------------------------------------------------------------------
# Does a dataset hold the task the user named?
# ----------------------------------------------------------------------------------------


def detect_task(metadata: DatasetMetadata) -> list[str]:
    """Tasks whose token layout fits `dataset.json` (4x4 Sudoku and 4x4 mazes share one)."""
    return [name for name in TASK_NAMES
            if get_task(name).fits_dataset(metadata.vocab_size, metadata.seq_len)]


def check_task(task: str, metadata: DatasetMetadata, folder: Path) -> None:
    """TrainingError unless `folder`'s dataset (its `dataset.json`) can be `task`'s."""
    fits = detect_task(metadata)
    if task in fits:
        return
    layout = f"vocab {metadata.vocab_size}, {metadata.seq_len} tokens"
    guess = f"; it looks like {' or '.join(fits)} data" if fits else ""
    raise TrainingError(f"{folder}: not a {task} dataset ({layout}){guess}")


def task_info(task: str, metadata: DatasetMetadata) -> dict[str, Any]:
    """The bundle's `task` entry: the name and tokenisation a solver needs."""
    return {
        "name": task,
        "vocab_size": metadata.vocab_size,
        "seq_len": metadata.seq_len,
        "pad_id": metadata.pad_id,
        "ignore_label_id": metadata.ignore_label_id,
        "blank_identifier_id": metadata.blank_identifier_id,
        "num_puzzle_identifiers": metadata.num_puzzle_identifiers,
        **_task(task).bundle_tokens(metadata.vocab_size, metadata.seq_len),
    }
