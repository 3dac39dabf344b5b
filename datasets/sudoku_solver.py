"""A constraint-propagating depth-first Sudoku solver for any n = k*k grid.

It serves three purposes: checking that a puzzle has exactly one solution, producing the
difficulty rating (how many dead ends a depth-first search meets before the solution, like
the tdoku backtrack count of the published Sudoku-Extreme set), and filling random grids.

Candidates are bit masks: bit d-1 set means digit d is still possible in that cell.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Cells, units and peers of an n x n board with k x k boxes."""

    n: int
    box: int
    full: int
    units_of: tuple[tuple[tuple[int, ...], ...], ...]
    peers: tuple[tuple[int, ...], ...]


@cache
def geometry(n: int) -> Geometry:
    box = math.isqrt(n)
    if box * box != n:
        raise ValueError(f"sudoku size must be a square (4, 9, 16), got {n}")
    rows = [tuple(r * n + c for c in range(n)) for r in range(n)]
    cols = [tuple(r * n + c for r in range(n)) for c in range(n)]
    boxes = [
        tuple((br + r) * n + bc + c for r in range(box) for c in range(box))
        for br in range(0, n, box)
        for bc in range(0, n, box)
    ]
    units_of = []
    peers = []
    for cell in range(n * n):
        r, c = divmod(cell, n)
        units = (rows[r], cols[c], boxes[(r // box) * box + c // box])
        units_of.append(units)
        peers.append(tuple(sorted({p for u in units for p in u} - {cell})))
    return Geometry(n, box, (1 << n) - 1, tuple(units_of), tuple(peers))


class _Search:
    def __init__(self, geo: Geometry, max_solutions: int, rng: random.Random | None):
        self.geo = geo
        self.max_solutions = max_solutions
        self.rng = rng
        self.solutions: list[list[int]] = []
        self.dead_ends = 0

    def propagate(self, cand: list[int], queue: list[tuple[int, int]]) -> bool:
        """Remove digits from cells until nothing more follows; False on a contradiction.

        Two rules: a cell with one candidate removes it from its peers (naked single), and a
        digit with one place left in a unit goes there (hidden single).
        """
        peers, units_of = self.geo.peers, self.geo.units_of
        while queue:
            cell, remove = queue.pop()
            mask = cand[cell]
            remove &= mask
            if not remove:
                continue
            mask ^= remove
            if not mask:
                return False
            cand[cell] = mask
            if not mask & (mask - 1):
                for p in peers[cell]:
                    if cand[p] & mask:
                        queue.append((p, mask))
            for unit in units_of[cell]:
                digits = remove
                while digits:
                    bit = digits & -digits
                    digits ^= bit
                    place = -1
                    for u in unit:
                        if cand[u] & bit:
                            if place >= 0:
                                break
                            place = u
                    else:
                        if place < 0:
                            return False
                        if cand[place] != bit:
                            queue.append((place, cand[place] ^ bit))
        return True

    def run(self, cand: list[int]) -> bool:
        """Depth-first search; True once enough solutions are found."""
        best, best_count = -1, 99
        for cell, mask in enumerate(cand):
            if mask & (mask - 1):
                count = mask.bit_count()
                if count < best_count:
                    best, best_count = cell, count
                    if count == 2:
                        break
        if best < 0:
            self.solutions.append(cand)
            return len(self.solutions) >= self.max_solutions
        mask = cand[best]
        bits = []
        while mask:
            bit = mask & -mask
            mask ^= bit
            bits.append(bit)
        if self.rng is not None:
            self.rng.shuffle(bits)
        for bit in bits:
            trial = cand.copy()
            if self.propagate(trial, [(best, trial[best] ^ bit)]):
                if self.run(trial):
                    return True
            else:
                self.dead_ends += 1
        return False


@dataclass
class SolveResult:
    solutions: list[np.ndarray]
    dead_ends: int


def solve(
    grid: np.ndarray, max_solutions: int = 1, rng: random.Random | None = None
) -> SolveResult:
    """Solve `grid` (n x n, 0 = blank), stopping after `max_solutions` solutions.

    `dead_ends` counts guesses that led straight to a contradiction before the search
    stopped: with `max_solutions=1` it is the puzzle's rating.
    """
    n = grid.shape[0]
    geo = geometry(n)
    search = _Search(geo, max_solutions, rng)
    cand = [geo.full] * (n * n)
    queue = [(cell, geo.full ^ (1 << (int(v) - 1))) for cell, v in enumerate(grid.flat) if v]
    if search.propagate(cand, queue):
        search.run(cand)
    solutions = [
        np.array([m.bit_length() for m in sol], dtype=np.uint8).reshape(n, n)
        for sol in search.solutions
    ]
    return SolveResult(solutions, search.dead_ends)


def count_solutions(grid: np.ndarray, limit: int = 2) -> int:
    return len(solve(grid, max_solutions=limit).solutions)


def has_unique_solution(grid: np.ndarray) -> bool:
    return count_solutions(grid, limit=2) == 1


def rating(grid: np.ndarray) -> int:
    """Dead ends met by the depth-first solver before it finds the solution."""
    return solve(grid, max_solutions=1).dead_ends


def random_solution(n: int, rng: random.Random) -> np.ndarray:
    """A uniformly shuffled search over empty boards: a random complete valid grid."""
    result = solve(np.zeros((n, n), dtype=np.uint8), max_solutions=1, rng=rng)
    return result.solutions[0]
