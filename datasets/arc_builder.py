"""Build an augmented ARC training/evaluation dataset in the original on-disk format.

What goes where (as in the original release):

- every task contributes one group to `train/`: the task and its augmented variants,
  each a puzzle with its own identifier (`<task>_t<tid>_<colour map>`), holding the
  demonstration pairs, plus the test pairs unless the task comes from a test subset;
- tasks from a test subset (`evaluation` by default) also contribute a group to
  `test/` holding the test pairs of the same variants (same identifiers);
- training examples are shifted to a random position on the canvas, except one
  randomly chosen example per puzzle; test examples stay at the top-left.

Order and randomness: the original walks folders in filesystem order, which differs
between machines. Here subsets are taken in the order the caller gives and the files of
a folder sorted by name (or in the order of an explicit file list). From there the
random draws replay the original exactly, through an explicit RandomState seeded once:
per subset, a shuffle of its tasks, then per task the augmentation draws (dihedral id,
colour permutation; duplicates by content are redrawn, at most 5x `aug` tries); after
all subsets, per puzzle of `train/` then of `test/`, the index of the example left in
place and the (row, column) offsets of the others. So with the original's file order
the output is byte-identical to the original builder's (see the tests). Identifiers
are numbered in the order the tasks are met after the shuffle.

The original's numbering also depends on which split its Python hash seed put first;
we always take `train/` first (the only order possible when the first subset is not a
test subset).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrm.datasets.arc import (
    MAX_GRID_SIZE,
    PAD_TOKEN,
    SEQ_LEN,
    VOCAB_SIZE,
    ArcTask,
    apply_augmentation,
    encode_grid,
    parse_file,
    random_augmentation,
)
from hrm.datasets.errors import HRMDataError
from hrm.datasets.format import INDEX_DTYPE, DatasetMetadata, PuzzleSet, write_dataset

log = logging.getLogger(__name__)

AUGMENT_RETRIES_FACTOR = 5
DEFAULT_TEST_SUBSETS = ("evaluation",)

PathLike = str | os.PathLike
# A subset is a folder of task files, one file (possibly holding many tasks) or a list
# of files taken in the order given.
SourceSpec = PathLike | Sequence[PathLike]
Sources = Mapping[str, SourceSpec] | Sequence[tuple[str, SourceSpec]]
Examples = list[tuple[np.ndarray, np.ndarray]]


@dataclass
class _Puzzle:
    identifier: int
    examples: Examples


def build_arc(
    sources: Sources,
    out: PathLike,
    aug: int = 1000,
    seed: int = 42,
    overwrite: bool = False,
    test_subsets: Collection[str] = DEFAULT_TEST_SUBSETS,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Build the dataset from `sources` (subset name -> folder, file or file list, in
    order) into `out`; `aug` augmented variants per task. `progress(done, total)` is
    called after each task. Returns `out`."""
    subsets = [(name, load_subset(spec)) for name, spec in _items(sources)]
    total = sum(len(tasks) for _, tasks in subsets)
    if total == 0:
        raise HRMDataError("no ARC tasks found in the given sources")
    for _, tasks in subsets:
        for task in tasks:
            _check_outputs(task)  # fail before the long part, not halfway through

    rng = np.random.RandomState(seed)
    identifiers: dict[str, int] = {"<blank>": 0}
    train_groups: list[list[_Puzzle]] = []
    test_groups: list[list[_Puzzle]] = []
    done = 0
    for subset_name, tasks in subsets:
        is_test = subset_name in test_subsets
        tasks = list(tasks)
        rng.shuffle(tasks)  # the original shuffles each folder; keeps the draw order
        for task in tasks:
            variants = augmented_variants(task, aug, rng)
            train_group, test_group = [], []
            for variant in variants:
                number = identifiers.setdefault(variant.id, len(identifiers))
                # Test pairs of test subsets are held out; those of other subsets train.
                train_group.append(_Puzzle(number, variant.train if is_test else variant.pairs))
                test_group.append(_Puzzle(number, variant.test))
            train_groups.append(train_group)
            if is_test:
                test_groups.append(test_group)
            done += 1
            if progress is not None:
                progress(done, total)

    splits = {"train": _encode_split(train_groups, len(identifiers), rng, translate=True)}
    # Like the original, a build without test subsets has no test split at all.
    if test_groups:
        splits["test"] = _encode_split(test_groups, len(identifiers), rng, translate=False)
    return write_dataset(Path(out), splits, list(identifiers), overwrite=overwrite)


def load_subset(spec: SourceSpec) -> list[ArcTask]:
    """Tasks of one subset, in file order (a folder's `*.json` files sorted by name)."""
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        if path.is_dir():
            files = sorted(path.glob("*.json"), key=lambda p: p.name)
            if not files:
                raise HRMDataError(f"{path}: no .json task files in this folder")
        elif path.is_file():
            files = [path]
        else:
            raise HRMDataError(f"{path}: no such file or folder")
    else:
        files = [Path(p) for p in spec]
    return [task for file in files for task in parse_file(file)]


