"""The 8 symmetries of the square, numbered as in the original release."""

from __future__ import annotations

import numpy as np

# DIHEDRAL_INVERSE[t] undoes transform t (rotations by 90 and 270 degrees swap).
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)


def dihedral_transform(grid: np.ndarray, tid: int) -> np.ndarray:
    """Apply symmetry `tid` (0 identity, 1-3 rotations by 90/180/270 degrees, 4 left-right
    flip, 5 up-down flip, 6 transpose, 7 anti-transpose) to a 2-D grid."""
    if tid == 0:
        return grid
    if tid in (1, 2, 3):
        return np.rot90(grid, k=tid)
    if tid == 4:
        return np.fliplr(grid)
    if tid == 5:
        return np.flipud(grid)
    if tid == 6:
        return grid.T
    if tid == 7:
        return np.fliplr(np.rot90(grid, k=1))
    raise ValueError(f"dihedral transform id must be 0..7, got {tid}")


def inverse_dihedral_transform(grid: np.ndarray, tid: int) -> np.ndarray:
    return dihedral_transform(grid, DIHEDRAL_INVERSE[tid])
