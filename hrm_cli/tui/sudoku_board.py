"""The sudoku board: digits in their boxes, three sizes."""

from __future__ import annotations

import math
from functools import partial

from rich.style import Style
from rich.text import Text

from hrm.datasets import sudoku
from hrm.datasets.tasks import Puzzle
from hrm_cli.tui.paint import (
    BAD,
    GIVEN,
    WRONG,
    Layout,
    Lines,
    cell_confidence,
    changed_item,
    confidence_colour,
    confidence_item,
    marks,
)
from hrm_cli.tui.trace import Segment

BOX_BG = "#262626"  # alternate sudoku boxes in the compact layout, which has no rules



def sudoku_lines(puzzle: Puzzle, segment: Segment | None, size: str) -> Lines:
    """`wide`: spaced digits and box rules (as `hrm solve` prints); `large`: tiles of 5x3
    characters whose background carries the marks; `compact`: one character per cell,
    boxes told apart by shading (a 16x16 board in 16x16 characters)."""
    grid = puzzle.grid if segment is None or segment.answer is None else segment.answer
    n = grid.shape[0]
    box = math.isqrt(n)
    givens = puzzle.grid > 0
    cell_w, cell_h = (5, 3) if size == "large" else (1, 1)
    gap, bar = {"compact": ("", ""), "wide": (" ", " │ "), "large": ("  ", "  │  ")}[size]
    box_w = box * cell_w + (box - 1) * len(gap)
    joint = bar.replace(" ", "─").replace("│", "┼")
    rule = Text(joint.join("─" * box_w for _ in range(box)), style="dim")
    spacer = Text(bar.join(" " * box_w for _ in range(box)), style="dim")
    lines: Lines = []
    for r in range(n):
        if size != "compact" and r and r % box == 0:
            lines.append(rule)
        elif size == "large" and r:
            lines.append(spacer)  # tiles apart, as the gap between columns sets them
        rows = [Text() for _ in range(cell_h)]
        for c in range(n):
            if c:
                for row in rows:
                    row.append(bar if c % box == 0 else gap, style="dim")
            value = int(grid[r, c])
            if givens[r, c]:
                style = GIVEN
            elif value == 0 or segment is None:
                style = "dim"
            else:
                style = confidence_colour(cell_confidence(segment, r, c))
            if size == "large" or (size == "compact" and (r // box + c // box) % 2):
                style = f"{style} on {BOX_BG}"  # tiles; or every other box when compact
            style = marks(segment, r, c, style)
            pad = Style.parse(style).background_style  # the block's background, no underline
            left = (cell_w - 1) // 2
            for i, row in enumerate(rows):
                if i == cell_h // 2:
                    row.append(" " * left, style=pad)
                    row.append(sudoku.cell_char(value), style=style)
                    row.append(" " * (cell_w - 1 - left), style=pad)
                else:
                    row.append(" " * cell_w, style=pad)
        lines.extend(rows)
    return lines


class SudokuBoard:
    def layouts(self, puzzle: Puzzle, segment: Segment | None) -> list[Layout]:
        return [(size, partial(sudoku_lines, puzzle, segment, size))
                for size in ("large", "wide", "compact")]

    def legend(self, puzzle: Puzzle) -> list[Text]:
        items = [Text.assemble(("5", GIVEN), " given"), confidence_item(), changed_item(),
                 Text.assemble(("  ", BAD), " rule broken")]
        if puzzle.expected is not None:
            items.append(Text.assemble(("5", WRONG), " ≠ known answer"))
        return items


BOARD = SudokuBoard()
