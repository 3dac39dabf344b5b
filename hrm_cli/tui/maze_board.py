"""The maze board: walls, S, G and the path, at two widths or two cells per character."""

from __future__ import annotations

import numpy as np
from rich.text import Text

from hrm.datasets import maze
from hrm.datasets.tasks import Puzzle
from hrm_cli.tui.paint import (
    BAD,
    WRONG,
    Layout,
    Lines,
    cell_confidence,
    changed_item,
    confidence_colour,
    confidence_item,
    half_blocks,
    marks,
)
from hrm_cli.tui.trace import Segment

_MAZE_CELLS = {  # code -> (glyph, style); the glyph is repeated to the cell width
    maze.WALL: ("█", "#6c6c6c"),
    maze.OPEN: (" ", ""),
    maze.START: ("S", "bold #000000 on #5fd75f"),
    maze.GOAL: ("G", "bold #000000 on #5fafff"),
}
_MAZE_PIXELS = {maze.WALL: "#6c6c6c", maze.OPEN: "#000000", maze.START: "#5fd75f",
                maze.GOAL: "#5fafff"}


def _maze_grid(puzzle: Puzzle, segment: Segment | None) -> np.ndarray:
    return puzzle.grid if segment is None or segment.answer is None else segment.answer


def maze_lines(puzzle: Puzzle, segment: Segment | None, width: int) -> Lines:
    """`width` characters per cell. Path cells are dots coloured by confidence; an open
    cell the model nearly made path (under 50% sure it is open) gets a faint dot."""
    grid = _maze_grid(puzzle, segment)
    lines: Lines = []
    for r, row in enumerate(grid):
        line = Text()
        for c, value in enumerate(row):
            value = int(value)
            p = cell_confidence(segment, r, c)
            if value == maze.PATH:
                glyph, style = "•" * width, f"bold {confidence_colour(p)}"
            elif value == maze.OPEN and p < 0.5:
                glyph, style = "·" * width, confidence_colour(p)
            else:
                char, style = _MAZE_CELLS[value]
                # S and G keep one letter; a wide cell pads it, walls fill it.
                glyph = char * width if value in (maze.WALL, maze.OPEN) else char.ljust(width)
            line.append(glyph, style=marks(segment, r, c, style))
        lines.append(line)
    return lines


def _maze_pixel(grid: np.ndarray, segment: Segment | None, r: int, c: int) -> str:
    if segment is not None and segment.bad is not None and segment.bad[r, c]:
        return "#c00000"
    value = int(grid[r, c])
    if value == maze.PATH:
        return confidence_colour(cell_confidence(segment, r, c))
    if segment is not None and segment.wrong is not None and segment.wrong[r, c]:
        return "#875faf"  # on the known path, not on the model's
    return _MAZE_PIXELS[value]


def maze_fit_lines(puzzle: Puzzle, segment: Segment | None) -> Lines:
    grid = _maze_grid(puzzle, segment)
    return half_blocks(grid.shape, lambda r, c: _maze_pixel(grid, segment, r, c))


class MazeBoard:
    def layouts(self, puzzle: Puzzle, segment: Segment | None) -> list[Layout]:
        return [("2 chars/cell", lambda: maze_lines(puzzle, segment, 2)),
                ("1 char/cell", lambda: maze_lines(puzzle, segment, 1)),
                ("2 cells/char", lambda: maze_fit_lines(puzzle, segment))]

    def legend(self, puzzle: Puzzle) -> list[Text]:
        items = [Text.assemble(("•", "bold"), " path"), confidence_item(), changed_item(),
                 Text.assemble(("  ", BAD), " path broken")]
        if puzzle.expected is not None:
            items.append(Text.assemble(("  ", WRONG), " ≠ known path"))
        return items


BOARD = MazeBoard()