def discover_subsets(root: PathLike) -> list[tuple[str, Path]]:
    """The sub-folders of a dataset checkout (e.g. `ARC-AGI/data`: evaluation, training)
    as (subset name, folder), sorted by name: the portable stand-in for the original's
    `os.scandir` walk."""
    root = Path(root)
    if not root.is_dir():
        raise HRMDataError(f"{root}: no such folder")
    return [(p.name, p) for p in sorted(root.iterdir(), key=lambda p: p.name) if p.is_dir()]


def augmented_variants(task: ArcTask, aug: int, rng: np.random.RandomState) -> list[ArcTask]:
    """`task` followed by up to `aug` distinct augmented variants.

    A variant whose pairs equal (as a multiset) those of an earlier one adds nothing,
    e.g. a rotation of a symmetric task, so it is dropped and another drawn, within
    AUGMENT_RETRIES_FACTOR * aug draws in all."""
    variants = [task]
    seen = {_content_hash(task)}
    for _ in range(AUGMENT_RETRIES_FACTOR * aug):
        if len(variants) > aug:
            break
        tid, colour_map = random_augmentation(rng)
        variant = apply_augmentation(task, tid, colour_map)
        digest = _content_hash(variant)
        if digest not in seen:
            seen.add(digest)
            variants.append(variant)
    if len(variants) <= aug:
        log.warning(
            "ARC task %s: only %d distinct augmentations of %d wanted",
            task.id,
            len(variants) - 1,
            aug,
        )
    return variants


def _content_hash(task: ArcTask) -> bytes:
    def grid_digest(grid: np.ndarray) -> bytes:
        return hashlib.sha256(bytes(grid.shape) + grid.tobytes()).digest()

    pairs = sorted(grid_digest(p.input) + grid_digest(p.output) for p in task.pairs)
    return hashlib.sha256(b"".join(pairs)).digest()


def _check_outputs(task: ArcTask) -> None:
    if any(p.output is None for p in task.test):
        raise HRMDataError(
            f"ARC task {task.id}: a test output is missing; building needs the answers "
            "(merge challenge files with their solutions first)"
        )


def _encode_split(
    groups: list[list[_Puzzle]],
    num_identifiers: int,
    rng: np.random.RandomState,
    translate: bool,
) -> tuple[DatasetMetadata, dict[str, PuzzleSet]]:
    puzzles = [p for group in groups for p in group]
    num_examples = sum(len(p.examples) for p in puzzles)
    # Preallocated: a full build is gigabytes, too much to stack from a list of rows.
    inputs = np.zeros((num_examples, SEQ_LEN), dtype=np.uint8)
    labels = np.zeros((num_examples, SEQ_LEN), dtype=np.uint8)
    row = 0
    for puzzle in puzzles:
        # Drawn for test puzzles too (a no-op draw for one example), as the original does.
        keep_in_place = rng.randint(0, len(puzzle.examples))
        for i, (grid_in, grid_out) in enumerate(puzzle.examples):
            pad_r = pad_c = 0
            if translate and i != keep_in_place:
                height = max(grid_in.shape[0], grid_out.shape[0])
                width = max(grid_in.shape[1], grid_out.shape[1])
                pad_r = rng.randint(0, MAX_GRID_SIZE - height + 1)
                pad_c = rng.randint(0, MAX_GRID_SIZE - width + 1)
            inputs[row] = encode_grid(grid_in, pad_r, pad_c)
            labels[row] = encode_grid(grid_out, pad_r, pad_c)
            row += 1

    puzzle_set = PuzzleSet(
        inputs=inputs,
        labels=labels,
        puzzle_identifiers=np.array([p.identifier for p in puzzles], dtype=INDEX_DTYPE),
        puzzle_indices=np.cumsum([0] + [len(p.examples) for p in puzzles], dtype=INDEX_DTYPE),
        group_indices=np.cumsum([0] + [len(g) for g in groups], dtype=INDEX_DTYPE),
    )
    metadata = DatasetMetadata(
        pad_id=PAD_TOKEN,
        ignore_label_id=PAD_TOKEN,
        blank_identifier_id=0,
        vocab_size=VOCAB_SIZE,
        seq_len=SEQ_LEN,
        num_puzzle_identifiers=num_identifiers,
        total_groups=len(groups),
        mean_puzzle_examples=num_examples / len(puzzles),
        sets=["all"],
    )
    return metadata, {"all": puzzle_set}


def _items(sources: Sources) -> list[tuple[str, SourceSpec]]:
    return list(sources.items()) if isinstance(sources, Mapping) else list(sources)
