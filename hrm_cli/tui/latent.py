"""The latent view of the board (key `v`): the answer beside a heat map of the latent state.

Each cell of the heat map shows how far that cell's latent state z_L (HRM's low level,
TRM's z) moved in the shown segment: the root mean square of the change over its features,
on a log scale. The states are RMS-normalised, so 1 means the cell was rewritten and 0.001
that it has settled. A board that goes dark has reached a fixed point: more segments will
not change its answer. Activity that lingers marks where the model is still working, such
as the front of a maze path growing one stretch per segment.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rich.text import Text

from hrm.datasets.tasks import Puzzle
from hrm_cli.tui.paint import Layout, Lines, half_blocks, side_by_side
from hrm_cli.tui.trace import Segment

# (lowest change, colour), largest first: each band is about half a decade.
HEAT = ((0.3, "#ffffd7"), (0.1, "#ffd75f"), (0.03, "#ff8700"), (0.01, "#d7005f"),
        (0.003, "#87005f"), (0.001, "#5f005f"), (0.0, "#262626"))
UNRECORDED = "#121212"


def heat_colour(change: float) -> str:
    return next(colour for floor, colour in HEAT if change >= floor)


def heat_lines(shape: tuple[int, int], change: np.ndarray | None, width: int | None) -> Lines:
    """The heat map of a grid of `shape`: `width` characters per cell, or with None two
    cells per character. Without a recorded change (no segment yet) every cell is dark."""
    def colour(r: int, c: int) -> str:
        return UNRECORDED if change is None else heat_colour(float(change[r, c]))

    if width is None:
        return half_blocks(shape, colour)
    h, w = shape
    return [Text.assemble(*((" " * width, f"on {colour(r, c)}") for c in range(w)))
            for r in range(h)]


def latent_layouts(layouts: list[Layout], puzzle: Puzzle,
                   segment: Segment | None) -> list[Layout]:
    """Each of the task's layouts with the heat map beside it, drawn at the same scale (two
    cells per character beside a half-block board, else 1 or 2 characters per cell), then
    the heat map alone, for boards too large to show twice."""
    change = None if segment is None else segment.latent_change
    shape = puzzle.grid.shape if change is None else change.shape

    def beside(paint: Callable[[], Lines]) -> Lines:
        answer = paint()
        if len(answer) < shape[0]:
            width = None
        else:
            width = 2 if max(line.cell_len for line in answer) >= 2 * shape[1] else 1
        return side_by_side([("answer", answer),
                             ("latent change", heat_lines(shape, change, width))])

    return [*((f"{name} + latent", lambda paint=paint: beside(paint)) for name, paint in layouts),
            ("latent only", lambda: heat_lines(shape, change, None))]


def latent_legend() -> list[Text]:
    """The legend entries of the heat map."""
    swatches = Text.assemble(*(("■", colour) for _, colour in HEAT))
    return [Text.assemble(swatches, " latent moving→still")]


__all__ = ["HEAT", "heat_colour", "heat_lines", "latent_layouts", "latent_legend"]
