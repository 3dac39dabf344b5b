"""The on-disk dataset format shared with the original HRM release.

A built dataset is a folder with `identifiers.json` and one sub-folder per split
(`train/`, `test/`), each holding `dataset.json` and, per set (always `all` here),
`{set}__{inputs,labels,puzzle_identifiers,puzzle_indices,group_indices}.npy`.

- `inputs`, `labels`: (examples, seq_len) token arrays; label 0 is ignored by the loss.
- `puzzle_indices`: (puzzles + 1,) offsets into the examples; puzzle p owns examples
  `puzzle_indices[p]:puzzle_indices[p + 1]`.
- `group_indices`: (groups + 1,) offsets into the puzzles; a group is one original puzzle
  and its augmented variants.
- `puzzle_identifiers`: (puzzles,) index into `identifiers.json` (0 = `<blank>`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hrm.datasets.errors import DatasetFormatError
from hrm.datasets.files import check_target_name, staged_dir

ARRAY_NAMES = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")
INDEX_DTYPE = np.int32


@dataclass
class DatasetMetadata:
    """`dataset.json`; field order matches the original so the files are byte-identical."""

    pad_id: int
    ignore_label_id: int | None
    blank_identifier_id: int
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    total_groups: int
    mean_puzzle_examples: float
    sets: list[str] = field(default_factory=lambda: ["all"])

    def to_json(self) -> str:
        data = asdict(self)
        data["mean_puzzle_examples"] = float(self.mean_puzzle_examples)
        return json.dumps(data)

    @classmethod
    def from_file(cls, path: Path) -> DatasetMetadata:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise DatasetFormatError(f"{path}: missing (is this a built dataset folder?)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DatasetFormatError(f"{path}: not valid JSON ({exc})") from None
        names = [f for f in cls.__dataclass_fields__]
        missing = [n for n in names if n not in data]
        if missing:
            raise DatasetFormatError(f"{path}: missing keys {', '.join(missing)}")
        return cls(**{n: data[n] for n in names})


@dataclass
class PuzzleSet:
    """The five arrays of one set of one split."""

    inputs: np.ndarray
    labels: np.ndarray
    puzzle_identifiers: np.ndarray
    puzzle_indices: np.ndarray
    group_indices: np.ndarray

    @property
    def num_examples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def num_puzzles(self) -> int:
        return int(self.puzzle_identifiers.shape[0])

    @property
    def num_groups(self) -> int:
        return int(self.group_indices.shape[0]) - 1

    def check(self, where: str, seq_len: int | None = None) -> None:
        """Raise DatasetFormatError if the arrays do not describe a consistent set."""

        def fail(problem: str) -> None:
            raise DatasetFormatError(f"{where}: {problem}")

        if self.inputs.ndim != 2 or self.inputs.shape != self.labels.shape:
            fail(f"inputs {self.inputs.shape} and labels {self.labels.shape} must be equal 2-D")
        if seq_len is not None and self.inputs.shape[1] != seq_len:
            fail(f"sequence length {self.inputs.shape[1]} but dataset.json says {seq_len}")
        pi, gi = self.puzzle_indices, self.group_indices
        if pi.ndim != 1 or pi.shape[0] != self.num_puzzles + 1:
            fail("puzzle_indices must have one more entry than puzzle_identifiers")
        if pi[0] != 0 or pi[-1] != self.num_examples or np.any(np.diff(pi) <= 0):
            fail("puzzle_indices must rise strictly from 0 to the number of examples")
        if gi.ndim != 1 or gi[0] != 0 or gi[-1] != self.num_puzzles or np.any(np.diff(gi) <= 0):
            fail("group_indices must rise strictly from 0 to the number of puzzles")


@dataclass
class Split:
    """One split (`train` or `test`) of a built dataset."""

    metadata: DatasetMetadata
    sets: dict[str, PuzzleSet]

    @property
    def all(self) -> PuzzleSet:
        return self.sets["all"]


class SplitBuilder:
    """Accumulates puzzles group by group, as the original builders do."""

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.puzzle_identifiers: list[int] = []
        self.puzzle_indices: list[int] = [0]
        self.group_indices: list[int] = [0]

    def add_puzzle(self, examples: Iterable[tuple[np.ndarray, np.ndarray]], identifier: int = 0):
        for inp, label in examples:
            self.inputs.append(np.asarray(inp).reshape(-1))
            self.labels.append(np.asarray(label).reshape(-1))
        if len(self.inputs) == self.puzzle_indices[-1]:
            raise ValueError("a puzzle needs at least one example")
        self.puzzle_indices.append(len(self.inputs))
        self.puzzle_identifiers.append(identifier)

    def end_group(self) -> None:
        if len(self.puzzle_identifiers) == self.group_indices[-1]:
            raise ValueError("a group needs at least one puzzle")
        self.group_indices.append(len(self.puzzle_identifiers))

    def build(self, dtype: np.dtype | type, seq_len: int) -> PuzzleSet:
        if self.group_indices[-1] != len(self.puzzle_identifiers):
            raise ValueError("end_group() was not called after the last puzzle")

        def stack(rows: list[np.ndarray]) -> np.ndarray:
            if not rows:
                return np.zeros((0, seq_len), dtype=dtype)
            return np.stack(rows).astype(dtype, copy=False)

        return PuzzleSet(
            inputs=stack(self.inputs),
            labels=stack(self.labels),
            puzzle_identifiers=np.array(self.puzzle_identifiers, dtype=INDEX_DTYPE),
            puzzle_indices=np.array(self.puzzle_indices, dtype=INDEX_DTYPE),
            group_indices=np.array(self.group_indices, dtype=INDEX_DTYPE),
        )


def write_split(folder: Path, metadata: DatasetMetadata, sets: dict[str, PuzzleSet]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(metadata.to_json())
    for set_name, puzzle_set in sets.items():
        for name in ARRAY_NAMES:
            np.save(folder / f"{set_name}__{name}.npy", getattr(puzzle_set, name))


def write_dataset(
    out: Path,
    splits: dict[str, tuple[DatasetMetadata, dict[str, PuzzleSet]]],
    identifiers: Sequence[str],
    overwrite: bool = False,
    extra_files: Mapping[str, str] | None = None,
) -> Path:
    """Write a whole dataset atomically: into a temporary sibling folder, then renamed.

    An existing non-empty `out` is kept unless `overwrite` is set; even then it is only
    replaced once the new dataset is complete. `extra_files` maps paths inside the dataset
    to their text (notes the original format has no field for, such as CANVAS_FILE).
    """
    out = Path(out)
    check_output_folder(out, overwrite)  # checked again under a lock before the rename
    with staged_dir(out, overwrite=overwrite, check_replace=check_replaceable) as staging:
        for split_name, (metadata, sets) in splits.items():
            write_split(staging / split_name, metadata, sets)
        (staging / "identifiers.json").write_text(json.dumps(list(identifiers)))
        for relative, text in (extra_files or {}).items():
            (staging / relative).write_text(text)
    return out


def check_output_folder(out: Path, overwrite: bool) -> None:
    """Raise DatasetFormatError unless a dataset may be written to `out`: it is new or an
    empty folder, or `overwrite` is set and it holds a built dataset. Call it before long work
    too, so that a refusal comes before the build, not after."""
    out = Path(out)
    check_target_name(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise DatasetFormatError(f"{out}: exists and is not a folder (a file or a link)")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise DatasetFormatError(f"{out}: already exists and is not empty (use --force "
                                     "to replace)")
        check_replaceable(out)


def check_replaceable(folder: Path) -> None:
    """Raise DatasetFormatError unless `folder` holds only what a dataset build writes.

    `--force` replaces a dataset, never a folder of other things that happens to be named
    as the output: one foreign file or folder is enough to refuse, and nothing is touched.
    """
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        raise DatasetFormatError(f"{folder}: exists and is not a folder; not replacing it")
    splits = 0
    for entry in sorted(folder.iterdir()):
        if entry.name == "identifiers.json" and entry.is_file() and not entry.is_symlink():
            continue
        foreign = _foreign_in_split(entry)
        if foreign is not None:
            raise DatasetFormatError(
                f"{folder}: not a built dataset ({foreign.relative_to(folder)} is not part of "
                "one), so --force will not replace it; choose another --out or empty it")
        splits += 1
    if splits == 0:
        raise DatasetFormatError(f"{folder}: not a built dataset (no split folder with "
                                 "dataset.json), so --force will not replace it")


def _foreign_in_split(entry: Path) -> Path | None:
    """The first thing in `entry` that no split folder holds (the entry itself if it is not
    a split folder); None if `entry` is a split folder as build writes it."""
    if entry.is_symlink() or not entry.is_dir() or not (entry / "dataset.json").is_file():
        return entry
    for item in sorted(entry.iterdir()):
        name = item.name
        array = name.endswith(".npy") and name.removesuffix(".npy").partition("__")[2]
        if item.is_symlink() or not item.is_file() or not (
                name in ("dataset.json", CANVAS_FILE) or array in ARRAY_NAMES):
            return item
    return None


def load_split(folder: Path, split: str, mmap: bool = True) -> Split:
    """Load and validate one split; large arrays are memory-mapped by default."""
    split_dir = Path(folder) / split
    if not split_dir.is_dir():
        raise DatasetFormatError(f"{split_dir}: no such split folder")
    metadata = DatasetMetadata.from_file(split_dir / "dataset.json")
    sets = {}
    for set_name in metadata.sets:
        arrays = {}
        for name in ARRAY_NAMES:
            path = split_dir / f"{set_name}__{name}.npy"
            mode = "r" if mmap and name in ("inputs", "labels") else None
            try:
                arrays[name] = np.load(path, mmap_mode=mode, allow_pickle=False)
            except FileNotFoundError:
                raise DatasetFormatError(f"{path}: missing") from None
            except ValueError as exc:
                raise DatasetFormatError(f"{path}: not a readable .npy array ({exc})") from None
        puzzle_set = PuzzleSet(**arrays)
        puzzle_set.check(str(split_dir / set_name), metadata.seq_len)
        sets[set_name] = puzzle_set
    return Split(metadata, sets)


CANVAS_FILE = "canvas.json"
"""Beside a maze split's dataset.json when `hrm datasets build --canvas N` padded its mazes:
{"canvas": N, "maze_size": [rows, cols]}, so they can be cropped back to the mazes as given.
dataset.json itself stays byte-identical to the original builder's."""


def canvas_note(canvas: int, maze_size: tuple[int, int]) -> str:
    return json.dumps({"canvas": canvas, "maze_size": list(maze_size)})


def load_maze_size(folder: Path, split: str) -> tuple[int, int] | None:
    """The size of the mazes of a split built on a larger canvas, or None if not padded."""
    path = Path(folder) / split / CANVAS_FILE
    try:
        note = json.loads(path.read_text())
        rows, cols = note["maze_size"]
        size = (int(rows), int(cols))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
        raise DatasetFormatError(f'{path}: expected {{"canvas": N, "maze_size": [rows, '
                                 "cols]}") from None
    if min(size) < 1:
        raise DatasetFormatError(f"{path}: maze_size must be positive, got {list(size)}")
    return size


def load_identifiers(folder: Path) -> list[str]:
    path = Path(folder) / "identifiers.json"
    try:
        names = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetFormatError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetFormatError(f"{path}: expected a JSON list of names")
    return names


def list_splits(folder: Path) -> list[str]:
    folder = Path(folder)
    return sorted(p.name for p in folder.iterdir() if (p / "dataset.json").is_file())
