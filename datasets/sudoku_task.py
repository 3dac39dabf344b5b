"""Sudoku as a task: n x n boards (n = 4, 9, 16), tokens 1 = blank, 2..n+1 = digits."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrm.datasets import builders, sudoku, sudoku_solver
from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.tasks import (
    PUZZLE_RECIPE,
    PUZZLE_TRM_RECIPE,
    CsvRow,
    GeneratorOptionError,
    IncompatibleModelError,
    Puzzle,
    StandardData,
    Task,
)

if TYPE_CHECKING:
    from rich.text import Text

    from hrm.datasets.builders import CsvPuzzles
    from hrm.datasets.format import DatasetMetadata, PuzzleSet

_CSV_CHARS = frozenset(sudoku.DIGIT_CHARS + sudoku.DIGIT_CHARS.lower() + sudoku.BLANK_CHARS)


class SudokuTask(Task):
    name = "sudoku"

    def read(self, lines: Iterable[str], source: str) -> Iterator[Puzzle | PuzzleParseError]:
        return self.as_puzzles(sudoku.iter_puzzles(lines, source))

    def check_model(self, vocab_size: int, seq_len: int) -> None:
        side = math.isqrt(seq_len)
        if side * side != seq_len or side not in sudoku.SIZES:
            raise IncompatibleModelError(
                f"the model takes {seq_len} tokens; a sudoku model takes 16, 81 or 256 "
                "(4x4, 9x9 or 16x16 boards)"
            )
        if vocab_size != sudoku.vocab_size(side):
            raise IncompatibleModelError(
                f"the model has {vocab_size} token ids; a {side}x{side} sudoku model has "
                f"{sudoku.vocab_size(side)} (pad, blank and {side} digits)"
            )

    def model_shape(self, puzzle: Puzzle) -> tuple[int, int]:
        n = int(puzzle.grid.shape[0])
        return n * n, sudoku.vocab_size(n)

    def encode(self, puzzle: Puzzle, seq_len: int) -> np.ndarray:
        n = int(puzzle.grid.shape[0])
        if n * n != seq_len:
            side = math.isqrt(seq_len)
            raise PuzzleParseError(
                f"a {n}x{n} sudoku needs a model for {n}x{n} boards; this model solves "
                f"{side}x{side} boards", puzzle.source, puzzle.line
            )
        return sudoku.encode(puzzle.grid)

    def decode(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray:
        return sudoku.decode(tokens, int(puzzle.grid.shape[0]))

    def verify(self, puzzle: Puzzle, answer: np.ndarray | None) -> bool:
        # By the rules, not by comparison with a known solution: a puzzle may have several.
        return answer is not None and sudoku.verify(puzzle.grid, answer)

    def unsolvable(self, puzzle: Puzzle) -> str | None:
        # Repeated givens are already a read error. A full search of a 16x16 board can take
        # minutes in Python; up to 9x9 it takes milliseconds, and the model would spend
        # seconds on a puzzle without a solution.
        if puzzle.grid.shape[0] <= 9 and not sudoku_solver.solve(puzzle.grid).solutions:
            return "the givens contradict each other (no solution)"
        return None

    def variant(self, puzzle: Puzzle, attempt: int
                ) -> tuple[Puzzle, Callable[[np.ndarray], np.ndarray]]:
        # Relabelled digits, transposition, bands, rows, stacks and columns shuffled: the
        # augmentations of training. Attempt k draws from seed k, so a retry is reproducible.
        transform = sudoku.random_transform(int(puzzle.grid.shape[0]),
                                            np.random.RandomState(attempt))
        return replace(puzzle, grid=transform.apply(puzzle.grid), expected=None), transform.invert

    def bad_cells(self, puzzle: Puzzle, answer: np.ndarray | None) -> np.ndarray | None:
        if answer is None:
            return None
        givens = puzzle.grid > 0
        return sudoku.conflicts(answer) | (answer == 0) | (givens & (answer != puzzle.grid))

    def format(self, grid: np.ndarray, layout: str) -> str:
        return sudoku.format_grid(grid) if layout == "grid" else sudoku.format_line(grid)

    def render_rich(self, puzzle: Puzzle, answer: np.ndarray | None) -> Text:
        grid = puzzle.grid if answer is None else answer
        return sudoku.render_rich(grid, givens=puzzle.grid > 0,
                                  bad_cells=self.bad_cells(puzzle, answer))

    # ----------------------------------------------------------------- the rest of the task

    recipe = PUZZLE_RECIPE
    architecture_recipes: Mapping[str, Mapping[str, Any]] = {
        "trm": PUZZLE_TRM_RECIPE, "trm-mlp": PUZZLE_TRM_RECIPE}
    standard_data = StandardData(
        "Sudoku-Extreme with the paper's subsample: 1,000 training puzzles with 1,000 "
        "augmentations each, the full test set", ("sudoku-extreme",), aug=1000, seed=0,
        subsample=1000,
        offline="generate puzzles offline: `hrm datasets generate sudoku --count 1000 --out "
        "sudoku-train.csv && hrm datasets generate sudoku --count 1000 --seed 1 --out "
        "sudoku-test.csv && hrm datasets build sudoku-train.csv --test sudoku-test.csv "
        "--aug 1000 --out data/sudoku && hrm train sudoku --data data/sudoku`")
    builds_from = "csv"
    release_seq_len = 81
    build_options = frozenset({"subsample", "min_rating"})
    generator_options = frozenset({"min_rating", "max_rating", "clues"})

    def bundle_tokens(self, vocab_size: int, seq_len: int) -> dict[str, Any]:
        side = math.isqrt(seq_len)
        return {"tokens": {"pad": 0, "blank": 1, "digits": f"2..{side + 1} = 1..{side}"},
                "size": side}

    def split_decoder(self, folder: Path, split: str) -> Callable[[np.ndarray], np.ndarray]:
        return sudoku.decode

    def free_cells(self, puzzle: Puzzle, answer: np.ndarray | None) -> np.ndarray | None:
        if answer is None or puzzle.grid.shape != answer.shape:
            return super().free_cells(puzzle, answer)
        return puzzle.grid == 0  # the blanks: givens are copied almost surely

    def reads_csv(self, question: str) -> bool:
        return set(question) <= _CSV_CHARS

    def read_csv(self, path: Path) -> CsvPuzzles:
        return builders.read_sudoku_csv(path)

    def build_split(self, data: CsvPuzzles, aug: int, rng: np.random.RandomState, *,
                    subsample: int | None = None, min_rating: int | None = None,
                    progress: Callable[[int], None] | None = None, **options: Any
                    ) -> tuple[DatasetMetadata, dict[str, PuzzleSet]]:
        return builders.build_sudoku_split(data, aug, rng, subsample, min_rating, progress,
                                           **options)

    def generate(self, count: int, seed: int, size: int | None, workers: int, *,
                 min_rating: int = 0, max_rating: int | None = None,
                 clues: int | None = None) -> Iterator[CsvRow]:
        from hrm.datasets.sudoku_generator import GeneratorSettings, generate

        size = size or 9
        if max_rating is not None and max_rating < min_rating:
            raise GeneratorOptionError("--max-rating is below --min-rating")
        if size not in sudoku.SIZES:
            raise GeneratorOptionError("sudoku --size must be 4, 9 or 16", "--size")
        if clues is not None and clues >= size * size:
            raise GeneratorOptionError(f"a {size}x{size} board has {size * size} cells",
                                       "--clues")
        settings = GeneratorSettings(size, clues, min_rating, max_rating)
        return ((f"hrm-sudoku{size}-seed{seed}", sudoku.format_line(item.puzzle),
                 sudoku.format_line(item.solution), item.rating)
                for item in generate(count, seed, settings, workers))
