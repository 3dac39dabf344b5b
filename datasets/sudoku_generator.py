"""Offline Sudoku generator: unique-solution puzzles with a difficulty rating.

Each puzzle starts from a random complete grid whose clues are removed in random order
while the solution stays unique (giving a minimal puzzle, or stopping at `clues`). Random
minimal puzzles are mostly easy (about half have rating 0 for 9x9), so when a minimum
rating is asked for, the puzzle is then improved by a local search: swap a few clues for
other cells of the same solution, re-minimise, keep the change if the rating did not drop.

Every puzzle has its own random stream derived from (size, seed, index), so the output is
the same whatever the number of worker processes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hrm.datasets.sudoku_solver import has_unique_solution, random_solution, rating
from hrm.datasets.workers import ordered_map

CLIMB_STEPS_PER_RESTART = 3000


@dataclass(frozen=True)
class GeneratorSettings:
    size: int = 9
    clues: int | None = None  # stop removing clues at this count; None: minimal puzzles
    min_rating: int = 0
    max_rating: int | None = None


@dataclass
class GeneratedSudoku:
    puzzle: np.ndarray
    solution: np.ndarray
    rating: int
    index: int

    @property
    def clues(self) -> int:
        return int(np.count_nonzero(self.puzzle))


def _remove_clues(grid: np.ndarray, rng: random.Random, stop_at: int | None = None) -> np.ndarray:
    """Blank clues in random order as long as the solution stays unique."""
    flat = grid.reshape(-1)
    cells = [int(c) for c in np.flatnonzero(flat)]
    rng.shuffle(cells)
    for cell in cells:
        if stop_at is not None and np.count_nonzero(flat) <= stop_at:
            break
        value = flat[cell]
        flat[cell] = 0
        if not has_unique_solution(grid):
            flat[cell] = value
    return grid


def _mutate(
    puzzle: np.ndarray, solution: np.ndarray, rng: random.Random, settings: GeneratorSettings
) -> np.ndarray | None:
    candidate = puzzle.copy()
    flat, answer = candidate.reshape(-1), solution.reshape(-1)
    clues = [int(c) for c in np.flatnonzero(flat)]
    blanks = [int(c) for c in np.flatnonzero(flat == 0)]
    for cell in rng.sample(clues, min(len(clues), rng.choice((1, 2)))):
        flat[cell] = 0
    for cell in rng.sample(blanks, min(len(blanks), rng.choice((1, 2, 3)))):
        flat[cell] = answer[cell]
    if not has_unique_solution(candidate):
        return None
    return _remove_clues(candidate, rng, settings.clues)


def _in_range(value: int, settings: GeneratorSettings) -> bool:
    return value >= settings.min_rating and (
        settings.max_rating is None or value <= settings.max_rating
    )


def generate_one(index: int, seed: int, settings: GeneratorSettings) -> GeneratedSudoku:
    """The `index`-th puzzle of the stream for `seed`; deterministic."""
    rng = random.Random(f"hrm-sudoku:{settings.size}:{seed}:{index}")
    while True:
        solution = random_solution(settings.size, rng)
        puzzle = _remove_clues(solution.copy(), rng, settings.clues)
        score = rating(puzzle)
        steps = 0
        while score < settings.min_rating and steps < CLIMB_STEPS_PER_RESTART:
            steps += 1
            candidate = _mutate(puzzle, solution, rng, settings)
            if candidate is None:
                continue
            candidate_score = rating(candidate)
            if candidate_score >= score:
                puzzle, score = candidate, candidate_score
        if _in_range(score, settings):
            return GeneratedSudoku(puzzle, solution, score, index)


def _generate_chunk(args: tuple[int, int, int, GeneratorSettings]) -> list[GeneratedSudoku]:
    start, stop, seed, settings = args
    return [generate_one(i, seed, settings) for i in range(start, stop)]


def generate(
    count: int, seed: int = 0, settings: GeneratorSettings | None = None, workers: int = 1
) -> Iterator[GeneratedSudoku]:
    """Yield `count` puzzles in index order, computed by `workers` processes."""
    settings = settings or GeneratorSettings()
    if settings.size not in (4, 9, 16):
        raise ValueError(f"sudoku size must be 4, 9 or 16, got {settings.size}")
    if workers <= 1:
        for index in range(count):
            yield generate_one(index, seed, settings)
        return
    chunk = 8
    jobs = [(s, min(s + chunk, count), seed, settings) for s in range(0, count, chunk)]
    for batch in ordered_map(_generate_chunk, jobs, workers):
        yield from batch
