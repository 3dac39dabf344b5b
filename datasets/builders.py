"""Build training datasets in the original on-disk format from puzzle CSV files.

The CSVs are the published layout (`source,question,answer,rating`), as downloaded from the
Hugging Face hub or written by `hrm datasets generate`. Random draws (subsampling, then the
augmentations puzzle by puzzle) happen in the same order as the original builders, from a
RandomState seeded with `seed`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hrm.datasets import maze, sudoku
from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.format import (
    CANVAS_FILE,
    DatasetMetadata,
    PuzzleSet,
    SplitBuilder,
    canvas_note,
    write_dataset,
)
from hrm.datasets.task_table import TASK_NAMES

if TYPE_CHECKING:
    from hrm.datasets.tasks import Task

Progress = Callable[[int], None]


@dataclass
class CsvPuzzles:
    """Questions and answers of one CSV as (count, side, side) arrays of cell codes."""

    questions: np.ndarray
    answers: np.ndarray
    ratings: np.ndarray


def _read_rows(path: Path) -> tuple[list[str], list[str], list[str], list[int]]:
    questions, answers, ratings, lines = [], [], [], []
    if not path.is_file():
        raise PuzzleParseError("no such file", str(path))
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader, [])]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise PuzzleParseError(f"not a CSV text file ({exc})", str(path), 1) from None
        if "question" not in header or "answer" not in header:
            raise PuzzleParseError(
                "expected the header source,question,answer,rating", str(path), 1
            )
        q_col, a_col = header.index("question"), header.index("answer")
        r_col = header.index("rating") if "rating" in header else None
        try:
            for row in reader:
                if not row:
                    continue
                line = reader.line_num
                if len(row) < len(header):
                    raise PuzzleParseError(
                        f"expected {len(header)} columns, found {len(row)}", str(path), line
                    )
                questions.append(row[q_col])
                answers.append(row[a_col])
                ratings.append(row[r_col] if r_col is not None else "0")
                lines.append(line)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise PuzzleParseError(f"unreadable CSV ({exc})", str(path), reader.line_num) from None
    if not questions:
        raise PuzzleParseError("no puzzles in this file", str(path))
    return questions, answers, ratings, lines


def _to_codes(
    texts: list[str], table: np.ndarray, length: int, path: Path, lines: list[int], what: str
) -> np.ndarray:
    """Vectorised character -> code conversion; bad rows are reported by line."""
    for text, line in zip(texts, lines, strict=True):
        if len(text) != length:
            raise PuzzleParseError(
                f"{what} has {len(text)} characters, expected {length}", str(path), line
            )
    raw = np.frombuffer("".join(texts).encode("latin-1", errors="replace"), dtype=np.uint8)
    codes = table[raw].reshape(len(texts), length)
    bad_rows = np.flatnonzero(np.any(codes == 255, axis=1))
    if bad_rows.size:
        row = int(bad_rows[0])
        ch = texts[row][int(np.argmax(codes[row] == 255))]
        raise PuzzleParseError(f"{what} has the invalid character {ch!r}", str(path), lines[row])
    return codes


def _ratings(ratings: list[str], path: Path, lines: list[int]) -> np.ndarray:
    try:
        return np.array([int(r) if r.strip() else 0 for r in ratings], dtype=np.int64)
    except ValueError:
        bad = next(i for i, r in enumerate(ratings) if r.strip() and not r.strip().isdigit())
        raise PuzzleParseError(
            f"rating {ratings[bad]!r} is not a whole number", str(path), lines[bad]
        ) from None


def read_sudoku_csv(path: Path) -> CsvPuzzles:
    questions, answers, ratings, lines = _read_rows(Path(path))
    cells = len(questions[0])
    side = math.isqrt(cells)
    if side not in sudoku.SIZES or side * side != cells:
        raise PuzzleParseError(
            f"question has {cells} characters, expected 16, 81 or 256", str(path), lines[0]
        )
    table = np.full(256, 255, dtype=np.uint8)
    for value in range(1, side + 1):
        ch = sudoku.DIGIT_CHARS[value - 1]
        table[ord(ch)] = table[ord(ch.lower())] = value
    for ch in sudoku.BLANK_CHARS:
        table[ord(ch)] = 0
    q = _to_codes(questions, table, cells, path, lines, "question")
    a = _to_codes(answers, table, cells, path, lines, "answer")
    incomplete = np.flatnonzero(np.any(a == 0, axis=1) | np.any((q != 0) & (q != a), axis=1))
    if incomplete.size:
        raise PuzzleParseError(
            "answer is incomplete or changes a given", str(path), lines[int(incomplete[0])]
        )
    return CsvPuzzles(
        q.reshape(-1, side, side), a.reshape(-1, side, side), _ratings(ratings, path, lines)
    )


def read_maze_csv(path: Path) -> CsvPuzzles:
    questions, answers, ratings, lines = _read_rows(Path(path))
    cells = len(questions[0])
    side = math.isqrt(cells)
    if side * side != cells or side > maze.MAX_SIZE:
        raise PuzzleParseError(
            f"question has {cells} characters: not a square maze up to "
            f"{maze.MAX_SIZE}x{maze.MAX_SIZE}", str(path), lines[0]
        )
    table = np.full(256, 255, dtype=np.uint8)
    for code, ch in enumerate(maze.CHARSET):
        table[ord(ch)] = code
    q = _to_codes(questions, table, cells, path, lines, "question")
    a = _to_codes(answers, table, cells, path, lines, "answer")
    return CsvPuzzles(
        q.reshape(-1, side, side), a.reshape(-1, side, side), _ratings(ratings, path, lines)
    )


def read_csv_grids(path: Path, charset: str) -> CsvPuzzles:
    """Square grids of a CSV in the published layout, each cell the index of its character
    in `charset` (for a task whose text is one character per cell)."""
    questions, answers, ratings, lines = _read_rows(Path(path))
    cells = len(questions[0])
    side = math.isqrt(cells)
    if side * side != cells:
        raise PuzzleParseError(f"question has {cells} characters: not a square grid",
                               str(path), lines[0])
    table = np.full(256, 255, dtype=np.uint8)
    for code, ch in enumerate(charset):
        table[ord(ch)] = code
    q = _to_codes(questions, table, cells, path, lines, "question")
    a = _to_codes(answers, table, cells, path, lines, "answer")
    return CsvPuzzles(
        q.reshape(-1, side, side), a.reshape(-1, side, side), _ratings(ratings, path, lines)
    )


def detect_csv_task(path: Path) -> str:
    """The task whose characters make up the first question (`Task.reads_csv`), else the
    first task built from CSV files, whose reader then names the stray character."""
    from hrm.datasets.tasks import get_task

    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        if "question" not in header:
            raise PuzzleParseError(
                "expected the header source,question,answer,rating", str(path), 1
            )
        first = next((row for row in reader if row), None)
    if first is None:
        raise PuzzleParseError("no puzzles in this file", str(path))
    question = first[header.index("question")]
    csv_tasks = [name for name in TASK_NAMES if get_task(name).builds_from == "csv"]
    return next((name for name in csv_tasks if get_task(name).reads_csv(question)),
                csv_tasks[0])


def _select(
    data: CsvPuzzles, subsample: int | None, min_rating: int | None, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """Questions and answers kept by the rating filter, then a random subsample."""
    questions, answers = data.questions, data.answers
    if min_rating is not None:
        keep = np.flatnonzero(data.ratings >= min_rating)
        questions, answers = questions[keep], answers[keep]
    if subsample is not None and subsample < len(questions):
        order = rng.choice(len(questions), size=subsample, replace=False)
        questions, answers = questions[order], answers[order]
    return questions, answers


def _single_example_metadata(puzzle_set: PuzzleSet, vocab_size: int) -> DatasetMetadata:
    """dataset.json of the sudoku and maze builders: one example per puzzle, no identifiers."""
    return DatasetMetadata(
        pad_id=0,
        ignore_label_id=0,
        blank_identifier_id=0,
        vocab_size=vocab_size,
        seq_len=int(puzzle_set.inputs.shape[1]),
        num_puzzle_identifiers=1,
        total_groups=puzzle_set.num_groups,
        mean_puzzle_examples=1,
    )


def build_sudoku_split(
    data: CsvPuzzles,
    aug: int,
    rng: np.random.RandomState,
    subsample: int | None = None,
    min_rating: int | None = None,
    progress: Progress | None = None,
) -> tuple[DatasetMetadata, dict[str, PuzzleSet]]:
    """One split: every puzzle is a group holding itself and `aug` shuffled variants."""
    questions, answers = _select(data, subsample, min_rating, rng)
    builder = SplitBuilder()
    for done, (q, a) in enumerate(zip(questions, answers, strict=True), start=1):
        builder.add_puzzle([(sudoku.encode(q), sudoku.encode(a))])
        for _ in range(aug):
            q_aug, a_aug, _ = sudoku.augment(q, a, rng)
            builder.add_puzzle([(sudoku.encode(q_aug), sudoku.encode(a_aug))])
        builder.end_group()
        if progress:
            progress(done)
    # The original builder writes uint8 rows, which become int64 once augmented (its digit
    # map is an int64 array); we keep its dtypes so both tools read each other's output.
    dtype = np.int64 if aug > 0 else np.uint8
    side = data.questions.shape[1]
    puzzle_set = builder.build(dtype, side * side)
    return _single_example_metadata(puzzle_set, sudoku.vocab_size(side)), {"all": puzzle_set}


def build_maze_split(
    data: CsvPuzzles,
    aug: int,
    rng: np.random.RandomState,
    subsample: int | None = None,
    min_rating: int | None = None,
    progress: Progress | None = None,
    canvas: int | None = None,
) -> tuple[DatasetMetadata, dict[str, PuzzleSet]]:
    """One split: every maze is a group of itself and its first `aug` dihedral variants
    (aug = 7 is the original builder's `aug=True`). With `canvas`, each maze sits in the
    top-left corner of a canvas x canvas grid of walls, as `hrm solve` pads a smaller maze."""
    if not 0 <= aug <= 7:
        raise ValueError("maze augmentation uses the 8 dihedral transforms: --aug 0..7")
    side = data.questions.shape[1]
    if canvas is not None and not side <= canvas <= maze.MAX_SIZE:
        raise ValueError(f"{side}x{side} mazes need a canvas of {side}..{maze.MAX_SIZE}")
    questions, answers = _select(data, subsample, min_rating, rng)
    builder = SplitBuilder()
    for done, (q, a) in enumerate(zip(questions, answers, strict=True), start=1):
        for tid in range(aug + 1):
            q_aug, a_aug = maze.augment(q, a, tid)
            builder.add_puzzle([(maze.encode(q_aug, canvas), maze.encode(a_aug, canvas))])
        builder.end_group()
        if progress:
            progress(done)
    side = canvas or side
    puzzle_set = builder.build(np.uint8, side * side)
    return _single_example_metadata(puzzle_set, maze.VOCAB_SIZE), {"all": puzzle_set}


def build_plain_split(
    data: CsvPuzzles,
    encode: Callable[[np.ndarray], np.ndarray],
    vocab_size: int,
    rng: np.random.RandomState,
    subsample: int | None = None,
    min_rating: int | None = None,
    progress: Progress | None = None,
) -> tuple[DatasetMetadata, dict[str, PuzzleSet]]:
    """One split without augmentations: every puzzle is a group of one example, its tokens
    `encode(grid)` (for a task's `build_split` that needs nothing more)."""
    questions, answers = _select(data, subsample, min_rating, rng)
    builder = SplitBuilder()
    for done, (q, a) in enumerate(zip(questions, answers, strict=True), start=1):
        builder.add_puzzle([(encode(q), encode(a))])
        builder.end_group()
        if progress:
            progress(done)
    side = data.questions.shape[1]
    puzzle_set = builder.build(np.uint8, side * side)
    return _single_example_metadata(puzzle_set, vocab_size), {"all": puzzle_set}


def build_from_csv(
    task: str | Task,
    csv_files: dict[str, Path],
    out: Path,
    aug: int = 0,
    seed: int = 0,
    subsample: int | None = None,
    min_rating: int | None = None,
    overwrite: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    canvas: int | None = None,
) -> Path:
    """Build `out` from split name -> CSV with the task's `read_csv` and `build_split`; only
    `train` is subsampled and augmented. `canvas` (mazes) pads every maze into a
    canvas x canvas grid of walls."""
    from hrm.datasets.tasks import get_task

    spec = get_task(task) if isinstance(task, str) else task
    extra = {"canvas": canvas} if canvas is not None else {}
    if extra and "canvas" not in spec.build_options:
        raise ValueError(f"a canvas does not apply to {spec.name} datasets")
    rng = np.random.RandomState(seed)
    splits = {}
    notes = {}
    for split_name, path in csv_files.items():
        data = spec.read_csv(path)
        if canvas is not None:
            side = data.questions.shape[1]
            if side > canvas:
                raise PuzzleParseError(
                    f"{side}x{side} mazes do not fit a {canvas}x{canvas} canvas", str(path), None
                )
            # `hrm eval --attempts` crops the mazes back, to retry them as `hrm solve` does.
            notes[f"{split_name}/{CANVAS_FILE}"] = canvas_note(canvas, (side, side))
        is_train = split_name == "train"
        total = len(data.questions)
        if is_train and subsample:  # a subsample above the rows keeps them all
            total = min(subsample, total)

        def report(done: int, split_name: str = split_name, total: int = total) -> None:
            if progress:
                progress(split_name, done, total)

        splits[split_name] = spec.build_split(
            data,
            aug if is_train else 0,
            rng,
            subsample=subsample if is_train else None,
            min_rating=min_rating,
            progress=report,
            **extra,
        )
    return write_dataset(out, splits, ["<blank>"], overwrite=overwrite, extra_files=notes)
