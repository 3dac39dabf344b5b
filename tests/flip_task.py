"""A puzzle task defined only in the tests: flip every cell of a square grid of `-` and `x`
(its own characters, so that its CSV files are told from sudoku's and mazes' by them).

This module and one entry in the task table (made at run time with `register_task`) are all
a new task takes: `tests/cli/test_new_task.py` generates, builds, trains, evaluates, solves
and draws it through the same code paths as sudoku, mazes and ARC.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rich.text import Text

from hrm.datasets import builders
from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.tasks import CsvRow, IncompatibleModelError, Puzzle, Task

VOCAB = 3  # 0 = pad, 1 and 2 = cells 0 and 1
CHARS = "-x"  # cells 0 and 1


def encode(grid: np.ndarray) -> np.ndarray:
    return (np.asarray(grid, dtype=np.uint8) + 1).reshape(-1)


def decode(tokens: np.ndarray) -> np.ndarray | None:
    tokens = np.asarray(tokens).reshape(-1)
    side = math.isqrt(tokens.size)
    if not np.isin(tokens, (1, 2)).all():
        return None
    return (tokens - 1).astype(np.uint8).reshape(side, side)


class FlipTask(Task):
    name = "flip"
    builds_from = "csv"
    generator_options = frozenset()

    def read(self, lines: Iterable[str], source: str) -> Iterator[Puzzle | PuzzleParseError]:
        for number, text in enumerate(lines, start=1):
            text = text.strip()
            if not text:
                continue
            side = math.isqrt(len(text))
            if side * side != len(text) or set(text) - set(CHARS):
                yield PuzzleParseError(f"expected a square grid of {CHARS} on one line",
                                       source, number)
                continue
            grid = np.array([CHARS.index(c) for c in text], dtype=np.uint8).reshape(side, side)
            yield Puzzle(self.name, grid, source, number, "line")

    def check_model(self, vocab_size: int, seq_len: int) -> None:
        side = math.isqrt(seq_len)
        if vocab_size != VOCAB or side * side != seq_len:
            raise IncompatibleModelError(f"a flip model has {VOCAB} token ids and a square "
                                         "grid of tokens")

    def model_shape(self, puzzle: Puzzle) -> tuple[int, int]:
        return puzzle.grid.size, VOCAB

    def encode(self, puzzle: Puzzle, seq_len: int) -> np.ndarray:
        if puzzle.grid.size != seq_len:
            raise PuzzleParseError(f"this model takes {seq_len} cells", puzzle.source,
                                   puzzle.line)
        return encode(puzzle.grid)

    def decode(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray | None:
        return decode(tokens)

    def verify(self, puzzle: Puzzle, answer: np.ndarray | None) -> bool:
        return answer is not None and bool(np.array_equal(answer, 1 - puzzle.grid))

    def bad_cells(self, puzzle: Puzzle, answer: np.ndarray | None) -> np.ndarray | None:
        return None if answer is None else answer != 1 - puzzle.grid

    def format(self, grid: np.ndarray, layout: str) -> str:
        rows = ["".join(CHARS[int(cell)] for cell in row) for row in grid]
        return "\n".join(rows) if layout == "grid" else "".join(rows)

    def render_rich(self, puzzle: Puzzle, answer: np.ndarray | None) -> Text:
        return Text(self.format(puzzle.grid if answer is None else answer, "grid"))

    def split_decoder(self, folder: Path, split: str) -> Callable[[np.ndarray], np.ndarray]:
        return decode

    def reads_csv(self, question: str) -> bool:
        return set(question) <= set(CHARS)

    def read_csv(self, path: Path) -> builders.CsvPuzzles:
        return builders.read_csv_grids(path, CHARS)

    def build_split(self, data: builders.CsvPuzzles, aug: int, rng: np.random.RandomState, *,
                    subsample: int | None = None, min_rating: int | None = None,
                    progress: Callable[[int], None] | None = None, **options: Any
                    ) -> tuple[Any, dict[str, Any]]:
        return builders.build_plain_split(data, encode, VOCAB, rng, subsample, min_rating,
                                          progress)

    def generate(self, count: int, seed: int, size: int | None, workers: int,
                 **options: Any) -> Iterator[CsvRow]:
        rng = np.random.RandomState(seed)
        side = size or 4
        for _ in range(count):
            grid = rng.randint(0, 2, size=(side, side))
            yield (f"flip{side}-seed{seed}", self.format(grid, "line"),
                   self.format(1 - grid, "line"), 0)
