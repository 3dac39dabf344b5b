"""Mazes of any height and width, in two kinds, for models that are not tied to one size.

- "walls": walls scattered at random, as the published Maze-Hard set (and
  `maze_generator`, which makes square ones in that set's exact layout);
- "corridors": one-cell corridors carved by a randomised depth-first search, then a
  fraction of the remaining walls knocked out so that there are loops and ties.

A model trained on one kind can learn that kind's habits rather than the task; evaluating
on both shows whether it did. In both kinds S and G are placed far apart: S at the far
end of the open region (the farthest cell from a random open cell), G at random among the
cells at least `min_path + 2` moves from S (the path has more than `min_path` cells).
"""

from __future__ import annotations

import hashlib

import numpy as np

from hrm.datasets import maze

KINDS = ("walls", "corridors")


def rng_for(kind: str, height: int, width: int, seed: int, index: int) -> np.random.Generator:
    """The random stream of one maze: independent of how many are made, or by whom."""
    digest = hashlib.sha256(f"hrm-maze-{kind}:{height}x{width}:{seed}:{index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _walls(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    density = rng.uniform(0.30, 0.42)
    return np.where(rng.random((height, width)) < density, maze.WALL, maze.OPEN).astype(np.uint8)


def _corridors(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    grid = np.full((height, width), maze.WALL, dtype=np.uint8)
    rooms_r, rooms_c = (height + 1) // 2, (width + 1) // 2
    seen = np.zeros((rooms_r, rooms_c), dtype=bool)
    start = (int(rng.integers(rooms_r)), int(rng.integers(rooms_c)))
    seen[start] = True
    grid[2 * start[0], 2 * start[1]] = maze.OPEN
    stack = [start]
    while stack:
        r, c = stack[-1]
        options = [(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                   if 0 <= r + dr < rooms_r and 0 <= c + dc < rooms_c and not seen[r + dr, c + dc]]
        if not options:
            stack.pop()
            continue
        nr, nc = options[int(rng.integers(len(options)))]
        seen[nr, nc] = True
        grid[2 * nr, 2 * nc] = maze.OPEN
        grid[r + nr, c + nc] = maze.OPEN  # the wall between the two rooms
        stack.append((nr, nc))
    # Knock out some walls: loops, several shortest paths, open patches.
    knock = rng.uniform(0.0, 0.15)
    walls = grid == maze.WALL
    grid[walls & (rng.random(grid.shape) < knock)] = maze.OPEN
    return grid


def _place(rng: np.random.Generator, grid: np.ndarray, min_path: int,
           farthest: bool) -> np.ndarray | None:
    open_cells = np.argwhere(grid == maze.OPEN)
    if len(open_cells) < 2:
        return None
    probe = tuple(open_cells[rng.integers(len(open_cells))])
    start = np.unravel_index(np.argmax(maze.distances(grid, probe)), grid.shape)
    distance = maze.distances(grid, start)
    reach = max(min_path + 2, 2)  # moves from S to G: path cells + 1
    if farthest:
        reach = max(reach, int(distance.max()))
    far = np.argwhere(distance >= reach)
    if len(far) == 0:
        return None
    goal = tuple(far[rng.integers(len(far))])
    grid = grid.copy()
    grid[start] = maze.START
    grid[goal] = maze.GOAL
    return grid


def make(kind: str, height: int, width: int, seed: int, index: int,
         min_path: int = 0, tries: int = 1000,
         farthest: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(puzzle, answer) of maze `index`; the answer marks one shortest path (`maze.solve`).

    `farthest` puts G among the cells farthest from S: the longest path the draft allows.
    ValueError when `tries` drafts give no path of more than `min_path` cells."""
    if kind not in KINDS:
        raise ValueError(f"maze kind must be one of {KINDS}, got {kind!r}")
    if height < 2 or width < 2:
        raise ValueError(f"a maze needs at least 2x2 cells, got {height}x{width}")
    rng = rng_for(kind, height, width, seed, index)
    draft = _walls if kind == "walls" else _corridors
    for _ in range(tries):
        puzzle = _place(rng, draft(rng, height, width), min_path, farthest)
        if puzzle is not None:
            answer = maze.solve(puzzle)
            assert answer is not None
            return puzzle, answer
    raise ValueError(f"no {height}x{width} {kind} maze with a path of more than {min_path} "
                     f"cells in {tries} tries")
