"""The board of a task without one of its own: cell values as characters, coloured by
confidence, with the usual marks."""

from __future__ import annotations

import numpy as np
from rich.text import Text

from hrm.datasets.tasks import Puzzle
from hrm_cli.tui.paint import (
    BAD,
    Layout,
    Lines,
    cell_confidence,
    changed_item,
    confidence_colour,
    confidence_item,
    marks,
)
from hrm_cli.tui.trace import Segment

_CHARS = "0123456789abcdefghijklmnopqrstuvwxyz"


def grid_lines(puzzle: Puzzle, segment: Segment | None, width: int) -> Lines:
    grid = puzzle.grid if segment is None or segment.answer is None else segment.answer
    lines: Lines = []
    for r, row in enumerate(np.asarray(grid)):
        line = Text()
        for c, value in enumerate(row):
            char = _CHARS[int(value)] if 0 <= int(value) < len(_CHARS) else "?"
            style = "dim" if segment is None else confidence_colour(
                cell_confidence(segment, r, c))
            line.append(char.ljust(width), style=marks(segment, r, c, style))
        lines.append(line)
    return lines


class GridBoard:
    def layouts(self, puzzle: Puzzle, segment: Segment | None) -> list[Layout]:
        return [("2 chars/cell", lambda: grid_lines(puzzle, segment, 2)),
                ("1 char/cell", lambda: grid_lines(puzzle, segment, 1))]

    def legend(self, puzzle: Puzzle) -> list[Text]:
        return [confidence_item(), changed_item(), Text.assemble(("  ", BAD), " wrong")]


BOARD = GridBoard()
