"""Mazes as a task: grids up to 30x30 of `# SGo`, tokens 1..5; the answer marks a
shortest path from S to G."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hrm.datasets import builders, maze
from hrm.datasets.dihedral import dihedral_transform, inverse_dihedral_transform
from hrm.datasets.errors import PuzzleParseError
from hrm.datasets.format import load_maze_size
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

MAZE_VOCAB = maze.VOCAB_SIZE
# The alias `hrm models pull` knows for the original release's 30x30 Maze-Hard model.
LARGE_MAZE_MODEL = "hrm-maze-30x30-hard"


class MazeTask(Task):
    name = "maze"

    def read(self, lines: Iterable[str], source: str) -> Iterator[Puzzle | PuzzleParseError]:
        return self.as_puzzles(maze.iter_puzzles(lines, source))

    def check_model(self, vocab_size: int, seq_len: int) -> None:
        side = math.isqrt(seq_len)
        if side * side != seq_len or side > maze.MAX_SIZE:
            raise IncompatibleModelError(
                f"the model takes {seq_len} tokens; a maze model takes a square canvas of at "
                f"most {maze.MAX_SIZE}x{maze.MAX_SIZE} ({maze.MAX_SIZE ** 2} tokens)"
            )
        if vocab_size != MAZE_VOCAB:
            raise IncompatibleModelError(
                f"the model has {vocab_size} token ids; a maze model has {MAZE_VOCAB} "
                "(pad and '# SGo')"
            )

    def model_shape(self, puzzle: Puzzle) -> tuple[int, int]:
        return maze.CANVAS * maze.CANVAS, MAZE_VOCAB

    def encode(self, puzzle: Puzzle, seq_len: int) -> np.ndarray:
        # A smaller maze sits in the corner of the model's canvas, surrounded by walls, so
        # the 30x30 Maze-Hard model also runs on small mazes.
        canvas = math.isqrt(seq_len)
        h, w = puzzle.grid.shape
        if h > canvas or w > canvas:
            # A small-canvas attention model: say where a 30x30 one is.
            hint = (f"; mazes up to {maze.CANVAS}x{maze.CANVAS} need a model such as "
                    f"{LARGE_MAZE_MODEL} (`hrm models pull {LARGE_MAZE_MODEL}`)"
                    if canvas < maze.CANVAS else "")
            raise PuzzleParseError(
                f"a {h}x{w} maze does not fit this model's {canvas}x{canvas} canvas{hint}",
                puzzle.source, puzzle.line,
            )
        return maze.encode(puzzle.grid, canvas=canvas)

    def encode_grid(self, puzzle: Puzzle) -> np.ndarray:
        # Models of any size see the maze as it is; token 0 (pad) squares it off, and
        # such models hold padded cells at zero, so the padding never changes the answer.
        h, w = puzzle.grid.shape
        tokens = np.zeros((max(h, w), max(h, w)), dtype=np.uint8)
        tokens[:h, :w] = puzzle.grid + 1
        return tokens

    def decode(self, tokens: np.ndarray, puzzle: Puzzle) -> np.ndarray:
        return maze.decode(tokens, shape=tuple(puzzle.grid.shape))

    def verify(self, puzzle: Puzzle, answer: np.ndarray | None) -> bool:
        return answer is not None and maze.verify(puzzle.grid, answer)

    def unsolvable(self, puzzle: Puzzle) -> str | None:
        if maze.shortest_path_length(puzzle.grid) is None:
            return "walls separate S from G (no path)"
        return None

    def variant(self, puzzle: Puzzle, attempt: int
                ) -> tuple[Puzzle, Callable[[np.ndarray], np.ndarray]] | None:
        # The other symmetries of the square, in the original's numbering; a rectangular
        # maze keeps only those that keep its shape (180 degrees and the two flips).
        square = puzzle.grid.shape[0] == puzzle.grid.shape[1]
        symmetries = range(1, 8) if square else (2, 4, 5)
        if attempt > len(symmetries):
            return None
        tid = symmetries[attempt - 1]
        grid = np.ascontiguousarray(dihedral_transform(puzzle.grid, tid))

        def back(answer: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(inverse_dihedral_transform(answer, tid))

        return replace(puzzle, grid=grid, expected=None), back

    def bad_cells(self, puzzle: Puzzle, answer: np.ndarray | None) -> np.ndarray | None:
        if answer is None:
            return None
        # path_breaks covers moved walls/S/G and broken path chains; an open cell may only
        # stay open or become path.
        opened = (puzzle.grid == maze.OPEN) & ~np.isin(answer, (maze.OPEN, maze.PATH))
        return maze.path_breaks(puzzle.grid, answer) | opened

    def format(self, grid: np.ndarray, layout: str) -> str:
        return maze.format_grid(grid) if layout == "grid" else maze.format_line(grid)

    def render_rich(self, puzzle: Puzzle, answer: np.ndarray | None) -> Text:
        grid = puzzle.grid if answer is None else answer
        return maze.render_rich(grid, bad_cells=self.bad_cells(puzzle, answer))

    # ----------------------------------------------------------------- the rest of the task

    several_answers = True  # another shortest path is as right as the label's
    recipe = PUZZLE_RECIPE
    architecture_recipes: Mapping[str, Mapping[str, Any]] = {
        "trm": PUZZLE_TRM_RECIPE, "trm-mlp": PUZZLE_TRM_RECIPE}
    standard_data = StandardData(
        "Maze-Hard: 1,000 training and 1,000 test mazes of 30x30, as in the paper",
        ("maze-30x30-hard-1k",), aug=0, seed=0,
        offline="generate mazes offline: `hrm datasets generate maze --count 1000 --min-path "
        "110 --out maze-train.csv && hrm datasets generate maze --count 1000 --min-path 110 "
        "--seed 1 --out maze-test.csv && hrm datasets build maze-train.csv --test "
        "maze-test.csv --out data/maze && hrm train maze --data data/maze`")
    builds_from = "csv"
    release_seq_len = maze.CANVAS * maze.CANVAS
    build_options = frozenset({"subsample", "min_rating", "canvas"})
    max_aug = 7  # the dihedral group: 7 transforms besides the identity
    generator_options = frozenset({"min_path"})

    def fits_dataset(self, vocab_size: int, seq_len: int) -> bool:
        side = math.isqrt(seq_len)
        return vocab_size == MAZE_VOCAB and side * side == seq_len \
            and 2 <= side <= maze.MAX_SIZE

    def bundle_tokens(self, vocab_size: int, seq_len: int) -> dict[str, Any]:
        return {"tokens": {"pad": 0, **{ch: i + 1 for i, ch in enumerate(maze.CHARSET)}},
                "size": math.isqrt(seq_len)}

    def accepts_other(self, inputs: np.ndarray, labels: np.ndarray,
                      predictions: np.ndarray) -> np.ndarray:
        path = maze.PATH + 1  # token ids are cell codes + 1
        # Cheap necessary conditions first: as many path cells as the label, every other
        # cell copied from the maze. Only the survivors pay for a BFS.
        same_length = (predictions == path).sum(-1) == (labels == path).sum(-1)
        copied = ((predictions == inputs) | (predictions == path)).all(-1)
        found = np.zeros(len(predictions), dtype=bool)
        for row in np.flatnonzero(same_length & copied):
            found[row] = maze.verify(maze.decode(inputs[row]), maze.decode(predictions[row]))
        return found

    def split_decoder(self, folder: Path, split: str) -> Callable[[np.ndarray], np.ndarray]:
        # Mazes padded into a larger canvas are cropped back: a retry turns the maze itself,
        # as `hrm solve` does, not the canvas (which would move it out of its corner).
        return partial(maze.decode, shape=load_maze_size(folder, split))

    def free_cells(self, puzzle: Puzzle, answer: np.ndarray | None) -> np.ndarray | None:
        if answer is None or puzzle.grid.shape != answer.shape:
            return super().free_cells(puzzle, answer)
        return puzzle.grid == maze.OPEN  # walls, S and G are copied almost surely

    def reads_csv(self, question: str) -> bool:
        return set(question) <= set(maze.CHARSET)

    def read_csv(self, path: Path) -> CsvPuzzles:
        return builders.read_maze_csv(path)

    def build_split(self, data: CsvPuzzles, aug: int, rng: np.random.RandomState, *,
                    subsample: int | None = None, min_rating: int | None = None,
                    progress: Callable[[int], None] | None = None, **options: Any
                    ) -> tuple[DatasetMetadata, dict[str, PuzzleSet]]:
        return builders.build_maze_split(data, aug, rng, subsample, min_rating, progress,
                                         **options)

    def generate(self, count: int, seed: int, size: int | None, workers: int, *,
                 min_path: int = 0) -> Iterator[CsvRow]:
        from hrm.datasets.maze_generator import MazeSettings, generate

        size = size or 30
        if not 2 <= size <= maze.MAX_SIZE:
            raise GeneratorOptionError(f"maze --size must be 2..{maze.MAX_SIZE}", "--size")
        settings = MazeSettings(size=size, min_path=min_path)
        return self._rows(generate(count, seed, settings, workers), f"hrm-maze{size}-seed{seed}")

    @staticmethod
    def _rows(items: Iterator[Any], source: str) -> Iterator[CsvRow]:
        try:
            for item in items:
                yield (source, maze.format_line(item.puzzle), maze.format_line(item.solution),
                       item.path_cells)
        except ValueError as exc:  # settings no maze of this size can meet
            raise GeneratorOptionError(str(exc)) from None
