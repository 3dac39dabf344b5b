"""Offline maze generator in the layout of the published Maze-Hard set.

Walls are scattered at random (density drawn per maze), as in the instance generator the
original data came from; mazes are kept only when the shortest S-G path is long enough.
To make long paths likely, S is put at the far end of the open region (the farthest cell
from a random open cell) and G at random among the cells far enough from S.

Path length counts the cells marked `o` on the shortest path (S and G excluded), as the
`rating` column of the CSV records it. Every maze has its own random stream derived from
(size, seed, index), so the output does not depend on the number of workers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hrm.datasets import maze
from hrm.datasets.workers import ordered_map

HARD_MIN_PATH = 110  # Maze-Hard: shortest path longer than 110


@dataclass(frozen=True)
class MazeSettings:
    size: int = 30
    min_path: int = 0  # keep mazes whose path has more than `min_path` cells
    wall_density: tuple[float, float] = (0.38, 0.42)


@dataclass
class GeneratedMaze:
    puzzle: np.ndarray
    solution: np.ndarray
    path_cells: int
    index: int


def _rng_for(seed: int, index: int, size: int) -> np.random.Generator:
    digest = hashlib.sha256(f"hrm-maze:{size}:{seed}:{index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _attempt(rng: np.random.Generator, settings: MazeSettings) -> GeneratedMaze | None:
    n = settings.size
    density = rng.uniform(*settings.wall_density)
    grid = np.where(rng.random((n, n)) < density, maze.WALL, maze.OPEN).astype(np.uint8)
    open_cells = np.argwhere(grid == maze.OPEN)
    if len(open_cells) < 2:
        return None
    probe = tuple(open_cells[rng.integers(len(open_cells))])
    from_probe = maze.distances(grid, probe)
    # path cells = moves - 1, so "more than min_path cells" means moves >= min_path + 2
    needed = max(settings.min_path + 2, 2)
    if 2 * int(from_probe.max()) < needed:
        # No two cells of the probe's region are further apart than twice its eccentricity;
        # skipping the second search draws nothing from rng, so the output is unchanged.
        return None
    start = np.unravel_index(np.argmax(from_probe), grid.shape)
    from_start = maze.distances(grid, start)
    far = np.argwhere(from_start >= needed)
    if len(far) == 0:
        return None
    goal = tuple(far[rng.integers(len(far))])
    grid[start] = maze.START
    grid[goal] = maze.GOAL
    solution = maze.solve(grid)
    assert solution is not None
    return GeneratedMaze(grid, solution, maze.path_cells(solution), -1)


def generate_one(index: int, seed: int, settings: MazeSettings) -> GeneratedMaze:
    if not 2 <= settings.size <= maze.MAX_SIZE:
        raise ValueError(f"maze size must be 2..{maze.MAX_SIZE}, got {settings.size}")
    if settings.min_path >= settings.size * settings.size // 2:
        raise ValueError(
            f"a path of more than {settings.min_path} cells cannot fit a "
            f"{settings.size}x{settings.size} maze"
        )
    rng = _rng_for(seed, index, settings.size)
    while True:
        result = _attempt(rng, settings)
        if result is not None:
            result.index = index
            return result


def _generate_chunk(args: tuple[int, int, int, MazeSettings]) -> list[GeneratedMaze]:
    start, stop, seed, settings = args
    return [generate_one(i, seed, settings) for i in range(start, stop)]


def generate(
    count: int, seed: int = 0, settings: MazeSettings | None = None, workers: int = 1
) -> Iterator[GeneratedMaze]:
    """Yield `count` mazes in index order, computed by `workers` processes."""
    settings = settings or MazeSettings()
    if workers <= 1:
        for index in range(count):
            yield generate_one(index, seed, settings)
        return
    jobs = [(s, min(s + 16, count), seed, settings) for s in range(0, count, 16)]
    for batch in ordered_map(_generate_chunk, jobs, workers):
        yield from batch
